"""Workspaces own entities and apps, with credentials stored encrypted."""

from __future__ import annotations

import pytest
from pydantic import ValidationError
from sqlalchemy import func, select

from siyu.core.db import Database
from siyu.core.errors import Conflict, NotFound, SiyuError
from siyu.security.models import AuditEntry
from siyu.security.schemas import Principal
from siyu.workspaces import service
from siyu.workspaces.enums import AppKind, PushMode
from siyu.workspaces.models import App, Entity
from siyu.workspaces.schemas import AppCreate
from tests.support.names import MP_APPID


def test_app_with_entity_and_decryptable_credentials(db: Database, workspace_id: int) -> None:
    with db.session_scope() as session:
        created = service.add_app(
            session,
            workspace_id,
            AppCreate(
                kind=AppKind.oa_service,
                appid="wx1111111111111111",
                name="服务号",
                entity="示例教育",
                secret="appsecret",
                token="tok",
                aes_key="b" * 43,
            ),
        )
        service.add_app(
            session,
            workspace_id,
            AppCreate(kind=AppKind.mp, appid=MP_APPID, name="小程序", entity="示例教育"),
        )
    with db.session_scope() as session:
        credentials = service.get_app_credentials(session, "wx1111111111111111")
        entities = session.scalar(select(func.count()).select_from(Entity))
    assert created.has_secret
    assert created.has_aes_key
    assert (credentials.secret, credentials.token, credentials.aes_key) == (
        "appsecret",
        "tok",
        "b" * 43,
    )
    assert entities == 1


def test_duplicate_appid_is_refused(db: Database, workspace_id: int) -> None:
    data = AppCreate(kind=AppKind.mp, appid=MP_APPID, name="小程序")
    with db.session_scope() as session:
        service.add_app(session, workspace_id, data)
    with pytest.raises(Conflict), db.session_scope() as session:
        service.add_app(session, workspace_id, data)
    with db.session_scope() as session:
        assert session.scalar(select(func.count()).select_from(App)) == 1


@pytest.mark.parametrize(
    ("kind", "appid", "aes_key"),
    [
        (AppKind.mp, "wx123", None),
        (AppKind.oa_service, "gh_0123456789ab", None),
        (AppKind.h5, "has space", None),
        (AppKind.mp, MP_APPID, "tooshort"),
    ],
)
def test_malformed_app_is_refused(kind: AppKind, appid: str, aes_key: str | None) -> None:
    with pytest.raises(ValidationError):
        AppCreate(kind=kind, appid=appid, name="x", aes_key=aes_key)


def test_own_apps_take_free_ids() -> None:
    assert AppCreate(kind=AppKind.external, appid="brand-web", name="官网").appid == "brand-web"


def test_another_workspaces_app_is_unknown(db: Database, workspace_id: int) -> None:
    with db.session_scope() as session:
        service.add_app(session, workspace_id, AppCreate(kind=AppKind.mp, appid=MP_APPID, name="x"))
        other = service.create_workspace(session, "另一个品牌")
    with pytest.raises(NotFound) as caught, db.session_scope() as session:
        service.get_app_by_appid(session, MP_APPID, other.id)
    assert caught.value.code == "workspaces.unknown_app"


def test_member_numbers_are_reserved_in_blocks(db: Database, workspace_id: int) -> None:
    with db.session_scope() as session:
        first = service.take_member_numbers(session, workspace_id, 3)
        after = service.take_member_numbers(session, workspace_id)
    assert (first, after) == (10001, 10004)


def test_an_operator_adding_an_app_is_audited_without_its_secrets(
    db: Database, workspace_id: int, owner: Principal
) -> None:
    # when an operator registers an app with two of its credentials
    with db.session_scope() as session:
        added = service.add_app(
            session,
            workspace_id,
            AppCreate(
                kind=AppKind.oa_service,
                appid="wx1111111111111111",
                name="服务号",
                secret="the-app-secret",
                token="the-push-token",
            ),
            actor=owner,
        )
    # then one audit entry names the app, its kind and which credentials came, not them
    with db.session_scope() as session:
        [entry] = session.scalars(select(AuditEntry)).all()
    assert (entry.action, entry.actor, entry.target_type) == ("app.added", owner.actor, "app")
    assert entry.target_id == str(added.id)
    assert entry.detail == {
        "kind": "oa_service",
        "push_mode": "plaintext",
        "credentials": ["secret", "token"],
    }


def test_set_up_adds_apps_unaudited(db: Database, workspace_id: int) -> None:
    with db.session_scope() as session:
        service.add_app(session, workspace_id, AppCreate(kind=AppKind.mp, appid=MP_APPID, name="x"))
        assert session.scalar(select(func.count()).select_from(AuditEntry)) == 0


def test_push_mode_defaults_from_the_keys_and_encrypted_modes_need_one() -> None:
    # given apps registered without a push mode, then one asking secure without a key
    keyed = AppCreate(
        kind=AppKind.oa_service, appid="wx1111111111111111", name="a", aes_key="b" * 43
    )
    bare = AppCreate(kind=AppKind.oa_service, appid="wx1111111111111111", name="a")
    # then the keyed one is secure, the other plaintext, and secure without a key is refused
    assert (keyed.resolved_push_mode, bare.resolved_push_mode) == ("secure", "plaintext")
    with pytest.raises(ValidationError, match="needs an EncodingAESKey"):
        AppCreate(kind=AppKind.mp, appid=MP_APPID, name="a", push_mode=PushMode.secure)


def test_setting_the_push_mode_is_audited_and_refused_without_a_key(
    db: Database, workspace_id: int, owner: Principal
) -> None:
    # given a keyed app in compatible mode and an app without an EncodingAESKey
    with db.session_scope() as session:
        keyed = service.add_app(
            session,
            workspace_id,
            AppCreate(
                kind=AppKind.oa_service,
                appid="wx1111111111111111",
                name="服务号",
                aes_key="b" * 43,
                push_mode=PushMode.compatible,
            ),
        )
        service.add_app(session, workspace_id, AppCreate(kind=AppKind.mp, appid=MP_APPID, name="m"))
    # when the operator sets the first to secure
    with db.session_scope() as session:
        changed = service.set_push_mode(
            session, workspace_id, keyed.appid, PushMode.secure, actor=owner
        )
    # then it is recorded and audited with both modes
    assert changed.push_mode == PushMode.secure
    with db.session_scope() as session:
        [entry] = session.scalars(select(AuditEntry)).all()
        assert (entry.action, entry.detail) == (
            "app.push_mode_set",
            {"from": "compatible", "to": "secure"},
        )
    # and secure without a key is refused, changing and auditing nothing
    with db.session_scope() as session, pytest.raises(SiyuError) as refused:
        service.set_push_mode(session, workspace_id, MP_APPID, PushMode.secure, actor=owner)
    assert refused.value.code == "workspaces.mode_needs_aes_key"
    with db.session_scope() as session:
        assert session.scalar(select(App.push_mode).where(App.appid == MP_APPID)) == "plaintext"
        assert session.scalar(select(func.count()).select_from(AuditEntry)) == 1
