"""Menu click replies: a rule of kind `menu_click` answers a click on the button whose key it
names (passively within the budget, through the customer-service API after it), and never a
text message carrying the same words."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, cast

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from siyu.autoreply.models import AutoReplyRule
from siyu.core.config import Settings
from siyu.core.db import Database
from siyu.identity import service as identity
from siyu.sandbox.messaging import open_grant
from siyu.sandbox.world import Follow
from tests.support.names import MP_APPID, OA_APPID
from tests.support.reach import Person, member_of
from tests.support.wechat import WeChat, event_push, message_push

NewPerson = Callable[[], Person]
pytestmark = pytest.mark.usefixtures("oa_app", "mp_app")
KEY = "CHECKIN_TODAY"
ANSWER = "今日打卡：点这里上传照片"


def click_push(openid: str, key: str = KEY) -> str:
    return event_push(openid, "CLICK", EventKey=key)


def add_click_rule(api: TestClient, **body: Any) -> dict[str, Any]:
    payload = {
        "appid": OA_APPID,
        "kind": "menu_click",
        "keywords": [KEY],
        "reply": {"type": "text", "content": ANSWER},
        **body,
    }
    response = api.post("/api/autoreply/rules", json=payload)
    assert response.status_code == 201, response.text
    result: dict[str, Any] = response.json()
    return result


def rule_count(db: Database) -> int:
    with db.session_scope() as session:
        return session.scalar(select(func.count()).select_from(AutoReplyRule)) or 0


def test_a_click_on_the_button_gets_the_rules_answer_and_a_retry_the_same(
    api: TestClient, oa: WeChat, db: Database, drain: Callable[[], int]
) -> None:
    # given a menu click rule for the key of the 今日打卡 button, which also tags the clicker
    add_click_rule(api, tag="点过打卡")
    who = "o9AgO5Kd5ggOC-bXrbNODIiE3bGY"
    # when the follower clicks the button (and WeChat delivers the push twice)
    push = click_push(who)
    first = oa.plain(push)
    again = oa.plain(push)
    drain()
    # then both deliveries are answered with the rule's text, and the tag is put on once
    assert ANSWER in first.text
    assert again.text == first.text
    with db.session_scope() as session:
        assert identity.member_tags(session, member_of(db, who)) == ["点过打卡"]


def test_a_text_with_the_same_words_or_another_key_gets_no_click_answer(
    api: TestClient, oa: WeChat
) -> None:
    # given only a menu click rule
    add_click_rule(api)
    who = "o9AgO5Kd5ggOC-bXrbNODIiE3bGY"
    # when the follower writes the key and the button's words, or clicks another button
    for answer in (
        oa.plain(message_push(who, KEY)),
        oa.plain(message_push(who, "今日打卡")),
        oa.plain(click_push(who, "OTHER_KEY")),
        oa.plain(click_push(who, KEY.lower())),
    ):
        # then nothing answers: a button's key is matched exactly, and only from a click
        assert answer.text == "success"
        assert ANSWER not in answer.text


def test_a_click_past_the_reply_budget_is_answered_through_the_customer_service_api(
    api: TestClient,
    client: TestClient,
    person: NewPerson,
    settings: Settings,
    drain: Callable[[], int],
) -> None:
    # given the click rule, and no time left for a passive reply
    add_click_rule(api)
    cast(FastAPI, client.app).state.settings = settings.model_copy(
        update={"push_reply_budget_ms": 0}
    )
    p = person()
    p.user.follows[OA_APPID] = Follow(True, p.world.now(), "ADD_SCENE_SEARCH")
    # when the follower clicks the button (WeChat opens the click's short window)
    open_grant(p.world, p.user, OA_APPID, "click")
    answer = p.oa_chat.plain(click_push(p.oa_openid))
    assert answer.text == "success"
    drain()
    # then the answer arrives once, through the customer-service API
    sent = [i.content for i in p.user.inbox if i.via == "custom"]
    assert sent == [{"content": ANSWER}]


@pytest.mark.parametrize(
    "body",
    [
        {"keywords": []},
        {"keywords": ["  "]},
        {"keywords": ["键" * 43]},  # 129 bytes: WeChat's keys are at most 128
        {"appid": MP_APPID},  # Mini Programs have no custom menu
    ],
)
def test_a_bad_click_rule_is_refused_and_nothing_is_written(
    api: TestClient, db: Database, body: dict[str, Any]
) -> None:
    payload = {
        "appid": OA_APPID,
        "kind": "menu_click",
        "keywords": [KEY],
        "reply": {"type": "text", "content": ANSWER},
        **body,
    }
    refused = api.post("/api/autoreply/rules", json=payload)
    assert refused.status_code == 422
    assert refused.json()["code"] == "autoreply.invalid_rule"
    assert rule_count(db) == 0
