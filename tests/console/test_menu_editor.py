"""The visual menu editor as a person uses it (plain form posts, as without JavaScript): a
tree of buttons saved as WeChat's JSON, a refusal beside the button and field it names with
everything typed kept (tree and JSON), the JSON editor still there, and the roles."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from siyu.core.db import Database
from siyu.entries.models import MenuVersion
from siyu.security.enums import Role
from tests.support.console import Console
from tests.support.names import MP_APPID, OA_APPID
from tests.support.security import make_staff

pytestmark = pytest.mark.usefixtures("oa_app", "mp_app")

TREE = {
    "b1.name": "今日打卡",
    "b1.type": "click",
    "b1.key": "CHECKIN_TODAY",
    # b2 left empty: the tree skips it
    "b3.name": "更多",
    "b3.s1.name": "官网",
    "b3.s1.type": "view",
    "b3.s1.url": "https://example.com/",
    "b3.s2.name": "我的报名",
    "b3.s2.type": "click",
    "b3.s2.key": "MY_ENROLLMENTS",
}
SAVED = [
    {"type": "click", "name": "今日打卡", "key": "CHECKIN_TODAY"},
    {
        "name": "更多",
        "sub_button": [
            {"type": "view", "name": "官网", "url": "https://example.com/"},
            {"type": "click", "name": "我的报名", "key": "MY_ENROLLMENTS"},
        ],
    },
]


def post_tree(console: Console, fields: dict[str, str], action: str = "save") -> Any:
    data = {"csrf_token": console.csrf, "appid": OA_APPID, "source": "tree", "action": action}
    return console.client.post("/menus", data={**data, **fields})


def versions(db: Database) -> list[list[dict[str, Any]]]:
    with db.session_scope() as session:
        return list(session.scalars(select(MenuVersion.buttons).order_by(MenuVersion.id)))


def field_error(html: str, name: str) -> str:
    found = re.search(rf'<p class="field-error" id="err-{re.escape(name)}">([^<]+)</p>', html)
    assert found is not None, f"no error beside {name}"
    return found.group(1)


def test_the_editor_renders_in_chinese_with_the_tree_and_the_json(console: Console) -> None:
    page = console.client.get("/menus")
    assert page.status_code == 200
    for text in ("菜单编辑", "第 1 个按钮", "子按钮 5", "最多 16 字节", "JSON（微信格式，高级）"):
        assert text in page.text
    assert 'name="b3.s5.name"' in page.text  # 3 buttons, 5 sub-buttons each


def test_a_menu_made_in_the_tree_is_saved_as_wechats_json_and_shown_again(
    console: Console, db: Database
) -> None:
    # when the operator fills two buttons (one with sub-buttons) and saves
    saved = post_tree(console, TREE)
    # then version 1 holds the menu in WeChat's format, in the tree's order
    assert saved.status_code == 200
    assert "已保存为版本 1。" in saved.text
    assert versions(db) == [SAVED]
    # and the editor shows it again, in the tree and in the JSON
    page = console.client.get("/menus").text
    assert 'name="b2.s2.key" value="MY_ENROLLMENTS"' in page
    assert "&#34;CHECKIN_TODAY&#34;" in page or '"CHECKIN_TODAY"' in page


def test_a_refusal_shows_beside_the_button_it_names_and_keeps_what_was_typed(
    console: Console, db: Database
) -> None:
    too_long = "我的报名和打卡记录我的报名和打卡记录我的报名和打卡记录"  # 78 bytes > 60
    # when a sub-button's name is too long for WeChat
    refused = post_tree(console, {**TREE, "b3.s2.name": too_long})
    # then the page (not an error page) says so beside that sub-button's name, in Chinese
    assert refused.status_code == 422
    said = field_error(refused.text, "b2-s2-name")  # shown as the 2nd button: no gap
    assert said.startswith("菜单第 2 个按钮的第 2 个子按钮（button[2].sub_button[2]）")
    assert "应为 1–60 字节" in said
    assert '<code class="code">entries.menu_invalid</code>' in refused.text
    assert 'class="menu-button sub broken"' in refused.text
    # and everything typed is still there, in the tree and in the JSON, and nothing was saved
    assert f'name="b2.s2.name" value="{too_long}"' in refused.text
    assert 'name="b1.key" value="CHECKIN_TODAY"' in refused.text
    assert too_long in refused.text.split('name="menu"')[1]
    assert "菜单编辑" in refused.text
    assert versions(db) == []


def test_an_unlinked_mini_program_is_said_beside_its_field_with_the_way_to_link_it(
    console: Console, db: Database
) -> None:
    fields = {
        "b1.name": "打卡",
        "b1.type": "miniprogram",
        "b1.url": "https://example.com/",
        "b1.appid": MP_APPID,
        "b1.pagepath": "pages/index/index",
    }
    refused = post_tree(console, fields, action="preview")
    assert refused.status_code == 422
    assert "未关联到这个公众号" in field_error(refused.text, "b1-appid")
    assert 'href="/apps/links"' in refused.text
    assert f'<option value="{MP_APPID}" selected>' in refused.text
    assert versions(db) == []


def test_the_json_editor_still_works_and_its_refusal_keeps_the_text(
    console: Console, db: Database
) -> None:
    base = {"csrf_token": console.csrf, "appid": OA_APPID, "source": "json"}
    # when the operator types JSON that is not JSON
    broken = console.client.post("/menus", data={**base, "menu": '{"button": [', "action": "save"})
    assert broken.status_code == 422
    assert "菜单不是有效的 JSON" in field_error(broken.text, "menu")
    assert "{&#34;button&#34;: [</textarea>" in broken.text
    # when the JSON is good: it is saved and laid out in the tree
    good = json.dumps({"button": SAVED}, ensure_ascii=False)
    saved = console.client.post("/menus", data={**base, "menu": good, "action": "save"})
    assert saved.status_code == 200
    assert versions(db) == [SAVED]
    assert 'name="b2.s1.url" value="https://example.com/"' in saved.text


def test_a_reader_sees_no_save_and_a_crafted_save_is_403(
    app_client: TestClient, db: Database, workspace_id: int
) -> None:
    client = TestClient(app_client.app)
    analyst = make_staff(db, workspace_id, Role.analyst)  # reads menus and their report
    page = client.get("/menus", headers=analyst.headers)
    assert page.status_code == 200
    assert 'value="save"' not in page.text
    crafted = client.post(
        "/menus",
        headers=analyst.headers,
        data={"appid": OA_APPID, "source": "tree", "action": "save", **TREE},
    )
    assert crafted.status_code == 403
    assert '<code class="code">security.forbidden</code>' in crafted.text
    service = make_staff(db, workspace_id, Role.customer_service)
    assert client.get("/menus", headers=service.headers).status_code == 403
    with db.session_scope() as session:
        assert session.scalar(select(func.count()).select_from(MenuVersion)) == 0
