"""What each role sees of members, and attempts to get around it: another sales rep's
member, another workspace's ids, injection strings in every search field, forged cookies."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from siyu.core.db import Database
from siyu.security.enums import Role
from siyu.security.models import AuditEntry
from siyu.security.schemas import Principal
from siyu.workspaces import service as workspaces
from siyu.workspaces.schemas import AppRead
from tests.support.people import PHONE, Person, make_person
from tests.support.security import Staff, audit_actions, make_staff, row_counts

INJECTIONS = [
    "' OR '1'='1",
    "1; DROP TABLE members; --",
    "%' UNION SELECT secret FROM identities --",
    '" OR ""="',
    "\\x00\\'; SELECT pg_sleep(1); --",
    "13800138000' OR 1=1 --",
    "*/ OR /*",
]


@pytest.fixture
def person(
    db: Database, workspace_id: int, mp_app: AppRead, oa_app: AppRead, owner: Principal
) -> Person:
    return make_person(db, workspace_id, mp_app, oa_app, owner)


def test_customer_service_never_sees_wechat_ids_or_the_full_phone(
    person: Person, app_client: TestClient, staff: dict[Role, Staff]
) -> None:
    cs = staff[Role.customer_service]
    # when customer service opens the profile and searches by phone
    profile = app_client.get(f"/api/members/{person.member_id}", headers=cs.headers)
    found = app_client.get("/api/members", params={"phone": PHONE}, headers=cs.headers)
    timeline = app_client.get(f"/api/members/{person.member_id}/timeline", headers=cs.headers)
    # then the phone is masked and no openid or UnionID is in the answer
    assert profile.status_code == found.status_code == timeline.status_code == 200
    for answer in (profile.text, found.text):
        assert "139****5678" in answer
        assert PHONE not in answer
        for wechat_id in person.secrets[:3]:
            assert wechat_id not in answer
    assert [m["id"] for m in found.json()] == [person.member_id]


def test_the_owner_sees_identifiers_and_an_admin_the_phone_in_the_console(
    person: Person, app_client: TestClient, staff: dict[Role, Staff]
) -> None:
    owner_view = app_client.get(
        f"/api/members/{person.member_id}", headers=staff[Role.owner].headers
    )
    assert person.secrets[0] in owner_view.text
    page = app_client.get(f"/members/{person.member_id}", headers=staff[Role.admin].headers)
    assert page.status_code == 200
    assert "+8613912345678" in page.text


def test_sales_see_only_their_members(
    db: Database, person: Person, app_client: TestClient, staff: dict[Role, Staff], owner: Principal
) -> None:
    rep, other_rep = staff[Role.sales], make_staff(db, owner.workspace_id, Role.sales, "b@x.cn")
    # given the member assigned to the first rep
    assigned = app_client.put(
        f"/api/members/{person.member_id}/assignee",
        json={"operator_id": rep.principal.operator_id},
        headers=staff[Role.admin].headers,
    )
    assert assigned.status_code == 200
    # then the rep finds and opens them, and nobody else
    mine = app_client.get("/api/members", headers=rep.headers).json()
    assert [m["id"] for m in mine] == [person.member_id]
    assert (
        app_client.get(f"/api/members/{person.member_id}", headers=rep.headers).status_code == 200
    )
    other = app_client.get(f"/api/members/{person.other_id}", headers=rep.headers)
    assert other.status_code == 404
    assert other.json()["code"] == "identity.member_not_found"
    # and another rep cannot reach them by id, search, timeline or console page
    before = row_counts(db, without=("audit_log",))
    for path in (
        f"/api/members/{person.member_id}",
        f"/api/members/{person.member_id}/timeline",
        f"/api/members/{person.member_id}/consents",
        f"/members/{person.member_id}",
        f"/members/{person.member_id}/timeline",
    ):
        response = app_client.get(path, headers=other_rep.headers)
        assert response.status_code == 404, path
    assert (
        app_client.get("/api/members", params={"phone": PHONE}, headers=other_rep.headers).json()
        == []
    )
    assert app_client.get("/api/members", headers=other_rep.headers).json() == []
    assert row_counts(db, without=("audit_log",)) == before
    # and each of those refusals is audited, naming the member, as any other denial
    with db.session_scope() as session:
        denied = session.scalars(
            select(AuditEntry).where(
                AuditEntry.action == "security.denied",
                AuditEntry.target_type == "member",
                AuditEntry.actor == other_rep.principal.actor,
            )
        ).all()
    assert [e.target_id for e in denied] == [str(person.member_id)] * 5


def test_another_workspace_cannot_reach_our_rows(
    db: Database, person: Person, app_client: TestClient, owner: Principal
) -> None:
    with db.session_scope() as session:
        other_ws = workspaces.create_workspace(session, "别家").id
    intruder = make_staff(db, other_ws, Role.owner, "boss@other.cn")
    before = row_counts(db, without=("audit_log",))
    for method, path, body in (
        ("GET", f"/api/members/{person.member_id}", None),
        ("GET", f"/api/members/{person.member_id}/timeline", None),
        ("GET", f"/api/members/{person.member_id}/consents", None),
        ("PUT", f"/api/members/{person.member_id}/assignee", {"operator_id": None}),
        ("POST", f"/api/members/{person.member_id}/merge", {"merged_member_id": person.other_id}),
        ("PATCH", f"/api/operators/{owner.operator_id}", {"disabled": True}),
        ("GET", f"/members/{person.member_id}", None),
    ):
        response = app_client.request(method, path, json=body, headers=intruder.headers)
        assert response.status_code == 404, (method, path, response.text)
    assert (
        app_client.get("/api/members", params={"phone": PHONE}, headers=intruder.headers).json()
        == []
    )
    assert row_counts(db, without=("audit_log",)) == before


def test_injection_strings_in_every_search_field_find_nothing_and_break_nothing(
    db: Database, person: Person, api: TestClient
) -> None:
    before = row_counts(db, without=("audit_log",))
    fields = ("phone", "openid", "unionid", "external_id", "q")
    for text in INJECTIONS:
        for field in fields:
            response = api.get("/api/members", params={field: text})
            assert response.status_code in (200, 422), (field, text, response.text)
            assert response.json() == [] or response.json()["code"].endswith("invalid_phone")
        page = api.get("/members", params={"q": text})
        assert page.status_code == 200
        audit = api.get("/api/audit", params={"action": text, "actor": text, "target_id": text})
        assert audit.status_code == 200
        assert audit.json() == []
        console_audit = api.get("/audit", params={"action": text, "actor": text})
        assert console_audit.status_code == 200
    assert row_counts(db, without=("audit_log",)) == before
    # the member is still there, whole
    assert api.get(f"/api/members/{person.member_id}").status_code == 200


@pytest.mark.parametrize(
    "cookie",
    [
        "forged",
        "",
        "' OR 1=1 --",
        "a" * 4096,
        "siyu_abc.def",
    ],
)
def test_forged_session_cookies_get_nowhere(
    app_client: TestClient, owner: Principal, cookie: str
) -> None:
    app_client.cookies.set("siyu_session", cookie)
    assert app_client.get("/api/me").status_code == 401
    page = app_client.get("/members", follow_redirects=False)
    assert page.status_code == 303
    assert page.headers["location"].startswith("/login")


def test_a_forged_bearer_token_is_refused(app_client: TestClient, owner: Principal) -> None:
    response = app_client.get("/api/me", headers={"Authorization": "Bearer siyu_forged"})
    assert response.status_code == 401
    assert response.json()["code"] == "auth.invalid_token"


def test_phone_searches_and_profile_views_are_audited(
    db: Database, person: Person, api: TestClient
) -> None:
    api.get("/api/members", params={"phone": PHONE})
    api.get("/api/members", params={"q": PHONE})
    api.get(f"/api/members/{person.member_id}")
    actions = audit_actions(db)
    assert actions.count("member.phone_searched") == 2
    assert "member.viewed" in actions
    entries = api.get("/api/audit", params={"action": "member.phone_searched"}).json()
    assert PHONE not in str(entries)
