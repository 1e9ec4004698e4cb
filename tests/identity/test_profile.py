"""A member's display name and staff remark: written by customer service, encrypted at rest,
audited without their text, found by search through keyed hashes, scrubbed by an erasure."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import func, select, text

from siyu.core.db import Database
from siyu.identity.models import MemberProfile, MemberSearchTerm
from siyu.security.enums import Role
from siyu.security.models import AuditEntry
from siyu.security.schemas import Principal
from siyu.workspaces.schemas import AppRead
from tests.support.console import event, ingest
from tests.support.security import make_staff


def _members(db: Database, workspace_id: int, n: int) -> list[int]:
    ingest(db, workspace_id, *(event(i) for i in range(1, n + 1)))
    with db.session_scope() as session:
        from siyu.identity.models import Member

        return list(session.scalars(select(Member.id).order_by(Member.id)))


def _rows(db: Database) -> dict[str, int]:
    with db.session_scope() as session:
        return {
            "profiles": int(session.scalar(select(func.count()).select_from(MemberProfile)) or 0),
            "terms": int(session.scalar(select(func.count()).select_from(MemberSearchTerm)) or 0),
            "audits": int(
                session.scalar(
                    select(func.count())
                    .select_from(AuditEntry)
                    .where(AuditEntry.action == "member.profile_changed")
                )
                or 0
            ),
        }


def _found(client: TestClient, headers: dict[str, str], q: str) -> list[int]:
    response = client.get("/api/members", params={"q": q}, headers=headers)
    assert response.status_code == 200, response.text
    return [m["id"] for m in response.json()]


def test_customer_service_names_a_member_and_finds_them_by_name_and_remark(
    app_client: TestClient, db: Database, workspace_id: int, mp_app: AppRead, owner: Principal
) -> None:
    # given three members and a customer-service agent (who never sees WeChat ids)
    first, second, third = _members(db, workspace_id, 3)
    agent = make_staff(db, workspace_id, Role.customer_service).headers
    # when the agent names two of them and writes a remark
    body: dict[str, Any] = {"display_name": "王小明", "remark": "老学员，住在望京，周末上课"}
    named = app_client.put(f"/api/members/{first}/profile", json=body, headers=agent)
    other = app_client.put(
        f"/api/members/{second}/profile", json={"display_name": "李明"}, headers=agent
    )
    # then the profile shows them
    assert named.status_code == 200, named.text
    assert other.status_code == 200, other.text
    assert named.json()["display_name"] == "王小明"
    shown = app_client.get(f"/api/members/{first}", headers=agent).json()
    assert (shown["display_name"], shown["remark"]) == ("王小明", body["remark"])
    # and the database holds neither text: the columns are encrypted, the terms are hashes
    with db.session_scope() as session:
        raw = " ".join(
            str(v)
            for row in session.execute(text("SELECT * FROM member_profiles")).all()
            for v in row
        )
        terms = " ".join(session.scalars(select(MemberSearchTerm.term)))
    for plain in ("王小明", "李明", "望京", "老学员"):
        assert plain not in raw
        assert plain not in terms
    # and a search finds members by their name, a part of it, or words of the remark
    assert _found(app_client, agent, "王小明") == [first]
    assert _found(app_client, agent, "小明") == [first]
    assert _found(app_client, agent, "明") == []  # one character: whole names only
    assert _found(app_client, agent, "望京") == [first]
    assert _found(app_client, agent, "李明") == [second]
    assert _found(app_client, agent, "明王") == []
    assert third not in _found(app_client, agent, "小明")
    # and each change is audited by field, never with its text
    with db.session_scope() as session:
        audits = session.scalars(
            select(AuditEntry).where(AuditEntry.action == "member.profile_changed")
        ).all()
        details = [(a.target_id, a.detail) for a in audits]
    assert details == [
        (str(first), {"fields": ["display_name", "remark"]}),
        (str(second), {"fields": ["display_name"]}),
    ]


def test_the_same_profile_twice_changes_nothing_more_and_a_cleared_one_is_not_found(
    api: TestClient, db: Database, workspace_id: int, mp_app: AppRead
) -> None:
    # given a named member
    [member] = _members(db, workspace_id, 1)
    body = {"display_name": "赵六", "remark": "VIP"}
    assert api.put(f"/api/members/{member}/profile", json=body).status_code == 200
    before = _rows(db)
    # when the same profile is sent again
    again = api.put(f"/api/members/{member}/profile", json=body)
    # then nothing more is written or audited
    assert again.status_code == 200
    assert _rows(db) == before
    # when the name is cleared
    cleared = api.put(f"/api/members/{member}/profile", json={"remark": "VIP"})
    # then the member is no longer found by it, still by the remark
    assert cleared.json()["display_name"] is None
    assert _found(api, {}, "赵六") == []
    assert _found(api, {}, "vip") == [member]


def test_a_bad_name_or_remark_is_refused_and_nothing_is_written(
    api: TestClient, db: Database, workspace_id: int, mp_app: AppRead
) -> None:
    # given a member
    [member] = _members(db, workspace_id, 1)
    before = _rows(db)
    for body in (
        {"display_name": "名" * 33},
        {"remark": "字" * 201},
        {"display_name": "王\x00明"},
        {"display_name": "两\n行"},
    ):
        # when one of these is sent
        response = api.put(f"/api/members/{member}/profile", json=body)
        # then it is refused as invalid, and nothing is written
        assert response.status_code == 422, body
        assert _rows(db) == before


def test_an_analyst_cannot_name_a_member(
    app_client: TestClient, db: Database, workspace_id: int, mp_app: AppRead
) -> None:
    [member] = _members(db, workspace_id, 1)
    analyst = make_staff(db, workspace_id, Role.analyst).headers
    before = _rows(db)
    response = app_client.put(
        f"/api/members/{member}/profile", json={"display_name": "王"}, headers=analyst
    )
    assert response.status_code == 403
    assert _rows(db) == before


def test_erasure_scrubs_the_name_the_remark_and_their_search_terms(
    api: TestClient, db: Database, workspace_id: int, mp_app: AppRead
) -> None:
    # given two named members
    me, other = _members(db, workspace_id, 2)
    api.put(f"/api/members/{me}/profile", json={"display_name": "孙悟空", "remark": "花果山"})
    api.put(f"/api/members/{other}/profile", json={"display_name": "孙悟饭"})
    # when the first is erased
    assert api.post(f"/api/members/{me}/erase").status_code == 200
    # then nothing of their profile remains, and a search no longer finds them
    with db.session_scope() as session:
        assert session.get(MemberProfile, me) is None
        left = session.scalar(
            select(func.count())
            .select_from(MemberSearchTerm)
            .where(MemberSearchTerm.member_id == me)
        )
    assert left == 0
    assert _found(api, {}, "花果山") == []
    assert _found(api, {}, "孙悟") == [other]
    # and a name cannot be written on them again
    again = api.put(f"/api/members/{me}/profile", json={"display_name": "孙悟空"})
    assert again.status_code == 409
    assert again.json()["code"] == "identity.member_erased"
    with db.session_scope() as session:
        assert session.get(MemberProfile, me) is None
