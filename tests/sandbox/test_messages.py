"""Customer-service windows, template messages and subscribe messages, down to the inbox."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from wechatpy import parse_message
from wechatpy.crypto import WeChatCrypto

from tests.support.sandbox import AES_KEY, MP, OA, PUSH_TOKEN, SUB, Sandbox


def text_to(openid: str, content: str = "您好") -> dict[str, Any]:
    return {"touser": openid, "msgtype": "text", "text": {"content": content}}


def custom(sb: Sandbox, appid: str, openid: str) -> int:
    return int(sb.post("/cgi-bin/message/custom/send", appid, text_to(openid))["errcode"])


# -- customer service (§2.5) --------------------------------------------------------------------


def test_no_window_no_customer_service_message(sandbox: Sandbox) -> None:
    user = sandbox.user()
    assert sandbox.act("follow", user, OA).ok
    sandbox.clock.advance(timedelta(minutes=1))  # the follow's minute is over
    assert custom(sandbox, OA, sandbox.openid(user, OA)) == 45015


def test_a_user_message_opens_48_hours_with_five_messages(sandbox: Sandbox) -> None:
    # given a follower who wrote a minute after following
    user = sandbox.user()
    sandbox.act("follow", user, OA)
    sandbox.clock.advance(timedelta(minutes=1))
    assert sandbox.act("text", user, OA, text="在吗").ok
    openid = sandbox.openid(user, OA)
    # then five messages go out, the sixth is over quota
    assert [custom(sandbox, OA, openid) for _ in range(6)] == [0, 0, 0, 0, 0, 45047]
    sent = [i for i in user.inbox if i.via == "custom"]
    assert len(sent) == 5
    assert sent[0].content == {"content": "您好"}
    # and a new message from the user opens a new window
    sandbox.clock.advance(timedelta(hours=47))
    sandbox.act("text", user, OA, text="还在吗")
    sandbox.clock.advance(timedelta(hours=47, minutes=59))
    assert custom(sandbox, OA, openid) == 0
    sandbox.clock.advance(timedelta(minutes=1))
    assert custom(sandbox, OA, openid) == 45015


def test_follow_scan_and_click_allow_three_messages_in_a_minute(sandbox: Sandbox) -> None:
    user = sandbox.user()
    sandbox.act("follow", user, OA)
    openid = sandbox.openid(user, OA)
    assert [custom(sandbox, OA, openid) for _ in range(4)] == [0, 0, 0, 45047]
    # a menu click opens another minute with 3
    sandbox.post(
        "/cgi-bin/menu/create", OA, {"button": [{"type": "click", "name": "打卡", "key": "C"}]}
    )
    sandbox.clock.advance(timedelta(seconds=59))
    assert sandbox.act("click", user, OA, key="C").ok
    sandbox.clock.advance(timedelta(seconds=1))
    assert [custom(sandbox, OA, openid) for _ in range(4)] == [0, 0, 0, 45047]
    sandbox.clock.advance(timedelta(seconds=59))
    assert custom(sandbox, OA, openid) == 45015


def test_a_scan_by_a_follower_allows_three_messages(sandbox: Sandbox) -> None:
    body = {"action_name": "QR_LIMIT_SCENE", "action_info": {"scene": {"scene_id": 1}}}
    ticket = sandbox.post("/cgi-bin/qrcode/create", OA, body)["ticket"]
    user = sandbox.user()
    sandbox.act("follow", user, OA)
    sandbox.clock.advance(timedelta(minutes=1))
    openid = sandbox.openid(user, OA)
    assert custom(sandbox, OA, openid) == 45015
    assert sandbox.act("scan", user, OA, ticket=ticket).ok
    assert [custom(sandbox, OA, openid) for _ in range(4)] == [0, 0, 0, 45047]


def test_unfollowing_closes_the_window(sandbox: Sandbox) -> None:
    user = sandbox.user()
    sandbox.act("follow", user, OA)
    sandbox.act("text", user, OA, text="hi")
    sandbox.act("unfollow", user, OA)
    assert custom(sandbox, OA, sandbox.openid(user, OA)) == 45015


def test_mini_program_customer_service(sandbox: Sandbox) -> None:
    user = sandbox.user()
    openid = sandbox.openid(user, MP)
    assert custom(sandbox, MP, openid) == 45015
    sandbox.act("enter_chat", user, MP, text="order-1")
    assert [custom(sandbox, MP, openid) for _ in range(3)] == [0, 0, 45047]


def test_customer_service_refusals(sandbox: Sandbox) -> None:
    user = sandbox.user()
    sandbox.act("follow", user, OA)
    openid = sandbox.openid(user, OA)
    image = {"touser": openid, "msgtype": "sticker", "sticker": {}}
    assert sandbox.post("/cgi-bin/message/custom/send", OA, image)["errcode"] == 40008
    assert custom(sandbox, OA, "o" + "x" * 27) == 40003
    assert custom(sandbox, MP, openid) == 49003  # an OA openid sent with the MP's token


# -- template messages (§2.4) -------------------------------------------------------------------


def template(sb: Sandbox, openid: str, **extra: Any) -> dict[str, Any]:
    body = {
        "touser": openid,
        "template_id": sb.template_id(OA, "报名成功通知"),
        "data": {"thing1": {"value": "21天早起"}, "time2": {"value": "2026年11月21日 07:00"}},
        **extra,
    }
    return sb.post("/cgi-bin/message/template/send", OA, body)  # type: ignore[no-any-return]


def test_template_message_reaches_a_follower_and_reports_back(sandbox: Sandbox) -> None:
    # given a follower
    user = sandbox.user()
    sandbox.act("follow", user, OA)
    openid = sandbox.openid(user, OA)
    # when a template message is sent
    answer = template(sandbox, openid, url="https://example.com/a")
    # then it answers a msgid and the user has it
    assert answer["errcode"] == 0
    assert isinstance(answer["msgid"], int)
    received = user.inbox[-1]
    assert (received.via, received.content["title"]) == ("template", "报名成功通知")
    assert received.content["url"] == "https://example.com/a"
    # and siyu is told TEMPLATESENDJOBFINISH with the same MsgID
    push = sandbox.receiver.pushes(OA)[-1]
    crypto = WeChatCrypto(PUSH_TOKEN, AES_KEY, OA)
    q = push.url.params
    xml = crypto.decrypt_message(
        push.content.decode(), q["msg_signature"], q["timestamp"], q["nonce"]
    )
    finished = parse_message(xml)
    assert finished.event == "templatesendjobfinish"
    assert (int(finished.id), finished.status) == (answer["msgid"], "success")


def test_template_message_refusals(sandbox: Sandbox) -> None:
    user = sandbox.user()
    openid = sandbox.openid(user, OA)
    assert template(sandbox, openid)["errcode"] == 43004  # not a follower
    sandbox.act("follow", user, OA)
    assert template(sandbox, openid, template_id="nope")["errcode"] == 40037
    assert template(sandbox, "o" + "y" * 27)["errcode"] == 40003
    sub_body = {"touser": sandbox.openid(user, SUB), "template_id": "x", "data": {}}
    assert sandbox.post("/cgi-bin/message/template/send", SUB, sub_body)["errcode"] == 48001
    assert not [i for i in user.inbox if i.via == "template"]


def test_same_client_msg_id_sends_once_within_10_minutes(sandbox: Sandbox) -> None:
    user = sandbox.user()
    sandbox.act("follow", user, OA)
    openid = sandbox.openid(user, OA)
    first = template(sandbox, openid, client_msg_id="reminder-1")
    again = template(sandbox, openid, client_msg_id="reminder-1")
    assert again["msgid"] == first["msgid"]
    assert len([i for i in user.inbox if i.via == "template"]) == 1
    sandbox.clock.advance(timedelta(minutes=10))
    assert template(sandbox, openid, client_msg_id="reminder-1")["msgid"] != first["msgid"]


def test_a_user_who_blocks_templates_gets_nothing_and_siyu_hears_it(sandbox: Sandbox) -> None:
    user = sandbox.user()
    sandbox.act("follow", user, OA)
    user.blocks_templates.add(OA)
    assert template(sandbox, sandbox.openid(user, OA))["errcode"] == 0
    assert not [i for i in user.inbox if i.via == "template"]
    push = sandbox.receiver.pushes(OA)[-1]
    q = push.url.params
    crypto = WeChatCrypto(PUSH_TOKEN, AES_KEY, OA)
    xml = crypto.decrypt_message(
        push.content.decode(), q["msg_signature"], q["timestamp"], q["nonce"]
    )
    assert parse_message(xml).status == "failed:user block"


# -- subscribe messages (§3) ----------------------------------------------------------------------


def subscribe(
    sb: Sandbox, openid: str, data: dict[str, str] | None = None, **extra: Any
) -> dict[str, Any]:
    values = data or {"thing1": "21天早起", "time2": "2026年11月21日 07:00", "number3": "3"}
    body = {
        "touser": openid,
        "template_id": sb.template_id(MP, "打卡提醒"),
        "data": {k: {"value": v} for k, v in values.items()},
        **extra,
    }
    return sb.post("/cgi-bin/message/subscribe/send", MP, body)  # type: ignore[no-any-return]


def test_subscribe_message_spends_one_accepted_credit(sandbox: Sandbox) -> None:
    # given a user who has not accepted the prompt
    user = sandbox.user()
    openid = sandbox.openid(user, MP)
    assert subscribe(sandbox, openid)["errcode"] == 43101
    # when they accept it once
    tid = sandbox.template_id(MP, "打卡提醒")
    assert sandbox.act("accept_subscribe", user, MP, template_ids=[tid]).ok
    # then exactly one message goes out, into 服务通知
    assert subscribe(sandbox, openid, page="pages/checkin/index?day=1")["errcode"] == 0
    assert subscribe(sandbox, openid)["errcode"] == 43101
    received = [i for i in user.inbox if i.via == "subscribe"]
    assert len(received) == 1
    assert received[0].content["page"] == "pages/checkin/index?day=1"


@pytest.mark.parametrize(
    ("values", "field"),
    [
        ({"thing1": "一" * 21, "time2": "07:00", "number3": "1"}, "thing1"),
        ({"thing1": "早起", "time2": "明天早上", "number3": "1"}, "time2"),
        ({"thing1": "早起", "time2": "07:00", "number3": "三"}, "number3"),
        ({"thing1": "早起", "time2": "07:00"}, "number3"),
    ],
)
def test_subscribe_data_rules_name_the_field(
    sandbox: Sandbox, values: dict[str, str], field: str
) -> None:
    user = sandbox.user()
    tid = sandbox.template_id(MP, "打卡提醒")
    sandbox.act("accept_subscribe", user, MP, template_ids=[tid])
    answer = subscribe(sandbox, sandbox.openid(user, MP), values)
    assert answer["errcode"] == 47003
    assert f"data.{field}.value" in answer["errmsg"]
    assert user.credits[(MP, tid)] == 1  # a refused send keeps the credit


@pytest.mark.parametrize(
    ("value", "valid"),
    [("¥100.00", True), ("100元", True), ("12345678901", False), ("一百", False)],
)
def test_amount_rule(sandbox: Sandbox, value: str, valid: bool) -> None:
    user = sandbox.user()
    tid = sandbox.template_id(MP, "退款通知")
    sandbox.act("accept_subscribe", user, MP, template_ids=[tid])
    body = {
        "touser": sandbox.openid(user, MP),
        "template_id": tid,
        "data": {"amount1": {"value": value}, "phrase2": {"value": "已退款"}},
    }
    answer = sandbox.post("/cgi-bin/message/subscribe/send", MP, body)
    assert (answer["errcode"] == 0) is valid


def test_subscribe_message_refusals(sandbox: Sandbox) -> None:
    user = sandbox.user()
    openid = sandbox.openid(user, MP)
    assert subscribe(sandbox, openid, template_id="nope")["errcode"] == 40037
    assert subscribe(sandbox, openid, page="pages/missing/index")["errcode"] == 41030
    body = {"touser": sandbox.openid(user, OA), "template_id": "x", "data": {}}
    assert sandbox.post("/cgi-bin/message/subscribe/send", OA, body)["errcode"] == 48001
