"""`resolve_members` resolves a batch as `resolve_member` would, one by one, in order."""

from __future__ import annotations

import random

import pytest
from sqlalchemy import func, select

from siyu.core.db import Database
from siyu.core.errors import Invalid
from siyu.identity import service
from siyu.identity.models import Identity, Member
from siyu.identity.schemas import PersonRef
from siyu.workspaces import service as workspaces
from siyu.workspaces.enums import AppKind
from siyu.workspaces.schemas import AppCreate, AppRead
from tests.support.names import MP_APPID, openid

OTHER_MP = "wx3333333333333333"


def _people(appid: str, seed: int = 11) -> list[PersonRef]:
    """New people, repeats, people with a UnionID shared across openids, and phones."""
    rng = random.Random(seed)  # a reproducible mix
    people = []
    for _ in range(60):
        who = rng.randrange(25)
        unionid = openid(who % 12, "u") if who % 3 else None
        phone = f"1380000{who % 7:04d}" if who % 5 == 0 else None
        people.append(PersonRef(appid=appid, openid=openid(who), unionid=unionid, phone=phone))
    return people


def _other_app(db: Database) -> AppRead:
    with db.session_scope() as session:
        workspace_id = workspaces.create_workspace(session, "对照").id
        return workspaces.add_app(
            session, workspace_id, AppCreate(kind=AppKind.mp, appid=OTHER_MP, name="对照")
        )


def _shape(db: Database, workspace_id: int, ids: list[int]) -> list[tuple[int, list[str]]]:
    """Per person: the member's number and the kinds of its identities (ids differ)."""
    with db.session_scope() as session:
        shape = []
        for member_id in ids:
            member = session.get(Member, member_id)
            assert member is not None
            assert member.workspace_id == workspace_id
            kinds = session.scalars(
                select(Identity.kind).where(Identity.member_id == member_id).order_by(Identity.kind)
            ).all()
            shape.append((member.number, [str(k) for k in kinds]))
        return shape


def test_a_batch_makes_the_members_one_by_one_would(db: Database, mp_app: AppRead) -> None:
    # given the same people for two apps of two workspaces
    other = _other_app(db)
    # when one app resolves them in one batch and the other one by one
    with db.session_scope() as session:
        batch = service.resolve_members(session, mp_app, _people(MP_APPID))
    with db.session_scope() as session:
        single = [service.resolve_member(session, other, p) for p in _people(OTHER_MP)]
    # then every person has a member of the same number and the same identities
    assert [r.number for r in batch] == [r.number for r in single]
    assert [r.created for r in batch] == [r.created for r in single]
    assert _shape(db, mp_app.workspace_id, [r.id for r in batch]) == _shape(
        db, other.workspace_id, [r.id for r in single]
    )


def test_resolving_the_batch_again_changes_nothing(db: Database, mp_app: AppRead) -> None:
    people = _people(MP_APPID)
    with db.session_scope() as session:
        first = service.resolve_members(session, mp_app, people)
    with db.session_scope() as session:
        again = service.resolve_members(session, mp_app, people)
        members = session.scalar(select(func.count()).select_from(Member))
    assert [r.id for r in again] == [r.id for r in first]
    assert not any(r.created for r in again)
    assert members == len({r.id for r in first})


def test_one_refused_person_refuses_the_batch_and_writes_nothing(
    db: Database, mp_app: AppRead
) -> None:
    # given an openid bound to one UnionID
    with db.session_scope() as session:
        service.resolve_member(
            session, mp_app, PersonRef(appid=MP_APPID, openid=openid(1), unionid=openid(1, "u"))
        )
    # when a batch names it with another UnionID, beside new people
    people = [
        PersonRef(appid=MP_APPID, openid=openid(2)),
        PersonRef(appid=MP_APPID, openid=openid(1), unionid=openid(9, "u")),
    ]
    with pytest.raises(Invalid) as refused, db.session_scope() as session:
        service.resolve_members(session, mp_app, people)
    # then the refusal names the person, and the new person was not created
    assert refused.value.code == "identity.invalid_batch"
    assert [e["line"] for e in refused.value.data["errors"]] == [1]
    assert refused.value.data["errors"][0]["code"] == "identity.unionid_mismatch"
    with db.session_scope() as session:
        assert session.scalar(select(func.count()).select_from(Member)) == 1


def test_a_person_of_another_app_is_refused(db: Database, mp_app: AppRead) -> None:
    with pytest.raises(Invalid) as refused, db.session_scope() as session:
        service.resolve_members(session, mp_app, [PersonRef(appid=OTHER_MP, openid=openid(1))])
    assert refused.value.code == "identity.app_mismatch"
