"""The member list as CSV, as an operator downloads it from the members page: a BOM so Excel
reads UTF-8, 学号 first, times in Beijing, the search's members only when searching, each
member as the role shows them, every member once however many pages it streams, audited."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from siyu.console import members as members_page
from siyu.core.db import Database
from siyu.identity import service as identity
from siyu.identity.models import Member
from siyu.security.enums import Role
from tests.support.console import Console, event, ingest
from tests.support.names import openid
from tests.support.security import audit_actions, make_staff

pytestmark = pytest.mark.usefixtures("mp_app")
HEADER = ["学号", "手机号", "身份", "标签", "加入时间（北京时间）"]


def rows(text: str) -> list[list[str]]:
    assert text.startswith("\ufeff")
    return list(csv.reader(io.StringIO(text[1:])))


def members(db: Database) -> list[tuple[int, datetime]]:
    with db.session_scope() as session:
        found = session.execute(select(Member.number, Member.created_at).order_by(Member.number))
        return [(n, at) for n, at in found]


def beijing(at: datetime) -> str:
    aware = at if at.tzinfo else at.replace(tzinfo=UTC)
    return (aware.astimezone(UTC) + timedelta(hours=8)).strftime("%Y-%m-%d %H:%M:%S")


@pytest.fixture
def five(db: Database, workspace_id: int) -> list[tuple[int, datetime]]:
    ingest(
        db,
        workspace_id,
        event(1, phone="13800138001"),
        *(event(n) for n in range(2, 6)),
    )
    with db.session_scope() as session:
        first = identity.search_members(session, workspace_id, openid=openid(1))[0].id
        identity.tag_members(session, workspace_id, [first], "=HYPERLINK()", actor="test")
    return members(db)


def test_the_members_page_offers_the_export_and_it_opens_in_excel(
    console: Console, five: list[tuple[int, datetime]], db: Database
) -> None:
    page = console.client.get("/members")
    assert 'href="/members.csv"' in page.text
    assert "导出全部会员（CSV）" in page.text
    # when the operator downloads it
    answer = console.client.get("/members.csv")
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/csv")
    table = rows(answer.text)
    # then the columns are Chinese, 学号 first, every member once, highest number first
    assert table[0] == HEADER
    assert [int(r[0]) for r in table[1:]] == sorted((n for n, _ in five), reverse=True)
    # with times in Beijing, the owner's full phone, and a formula defused
    by_number = {int(r[0]): r for r in table[1:]}
    first_number, first_created = five[0]
    assert by_number[first_number][4] == beijing(first_created)
    # (a leading + would be a formula to Excel: the cell is marked as text)
    assert by_number[first_number][1] == "'+8613800138001"
    assert by_number[first_number][3] == "'=HYPERLINK()"
    assert "export.member_list" in audit_actions(db)


def test_a_search_exports_only_its_members(
    console: Console, five: list[tuple[int, datetime]]
) -> None:
    number = five[2][0]
    results = console.client.get(f"/members?q={number}", headers=console.htmx())
    assert f'href="/members.csv?q={number}"' in results.text
    table = rows(console.client.get(f"/members.csv?q={number}").text)
    assert [r[0] for r in table[1:]] == [str(number)]


def test_a_large_export_streams_page_by_page_and_finishes(
    console: Console, five: list[tuple[int, datetime]], monkeypatch: pytest.MonkeyPatch
) -> None:
    # given pages of two members (five members: three pages, the last one short)
    monkeypatch.setattr(members_page, "EXPORT_PAGE", 2)
    with console.client.stream("GET", "/members.csv") as answer:
        chunks = list(answer.iter_text())
    # then the file came in several pieces, and holds every member exactly once
    assert len(chunks) >= 3
    numbers = [int(r[0]) for r in rows("".join(chunks))[1:]]
    assert numbers == sorted((n for n, _ in five), reverse=True)


def test_customer_service_gets_masked_phones_and_no_wechat_ids(
    app_client: TestClient, db: Database, workspace_id: int, five: list[tuple[int, datetime]]
) -> None:
    service = make_staff(db, workspace_id, Role.customer_service)
    answer = TestClient(app_client.app).get("/members.csv", headers=service.headers)
    assert answer.status_code == 200
    assert "13800138001" not in answer.text
    assert "138****8001" in answer.text
    assert openid(1) not in answer.text


def test_a_role_without_members_gets_403(
    app_client: TestClient, db: Database, workspace_id: int, five: list[tuple[int, datetime]]
) -> None:
    analyst = make_staff(db, workspace_id, Role.analyst)
    answer = TestClient(app_client.app).get("/members.csv", headers=analyst.headers)
    assert answer.status_code == 403
    assert "export.member_list" not in audit_actions(db)
