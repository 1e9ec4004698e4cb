"""The auto-reply form offers the menu click kind: a rule made from it answers the button's
key; a click rule without a key is refused in Chinese and nothing is written."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from siyu.autoreply.models import AutoReplyRule
from siyu.core.db import Database
from tests.support.console import Console
from tests.support.names import OA_APPID
from tests.support.wechat import WeChat, event_push

pytestmark = pytest.mark.usefixtures("oa_app")


def rules(db: Database) -> list[tuple[str, list[str]]]:
    with db.session_scope() as session:
        return [(str(r.kind), list(r.keywords)) for r in session.scalars(select(AutoReplyRule))]


def test_a_click_rule_made_in_the_console_answers_the_button(
    console: Console, db: Database, oa: WeChat
) -> None:
    page = console.client.get("/autoreplies").text
    assert '<option value="menu_click">菜单点击</option>' in page
    # when the operator adds a menu click rule for the 今日打卡 button's key
    added = console.client.post(
        "/autoreplies",
        data={
            "csrf_token": console.csrf,
            "appid": OA_APPID,
            "kind": "menu_click",
            "keywords": "CHECKIN_TODAY",
            "reply_text": "今天的打卡任务：晨读 10 分钟",
        },
        follow_redirects=False,
    )
    assert added.status_code == 303
    assert rules(db) == [("menu_click", ["CHECKIN_TODAY"])]
    # then a click on that button gets the answer
    answer = oa.plain(event_push("o9AgO5Kd5ggOC-bXrbNODIiE3bGY", "CLICK", EventKey="CHECKIN_TODAY"))
    assert "今天的打卡任务：晨读 10 分钟" in answer.text
    assert "菜单点击" in console.client.get("/autoreplies").text


def test_a_click_rule_without_a_key_is_refused_in_chinese(console: Console, db: Database) -> None:
    refused = console.client.post(
        "/autoreplies",
        headers=console.htmx(),
        data={"appid": OA_APPID, "kind": "menu_click", "reply_text": "x"},
    )
    assert refused.status_code == 422
    assert refused.headers["HX-Retarget"] == "#rule-msg"
    assert "菜单点击规则至少需要一个按钮的 key。" in refused.text
    with db.session_scope() as session:
        assert session.scalar(select(func.count()).select_from(AutoReplyRule)) == 0
