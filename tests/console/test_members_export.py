"""The member list as CSV, as an operator downloads it from the members page: a BOM so Excel
reads UTF-8, 学号 first, times in Beijing, the search's members only when searching, each
member as the role shows them, every member once however many pages it streams, audited."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select, text

from siyu.console import members as members_page
from siyu.core.db import Database
from siyu.identity import service as identity
from siyu.identity.models import Member
from siyu.identity.schemas import MemberProfileIn
from siyu.security.enums import Role
from tests.support.console import Console, event, ingest
from tests.support.names import openid
from tests.support.security import audit_actions, make_staff

pytestmark = pytest.mark.usefixtures("mp_app")
HEADER = ["学号", "名字", "手机号", "身份", "标签", "备注", "加入时间（北京时间）"]


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
    assert by_number[first_number][6] == beijing(first_created)
    # (a leading + would be a formula to Excel: the cell is marked as text)
    assert by_number[first_number][2] == "'+8613800138001"
    assert by_number[first_number][4] == "'=HYPERLINK()"
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


NAME = "王小明"
REMARK = "=老学员，常问退款\n要发票, 抬头写公司"


@pytest.fixture
def named(db: Database, workspace_id: int, five: list[tuple[int, datetime]]) -> int:
    """The first member, to whom staff gave a name and a remark (a formula, a comma, a line)."""
    writer = make_staff(db, workspace_id, Role.operator, email="writer@example.com")
    number = five[0][0]
    with db.session_scope() as session:
        member = identity.get_member_by_number(session, workspace_id, number)
        identity.set_member_profile(
            session,
            writer.principal,
            member.id,
            MemberProfileIn(display_name=NAME, remark=REMARK),
        )
    return number


def test_the_export_holds_the_name_and_remark_staff_wrote_decrypted(
    console: Console, db: Database, named: int
) -> None:
    # given a name and a remark, encrypted at rest
    with db.session_scope() as session:
        stored = session.execute(text("SELECT display_name, remark FROM member_profiles")).one()
    assert NAME not in stored[0]
    assert "老学员" not in stored[1]
    # when the owner downloads the member list
    answer = console.client.get("/members.csv")
    # then the file starts with a BOM, and the member's row holds the name and the remark as
    # written (the remark's leading = defused for Excel), the other members' cells empty
    assert answer.content.startswith(b"\xef\xbb\xbf")
    table = rows(answer.text)
    assert table[0] == HEADER
    by_number = {int(r[0]): r for r in table[1:]}
    assert by_number[named][1] == NAME
    assert by_number[named][5] == "'" + REMARK
    others = [r for n, r in by_number.items() if n != named]
    assert others
    assert all(r[1] == "" and r[5] == "" for r in others)


def test_a_search_by_name_exports_the_named_member_with_the_remark(
    console: Console, named: int
) -> None:
    table = rows(console.client.get("/members.csv", params={"q": NAME}).text)
    assert [(int(r[0]), r[1], r[5]) for r in table[1:]] == [(named, NAME, "'" + REMARK)]


def test_customer_service_sees_the_name_and_remark_as_on_the_profile_page(
    app_client: TestClient, db: Database, workspace_id: int, named: int
) -> None:
    # given customer service, who see the name and remark on a profile but no full phone
    service = make_staff(db, workspace_id, Role.customer_service)
    client = TestClient(app_client.app)
    with db.session_scope() as session:
        member_id = identity.get_member_by_number(session, workspace_id, named).id
    profile = client.get(f"/members/{member_id}", headers=service.headers)
    assert NAME in profile.text
    assert "老学员" in profile.text
    # when they export, then the export shows what the profile shows: name and remark
    table = rows(client.get("/members.csv", headers=service.headers).text)
    row = next(r for r in table[1:] if int(r[0]) == named)
    assert (row[1], row[5]) == (NAME, "'" + REMARK)
    assert row[2] == "138****8001"
