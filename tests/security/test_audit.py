"""The audit log: append-only, searchable, exported as CSV, free of personal data (consents,
identity's now, are in tests/identity/test_consent.py)."""

from __future__ import annotations

import csv
import io
import re

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from siyu.core.db import Database
from siyu.identity import service as identity
from siyu.security import service
from siyu.security.enums import Role
from siyu.security.schemas import Principal
from siyu.workspaces.schemas import AppRead
from tests.support.people import Person, make_person
from tests.support.security import Staff, audit_actions


@pytest.fixture
def person(
    db: Database, workspace_id: int, mp_app: AppRead, oa_app: AppRead, owner: Principal
) -> Person:
    return make_person(db, workspace_id, mp_app, oa_app, owner)


def test_audit_detail_refuses_what_looks_like_a_phone(db: Database, owner: Principal) -> None:
    with pytest.raises(ValueError, match="personal"), db.session_scope() as session:
        service.record_audit(session, owner, "member.viewed", detail={"q": "138 0013 8000"})
    assert audit_actions(db) == []


def test_the_audit_log_has_no_route_that_writes(app_client: TestClient) -> None:
    spec = app_client.get("/openapi.json").json()["paths"]
    audit_paths = {p: set(v) for p, v in spec.items() if "audit" in p}
    assert audit_paths == {"/api/audit": {"get"}}


@pytest.mark.postgres_only  # the trigger is PostgreSQL's; SQLite files are the operator's own
def test_postgresql_refuses_to_rewrite_the_audit_log(db: Database, owner: Principal) -> None:
    assert db.dialect == "postgresql"
    with db.session_scope() as session:
        service.record_audit(session, owner, "member.viewed", target_type="member", target_id=1)
    for statement in ("UPDATE audit_log SET actor = 'someone else'", "DELETE FROM audit_log"):
        with pytest.raises(DBAPIError, match="append-only"), db.engine.begin() as conn:
            conn.execute(text(statement))
    assert audit_actions(db) == ["member.viewed"]


def test_console_audit_page_searches_and_exports_csv(
    db: Database, person: Person, app_client: TestClient, staff: dict[Role, Staff]
) -> None:
    admin = staff[Role.admin]
    app_client.get(f"/api/members/{person.member_id}", headers=admin.headers)
    # when the audit log is searched by action
    page = app_client.get("/audit", params={"action": "member.viewed"}, headers=admin.headers)
    # then the views are listed, in Chinese by default
    assert page.status_code == 200
    assert "查看会员资料" in page.text
    with db.session_scope() as session:
        ws = admin.principal.workspace_id
        number = identity.get_member(session, ws, person.member_id).number
        who = service.get_operator(session, ws, admin.principal.operator_id)
    # shown as people: the member by 学号, the actor by name and email, not internal ids
    assert f"会员 学号 {number}" in page.text
    assert f"{who.name} &lt;{who.email}&gt;" in page.text
    assert f"operator:{who.id}<" not in page.text
    # and the CSV export holds them, and is itself audited
    exported = app_client.get(
        "/audit.csv", params={"action": "member.viewed"}, headers=admin.headers
    )
    assert exported.status_code == 200
    assert exported.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(exported.text.lstrip("\ufeff"))))
    assert {r["action"] for r in rows} == {"member.viewed"}
    assert len(rows) == 2  # the fixture's view and the admin's
    assert {r["member_number"] for r in rows} == {str(number)}
    assert f"{who.name} <{who.email}>" in {r["actor"] for r in rows}
    # times in Beijing, as operators read them
    mine = next(r for r in rows if r["actor"].startswith(who.name))
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d", mine["time_beijing"])
    assert "audit.exported" in audit_actions(db)


def test_csv_cells_that_look_like_formulas_are_neutralised(
    db: Database, api: TestClient, owner: Principal
) -> None:
    with db.session_scope() as session:
        service.record_audit(
            session, "=HYPERLINK(1)", "member.viewed", workspace_id=owner.workspace_id
        )
    exported = api.get("/audit.csv")
    assert "'=HYPERLINK(1)" in exported.text


def test_denials_are_audited(
    db: Database, app_client: TestClient, staff: dict[Role, Staff]
) -> None:
    response = app_client.get("/api/audit", headers=staff[Role.analyst].headers)
    assert response.status_code == 403
    entries = app_client.get(
        "/api/audit", params={"action": "security.denied"}, headers=staff[Role.owner].headers
    ).json()
    assert entries[0]["actor_role"] == "analyst"
    assert entries[0]["target_id"] == "/api/audit"
