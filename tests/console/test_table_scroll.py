"""Wide tables scroll inside their panel: every table of every console page sits directly in
the one scrolling container (`div.table-wrap`, as on the channels page), in the templates and
on each page of the navigation as the owner sees it with members, apps and an audit log."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

import siyu.console
from siyu.core.db import Database
from siyu.identity import service as identity
from siyu.security import service as security
from siyu.security.schemas import Principal
from tests.support.console import Console, event, ingest, tables_outside_the_wrap
from tests.support.names import MP_APPID, openid

pytestmark = pytest.mark.usefixtures("mp_app", "oa_app")
CONSOLE = Path(siyu.console.__file__).parent


def test_every_table_of_the_templates_sits_in_the_scrolling_container() -> None:
    templates = sorted((CONSOLE / "templates").glob("*.html"))
    unwrapped = []
    seen = 0
    for path in templates:
        source = path.read_text(encoding="utf-8")
        for found in re.finditer(r"<table\b", source):
            seen += 1
            before = source[: found.start()].rstrip()
            if not re.search(r'<div class="table-wrap(?: [\w -]+)?">$', before):
                unwrapped.append(f"{path.name}:{source.count(chr(10), 0, found.start()) + 1}")
    assert seen > 30
    assert unwrapped == []
    # and the container scrolls sideways, so a wide table never widens its panel
    css = (CONSOLE / "static" / "console.css").read_text(encoding="utf-8")
    assert re.search(r"\.table-wrap\s*\{[^}]*overflow-x:\s*auto", css)


def test_every_navigation_page_keeps_its_tables_in_the_scrolling_container(
    app_client: TestClient, console: Console, db: Database, workspace_id: int, owner: Principal
) -> None:
    # given members with a timeline, an API token and an auto-reply rule (lists on their pages)
    ingest(db, workspace_id, event(1, phone="13800138001"), *(event(n) for n in range(2, 5)))
    with db.session_scope() as session:
        token = security.create_api_token(session, owner.operator_id, "报表").token
    rule = TestClient(app_client.app).post(
        "/api/autoreply/rules",
        headers={"Authorization": f"Bearer {token}"},
        json={"appid": MP_APPID, "keywords": ["打卡"], "reply": {"type": "text", "content": "好"}},
    )
    assert rule.status_code == 201, rule.text
    with db.session_scope() as session:
        member_id = identity.search_members(session, workspace_id, openid=openid(1))[0].id
    nav = re.findall(r'<a[^>]+href="(/[a-z/-]*)"', app_client.get("/").text)
    pages = sorted({p for p in nav if not p.startswith(("/lang", "/static", "/logout"))})
    pages.append(f"/members/{member_id}")
    assert len(pages) > 10
    # when the owner opens each page, then every table on it sits in the container
    tables_by_page = {}
    for page in pages:
        answer = app_client.get(page)
        assert answer.status_code == 200, page
        seen, outside = tables_outside_the_wrap(answer.text)
        tables_by_page[page] = seen
        assert outside == 0, page
    # (the pages did show tables: the check is not vacuous)
    assert sum(tables_by_page.values()) >= 8, tables_by_page
    assert tables_by_page["/autoreplies"] >= 1
    assert tables_by_page["/tokens"] >= 1
    assert tables_by_page[f"/members/{member_id}"] >= 1
