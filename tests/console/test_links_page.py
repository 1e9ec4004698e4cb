"""The OA ↔ Mini Program links page as a person uses it: ask for a link from the form, record
WeChat's answer, unlink; a refused link is said beside the Mini Program and writes nothing;
a role without the permission neither sees the form nor gets through with a crafted post."""

from __future__ import annotations

from typing import cast

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from siyu.core.config import Settings
from siyu.core.db import Database
from siyu.entries.models import Association
from siyu.security.enums import Role
from tests.support.console import Console
from tests.support.names import MP_APPID, OA_APPID
from tests.support.security import audit_actions, make_staff

pytestmark = pytest.mark.usefixtures("oa_app", "mp_app")
ASK = {"oa_appid": OA_APPID, "mp_appid": MP_APPID}


def links(db: Database) -> list[str]:
    with db.session_scope() as session:
        return [str(s) for s in session.scalars(select(Association.status))]


def test_the_page_renders_in_chinese_and_the_apps_page_links_to_it(console: Console) -> None:
    assert "公众号与小程序关联" in console.client.get("/apps").text
    page = console.client.get("/apps/links")
    assert page.status_code == 200
    assert "还没有关联。" in page.text
    assert "发起关联" in page.text


def test_a_link_is_asked_confirmed_and_ended_from_the_page(console: Console, db: Database) -> None:
    # when the owner asks for the link (a plain form post, as without JavaScript)
    asked = console.client.post(
        "/apps/links", data={**ASK, "csrf_token": console.csrf}, follow_redirects=False
    )
    # then it is pending until WeChat's admins confirm it
    assert asked.status_code == 303
    assert links(db) == ["pending"]
    assert "待微信确认" in console.client.get("/apps/links").text
    with db.session_scope() as session:
        link_id = session.scalars(select(Association.id)).one()
    # when the owner records that both admins confirmed (htmx, as the page's button)
    confirmed = console.client.post(
        f"/apps/links/{link_id}/status", headers=console.htmx(), data={"status": "linked"}
    )
    assert confirmed.status_code == 200
    assert "已标记为已关联。" in confirmed.text
    assert links(db) == ["linked"]
    # and unlinks it later: it is ended, once, audited
    for _ in range(2):
        ended = console.client.post(f"/apps/links/{link_id}/unlink", headers=console.htmx())
        assert ended.status_code == 200
    assert "已解除" in ended.text
    assert links(db) == ["unlinked"]
    assert audit_actions(db).count("entries.apps_unlinked") == 1


def test_a_link_past_the_platforms_limit_is_refused_beside_the_mini_program(
    console: Console, app_client: TestClient, settings: Settings, db: Database
) -> None:
    # given a limit of no same-entity Mini Program per OA
    cast(FastAPI, app_client.app).state.settings = settings.model_copy(
        update={"entries_oa_same_entity_mps": 0}
    )
    # when the owner asks for the link
    refused = console.client.post("/apps/links", headers=console.htmx(), data=ASK)
    # then the Mini Program's field says why, in Chinese, and the choice is kept
    assert refused.status_code == 409
    assert '<p class="field-error" id="err-mp_appid">一个公众号最多关联 0 个同主体小程序' in (
        refused.text
    )
    assert "entries.limit.oa_same_entity_mps" in refused.text
    assert f'<option value="{MP_APPID}" selected>' in refused.text
    assert links(db) == []


def test_an_unknown_status_or_link_is_refused_and_nothing_changes(
    console: Console, db: Database
) -> None:
    console.client.post("/apps/links", headers=console.htmx(), data=ASK)
    with db.session_scope() as session:
        link_id = session.scalars(select(Association.id)).one()
    bad = console.client.post(
        f"/apps/links/{link_id}/status", headers=console.htmx(), data={"status": "unlinked"}
    )
    assert bad.status_code == 422
    missing = console.client.post("/apps/links/999999/unlink", headers=console.htmx())
    assert missing.status_code == 404
    assert "找不到这条关联记录。" in missing.text
    assert links(db) == ["pending"]


def test_a_role_without_the_permission_gets_403_and_nothing_is_written(
    app_client: TestClient, db: Database, workspace_id: int
) -> None:
    service = make_staff(db, workspace_id, Role.customer_service)
    client = TestClient(app_client.app)
    assert client.get("/apps/links", headers=service.headers).status_code == 403
    crafted = client.post("/apps/links", headers=service.headers, data=ASK)
    assert crafted.status_code == 403
    assert '<code class="code">security.forbidden</code>' in crafted.text
    with db.session_scope() as session:
        assert session.scalar(select(func.count()).select_from(Association)) == 0
