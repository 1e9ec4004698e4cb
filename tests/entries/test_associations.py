"""OA ↔ MP associations: the platform's limits, as settings, refuse with the limit's name."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from siyu.core.config import Settings
from siyu.core.db import Database
from siyu.core.errors import SiyuError
from siyu.entries import service
from siyu.entries.enums import LinkStatus
from siyu.entries.models import Association
from siyu.workspaces import service as workspaces
from siyu.workspaces.enums import AppKind, EntityKind
from siyu.workspaces.schemas import AppCreate, AppRead
from tests.support.names import MP_APPID, OA_APPID


def add(db: Database, workspace_id: int, kind: AppKind, n: int, entity: str = "示例教育") -> str:
    appid = f"wx{n:016x}"
    with db.session_scope() as session:
        workspaces.add_app(
            session,
            workspace_id,
            AppCreate(kind=kind, appid=appid, name=f"app {n}", entity=entity),
        )
    return appid


def link(db: Database, workspace_id: int, oa: str, mp: str, settings: Settings) -> str:
    with db.session_scope() as session:
        return service.link_apps(
            session, workspace_id, oa, mp, notify_followers=True, actor="t", settings=settings
        ).status


def links(db: Database) -> int:
    with db.session_scope() as session:
        return session.scalar(select(func.count()).select_from(Association)) or 0


def test_a_link_is_pending_then_linked_and_asking_again_changes_nothing(
    api: TestClient, oa_app: AppRead, mp_app: AppRead
) -> None:
    # when the operator links the two apps twice
    first = api.post("/api/entries/associations", json={"oa_appid": OA_APPID, "mp_appid": MP_APPID})
    again = api.post("/api/entries/associations", json={"oa_appid": OA_APPID, "mp_appid": MP_APPID})
    # then one pending link, with the notice choice kept and same-entity recognised
    assert first.status_code == 201, first.text
    assert again.json()["id"] == first.json()["id"]
    assert first.json()["status"] == "pending"
    assert first.json()["same_entity"] is True
    # and the admins' confirmation makes it linked
    done = api.post(
        f"/api/entries/associations/{first.json()['id']}/status", json={"status": "linked"}
    )
    assert done.json()["status"] == "linked"


def test_other_entity_limit_refuses_naming_it(
    db: Database, settings: Settings, workspace_id: int
) -> None:
    # given an OA whose account may link 3 MPs of other entities (the platform's default)
    oa = add(db, workspace_id, AppKind.oa_service, 1, entity="甲公司")
    mps = [add(db, workspace_id, AppKind.mp, 10 + i, entity=f"乙{i}") for i in range(4)]
    for mp in mps[:3]:
        assert link(db, workspace_id, oa, mp, settings) == LinkStatus.pending
    # when a fourth is asked for
    with pytest.raises(SiyuError) as refused:
        link(db, workspace_id, oa, mps[3], settings)
    # then the refusal names the limit and its setting; nothing was written
    assert refused.value.code == "entries.limit.oa_other_entity_mps"
    assert refused.value.data["max"] == 3
    assert "SIYU_ENTRIES_OA_OTHER_ENTITY_MPS" in refused.value.message
    assert links(db) == 3


@pytest.mark.parametrize(
    ("update", "code"),
    [
        ({"entries_oa_same_entity_mps": 1}, "entries.limit.oa_same_entity_mps"),
        ({"entries_oa_links_per_month": 1}, "entries.limit.oa_links_per_month"),
        ({"entries_mp_oas": 1}, "entries.limit.mp_oas"),
        ({"entries_entity_mps": 1}, "entries.limit.entity_mps"),
    ],
)
def test_each_limit_is_a_setting(
    db: Database, settings: Settings, workspace_id: int, update: dict[str, int], code: str
) -> None:
    # given limits lowered to one, and two same-entity MPs and two OAs
    tight = settings.model_copy(update=update)
    oa1, oa2 = (add(db, workspace_id, AppKind.oa_service, n) for n in (1, 2))
    mp1, mp2 = (add(db, workspace_id, AppKind.mp, n) for n in (3, 4))
    link(db, workspace_id, oa1, mp1, tight) if code != "entries.limit.entity_mps" else None
    # when one more link is asked for, then the limit refuses it by name
    second = (oa2, mp1) if code == "entries.limit.mp_oas" else (oa1, mp2)
    before = links(db)
    with pytest.raises(SiyuError) as refused:
        link(db, workspace_id, *second, tight)
    assert refused.value.code == code
    assert links(db) == before


def test_individual_business_has_the_smaller_entity_limit(
    db: Database, settings: Settings, workspace_id: int
) -> None:
    tight = settings.model_copy(update={"entries_individual_business_mps": 1})
    with db.session_scope() as session:
        for n in (5, 6):
            workspaces.add_app(
                session,
                workspace_id,
                AppCreate(
                    kind=AppKind.mp,
                    appid=f"wx{n:016x}",
                    name=f"mp{n}",
                    entity="个体户张三",
                    entity_kind=EntityKind.individual_business,
                ),
            )
    oa = add(db, workspace_id, AppKind.oa_service, 7, entity="个体户张三")
    with pytest.raises(SiyuError) as refused:
        link(db, workspace_id, oa, f"wx{5:016x}", tight)
    assert refused.value.code == "entries.limit.individual_business_mps"


def test_linking_what_is_not_an_oa_and_an_mp_is_refused(
    api: TestClient, oa_app: AppRead, mp_app: AppRead, db: Database
) -> None:
    swapped = api.post(
        "/api/entries/associations", json={"oa_appid": MP_APPID, "mp_appid": OA_APPID}
    )
    assert swapped.status_code == 422
    assert swapped.json()["code"] == "entries.not_official_account"
    unknown = api.post(
        "/api/entries/associations", json={"oa_appid": OA_APPID, "mp_appid": "wx9999999999999999"}
    )
    assert unknown.status_code == 404
    assert links(db) == 0
