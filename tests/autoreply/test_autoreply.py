"""Auto-replies: keyword, follow and default replies on the OA (passive), the same rules on the
Mini Program (customer-service API), tags applied once, unsafe patterns refused, the tester."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from siyu.autoreply.models import AutoReplyRule
from siyu.core.db import Database
from siyu.identity import service as identity
from siyu.security.models import AuditEntry
from siyu.security.schemas import Principal
from siyu.workspaces.schemas import AppRead
from tests.support.names import MP_APPID, OA_APPID
from tests.support.reach import Person, member_of
from tests.support.wechat import WeChat, event_push, message_push

NewPerson = Callable[[], Person]
pytestmark = pytest.mark.usefixtures("oa_app", "mp_app")


def add_rule(api: TestClient, **body: Any) -> dict[str, Any]:
    response = api.post("/api/autoreply/rules", json={"appid": OA_APPID, **body})
    assert response.status_code == 201, response.text
    result: dict[str, Any] = response.json()
    return result


def rule_count(db: Database) -> int:
    with db.session_scope() as session:
        return session.scalar(select(func.count()).select_from(AutoReplyRule)) or 0


def test_a_keyword_answers_the_oa_and_tags_the_member_once(
    api: TestClient, oa: WeChat, db: Database, drain: Callable[[], int]
) -> None:
    # given a rule: "课程" answers with the timetable and tags the member
    add_rule(
        api,
        keywords=["课程"],
        reply={"type": "text", "content": "课程表见菜单"},
        tag="问过课程",
    )
    add_rule(api, kind="default", reply={"type": "text", "content": "稍后回复您"})
    who = "o9AgO5Kd5ggOC-bXrbNODIiE3bGY"
    # when the follower writes "课程" (and WeChat retries the same message)
    first = oa.plain(message_push(who, "课程", msg_id=7001))
    again = oa.plain(message_push(who, "课程", msg_id=7001))
    drain()
    # then both answers carry the rule's reply, and the member is tagged once
    assert "课程表见菜单" in first.text
    assert again.text == first.text
    member = member_of(db, who)
    with db.session_scope() as session:
        assert identity.member_tags(session, member) == ["问过课程"]
    # and a message no keyword matches gets the default reply
    assert "稍后回复您" in oa.plain(message_push(who, "你好")).text


def test_the_follow_reply_answers_plain_follows_and_leaves_channel_follows_to_entries(
    api: TestClient, oa: WeChat
) -> None:
    add_rule(
        api,
        kind="follow",
        reply={"type": "news", "articles": [{"title": "欢迎", "url": "https://e.x/w"}]},
    )
    plain = oa.plain(event_push("o9AgO5Kd5ggOC-bXrbNODIiE3bGY", "subscribe"))
    assert "<ArticleCount>1</ArticleCount>" in plain.text
    assert "欢迎" in plain.text


def test_the_mini_program_is_answered_through_the_customer_service_api(
    api: TestClient, db: Database, person: NewPerson
) -> None:
    # given an MP rule answering "打卡" with an MP card and a text rule
    add_rule(
        api,
        appid=MP_APPID,
        keywords=["打卡"],
        reply={
            "type": "mp_card",
            "title": "今日打卡",
            "appid": MP_APPID,
            "pagepath": "pages/checkin/index",
            "thumb_media_id": "thumb-1",
        },
    )
    # when the user writes to the MP's customer service
    p = person()
    p.write("打卡", app=MP_APPID)
    # then the card arrives through the customer-service API (the window their message opened)
    custom = [i for i in p.user.inbox if i.via == "custom"]
    assert [(i.appid, i.msgtype) for i in custom] == [(MP_APPID, "miniprogrampage")]
    assert custom[0].content["pagepath"] == "pages/checkin/index"


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({"match": "regex", "keywords": ["(a+)+$"]}, "autoreply.invalid_regex"),
        ({"match": "regex", "keywords": ["(unclosed"]}, "autoreply.invalid_regex"),
        ({"keywords": []}, "autoreply.invalid_rule"),
        ({"keywords": ["x"], "reply": {"type": "text"}}, "autoreply.invalid_reply"),
        (
            {"appid": MP_APPID, "keywords": ["x"], "reply": {"type": "news", "articles": []}},
            "autoreply.invalid_reply",
        ),
        ({"appid": MP_APPID, "kind": "follow"}, "autoreply.invalid_rule"),
    ],
)
def test_bad_rules_are_refused_and_nothing_is_written(
    api: TestClient, db: Database, body: dict[str, Any], code: str
) -> None:
    payload = {"appid": OA_APPID, "reply": {"type": "text", "content": "x"}, **body}
    response = api.post("/api/autoreply/rules", json=payload)
    assert (response.status_code, response.json()["code"]) == (422, code)
    assert rule_count(db) == 0


def test_the_tester_names_the_rule_a_message_hits(api: TestClient) -> None:
    hit = add_rule(
        api, match="regex", keywords=[r"^退(款|费)"], reply={"type": "text", "content": "请稍候"}
    )
    found = api.post(
        "/api/autoreply/test", json={"appid": OA_APPID, "message": "退款怎么办"}
    ).json()
    assert found["rule"]["id"] == hit["id"]
    assert found["reply"]["content"] == "请稍候"
    none = api.post("/api/autoreply/test", json={"appid": OA_APPID, "message": "你好"}).json()
    assert none == {"rule": None, "reply": None}


def audit_rows(db: Database) -> list[tuple[str, str, str | None, str | None, dict[str, Any]]]:
    with db.session_scope() as session:
        rows = session.scalars(
            select(AuditEntry)
            .where(AuditEntry.action.startswith("autoreply."))
            .order_by(AuditEntry.id)
        ).all()
        return [(r.action, r.actor, r.target_type, r.target_id, dict(r.detail)) for r in rows]


def test_adding_and_deleting_a_rule_is_audited_for_the_operator(
    api: TestClient, db: Database, owner: Principal, oa_app: AppRead
) -> None:
    # given a rule the operator added
    rule = add_rule(api, keywords=["课程"], reply={"type": "text", "content": "课程表见菜单"})
    # when they delete it
    deleted = api.delete(f"/api/autoreply/rules/{rule['id']}")
    # then it is gone, and both steps are audited under their name
    assert deleted.status_code == 204
    assert rule_count(db) == 0
    target = str(rule["id"])
    assert audit_rows(db) == [
        (
            "autoreply.rule_add",
            owner.actor,
            "autoreply_rule",
            target,
            {"app_id": oa_app.id, "kind": "keyword", "match": "exact"},
        ),
        ("autoreply.rule_delete", owner.actor, "autoreply_rule", target, {}),
    ]


def test_deleting_an_unknown_rule_is_refused_and_nothing_changes(
    api: TestClient, db: Database
) -> None:
    # given a rule
    add_rule(api, keywords=["课程"], reply={"type": "text", "content": "课程表见菜单"})
    before = audit_rows(db)
    # when a rule that does not exist is deleted
    response = api.delete("/api/autoreply/rules/999999")
    # then it is refused with its code, and the rule and the audit log are as they were
    assert (response.status_code, response.json()["code"]) == (404, "autoreply.unknown_rule")
    assert rule_count(db) == 1
    assert audit_rows(db) == before
