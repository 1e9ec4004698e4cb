"""Pushes to siyu, checked by wechatpy: signatures, encryption, events, retries and replies (§1)."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import httpx
import pytest
from wechatpy import parse_message
from wechatpy.crypto import WeChatCrypto
from wechatpy.replies import TextReply, TransferCustomerServiceReply

from siyu.sandbox.push import UNAVAILABLE
from tests.support.sandbox import AES_KEY, MP, OA, PUSH_TOKEN, SUB, Sandbox, opened

oa_crypto = WeChatCrypto(PUSH_TOKEN, AES_KEY, OA)


def last_message(sb: Sandbox, appid: str = OA) -> Any:
    return parse_message(opened(sb.receiver.pushes(appid)[-1], appid))


def permanent_ticket(sb: Sandbox, scene: int) -> str:
    body = {"action_name": "QR_LIMIT_SCENE", "action_info": {"scene": {"scene_id": scene}}}
    return str(sb.post("/cgi-bin/qrcode/create", OA, body)["ticket"])


def test_plaintext_push_is_signed_and_names_the_user(sandbox: Sandbox) -> None:
    user = sandbox.user()
    assert sandbox.act("follow", user, SUB).ok
    request = sandbox.receiver.pushes(SUB)[-1]
    assert request.url.params["openid"] == sandbox.openid(user, SUB)
    assert "encrypt_type" not in request.url.params
    follow = parse_message(opened(request, SUB))
    assert (follow.event, follow.source) == ("subscribe", sandbox.openid(user, SUB))
    assert follow.target == sandbox.world.account(SUB).original_id
    assert follow.create_time.timestamp() == sandbox.world.now().timestamp()


def test_secure_push_carries_only_the_recipient_and_the_ciphertext(sandbox: Sandbox) -> None:
    sandbox.act("follow", sandbox.user(), OA)
    request = sandbox.receiver.pushes(OA)[-1]
    assert request.url.params["encrypt_type"] == "aes"
    body = request.content.decode()
    assert "<Encrypt>" in body
    assert "<FromUserName>" not in body
    assert parse_message(opened(request)).event == "subscribe"


def test_compatible_push_carries_both(sandbox: Sandbox) -> None:
    spec = sandbox.world.account(SUB).spec.model_copy(
        update={"mode": "compatible", "aes_key": AES_KEY}
    )
    sandbox.world.register(spec)
    sandbox.act("follow", sandbox.user(), SUB)
    request = sandbox.receiver.pushes(SUB)[-1]
    assert "<FromUserName>" in request.content.decode()
    assert "<Encrypt>" in request.content.decode()
    assert parse_message(opened(request, SUB)).event == "subscribe"


def test_follow_through_a_qr_code_then_scan_again(sandbox: Sandbox) -> None:
    # given a permanent code for scene 42
    ticket = permanent_ticket(sandbox, 42)
    user = sandbox.user()
    # when a stranger scans it, then siyu gets subscribe with qrscene_42 and the ticket
    assert sandbox.act("scan", user, OA, ticket=ticket).ok
    follow = last_message(sandbox)
    assert (follow.event, follow.scene_id, follow.ticket) == ("subscribe_scan", "42", ticket)
    # when the follower scans again, then it is SCAN with the bare scene
    assert sandbox.act("scan", user, OA, ticket=ticket).ok
    scan = last_message(sandbox)
    assert (scan.event, scan.scene_id) == ("scan", "42")
    # and nobody scans without a code
    assert not sandbox.act("scan", user, OA).ok


def test_an_expired_code_cannot_be_scanned(sandbox: Sandbox) -> None:
    body = {
        "action_name": "QR_SCENE",
        "expire_seconds": 60,
        "action_info": {"scene": {"scene_id": 9}},
    }
    ticket = sandbox.post("/cgi-bin/qrcode/create", OA, body)["ticket"]
    sandbox.clock.advance(timedelta(seconds=60))
    outcome = sandbox.act("scan", sandbox.user(), OA, ticket=ticket)
    assert not outcome.ok
    assert sandbox.receiver.pushes(OA) == []


def test_text_message_has_a_64_bit_msgid(sandbox: Sandbox) -> None:
    user = sandbox.user()
    sandbox.act("follow", user, OA)
    sandbox.act("text", user, OA, text="报名")
    text = last_message(sandbox)
    assert (text.type, text.content) == ("text", "报名")
    assert 2**62 <= int(text.id) < 2**63


def test_menu_clicks(sandbox: Sandbox) -> None:
    menu = [
        {"type": "click", "name": "打卡", "key": "CHECKIN"},
        {"type": "view", "name": "官网", "url": "https://example.com/"},
        {
            "type": "miniprogram",
            "name": "小程序",
            "url": "https://example.com/",
            "appid": MP,
            "pagepath": "pages/index/index",
        },
    ]
    sandbox.post("/cgi-bin/menu/create", OA, {"button": menu})
    user = sandbox.user()
    assert not sandbox.act("click", user, OA, key="CHECKIN").ok  # only followers see the menu
    sandbox.act("follow", user, OA)
    sandbox.act("click", user, OA, key="CHECKIN")
    assert (last_message(sandbox).event, last_message(sandbox).key) == ("click", "CHECKIN")
    sandbox.act("click", user, OA, key="官网")
    assert (last_message(sandbox).event, last_message(sandbox).url) == (
        "view",
        "https://example.com/",
    )
    sandbox.act("click", user, OA, key="小程序")
    assert last_message(sandbox).event == "view_miniprogram"
    assert not sandbox.act("click", user, OA, key="NOPE").ok


def test_mini_program_pushes_json(sandbox: Sandbox) -> None:
    # given a user accepting one template and refusing another in the MP
    user = sandbox.user()
    accept, reject = sandbox.template_id(MP, "打卡提醒"), sandbox.template_id(MP, "退款通知")
    assert sandbox.act("accept_subscribe", user, MP, template_ids=[accept], rejected=[reject]).ok
    # then siyu gets a JSON subscribe_msg_popup_event listing both
    request = sandbox.receiver.pushes(MP)[-1]
    assert request.headers["content-type"] == "application/json"
    popup = json.loads(opened(request, MP))
    assert popup["Event"] == "subscribe_msg_popup_event"
    assert [(i["TemplateId"], i["SubscribeStatusString"]) for i in popup["List"]] == [
        (accept, "accept"),
        (reject, "reject"),
    ]
    assert user.credits == {(MP, accept): 1}


def test_xml_subscribe_popup_parses_with_wechatpy(sandbox: Sandbox) -> None:
    spec = sandbox.world.account(MP).spec.model_copy(update={"data_format": "xml"})
    sandbox.world.register(spec)
    tid = sandbox.template_id(MP, "打卡提醒")
    sandbox.act("accept_subscribe", sandbox.user(), MP, template_ids=[tid])
    popup = last_message(sandbox, MP)
    assert popup.subscribes == [
        {"TemplateId": tid, "SubscribeStatusString": "accept", "PopupScene": "0"}
    ]


# -- retries (§1.4) ----------------------------------------------------------------------------


def timeout(request: httpx.Request) -> httpx.Response:
    raise httpx.ReadTimeout("no answer within 5 s", request=request)


def server_error(request: httpx.Request) -> httpx.Response:
    return httpx.Response(500)


def test_a_push_without_an_answer_is_sent_again_unchanged(sandbox: Sandbox) -> None:
    # given a follower, and siyu missing the next two tries
    user = sandbox.user()
    sandbox.act("follow", user, OA)
    sandbox.receiver.answers = [timeout, server_error]
    # when the user writes
    outcome = sandbox.act("text", user, OA, text="在吗")
    # then the third try lands, and all three were the same request
    assert (outcome.ok, outcome.attempts) == (True, 3)
    tries = sandbox.receiver.pushes(OA)[-3:]
    assert len({(t.content, str(t.url)) for t in tries}) == 1
    assert not [i for i in user.inbox if i.via == "system"]


def test_three_failed_tries_leave_the_user_with_wechats_notice(sandbox: Sandbox) -> None:
    user = sandbox.user()
    sandbox.receiver.answers = [timeout, timeout, timeout]
    outcome = sandbox.act("follow", user, OA)
    assert (outcome.ok, outcome.attempts) == (False, 3)
    assert len(sandbox.receiver.pushes(OA)) == 3
    assert user.inbox[-1].content == {"Content": UNAVAILABLE}


# -- passive replies (§1.2, §1.4) ----------------------------------------------------------------


def reply_with(make: Any) -> Any:
    """A receiver that decrypts the push with wechatpy and answers an encrypted reply."""

    def handler(request: httpx.Request) -> httpx.Response:
        incoming = parse_message(opened(request))
        xml = make(incoming).render()
        q = request.url.params
        return httpx.Response(200, text=oa_crypto.encrypt_message(xml, q["nonce"], q["timestamp"]))

    return handler


def test_an_encrypted_passive_reply_reaches_the_user(sandbox: Sandbox) -> None:
    sandbox.receiver.default = reply_with(lambda m: TextReply(content="欢迎关注！", message=m))
    user = sandbox.user()
    outcome = sandbox.act("follow", user, OA)
    assert outcome.ok
    received = user.inbox[-1]
    assert (received.via, received.msgtype, received.content) == (
        "passive_reply",
        "text",
        {"Content": "欢迎关注！"},
    )


def test_a_transfer_to_customer_service_shows_nothing(sandbox: Sandbox) -> None:
    sandbox.receiver.default = reply_with(lambda m: TransferCustomerServiceReply(message=m))
    user = sandbox.user()
    assert sandbox.act("follow", user, OA).ok
    assert user.inbox == []


def test_plaintext_reply_in_plaintext_mode(sandbox: Sandbox) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        incoming = parse_message(request.content.decode())
        return httpx.Response(200, text=TextReply(content="你好", message=incoming).render())

    sandbox.receiver.default = handler
    user = sandbox.user()
    sandbox.act("follow", user, SUB)
    assert user.inbox[-1].content == {"Content": "你好"}


@pytest.mark.parametrize(
    "body",
    [
        "<xml><ToUserName>x</ToUserName><MsgType>text</MsgType></xml>",  # plaintext in secure mode
        "<xml><Encrypt>AAAA</Encrypt><MsgSignature>bad</MsgSignature></xml>",
        '{"reply": "json"}',
    ],
)
def test_a_reply_wechat_cannot_read_shows_its_notice(sandbox: Sandbox, body: str) -> None:
    sandbox.receiver.default = lambda request: httpx.Response(200, text=body)
    user = sandbox.user()
    outcome = sandbox.act("follow", user, OA)
    assert not outcome.ok
    assert (user.inbox[-1].via, user.inbox[-1].content) == ("system", {"Content": UNAVAILABLE})


def test_success_and_empty_answers_show_nothing(sandbox: Sandbox) -> None:
    sandbox.receiver.answers = [
        lambda r: httpx.Response(200, text="success"),
        lambda r: httpx.Response(200),
    ]
    user = sandbox.user()
    sandbox.act("follow", user, OA)
    sandbox.act("text", user, OA, text="hi")
    assert user.inbox == []


# -- the MP client calling siyu ---------------------------------------------------------------


def test_mp_login_posts_the_code_to_siyu(sandbox: Sandbox) -> None:
    # given siyu's session endpoint trading the code at the sandbox
    sessions: list[dict[str, Any]] = []

    def siyu_session(request: httpx.Request) -> httpx.Response:
        assert request.url.path == f"/api/mp/{MP}/session"
        code = json.loads(request.content)["code"]
        params = {"appid": MP, "secret": "0123456789abcdef0123456789abcdef", "js_code": code}
        sessions.append(sandbox.client.get("/sns/jscode2session", params=params).json())
        return httpx.Response(200, json={"token": "t"})

    sandbox.receiver.default = siyu_session
    user = sandbox.user()
    # when the user opens the MP and logs in
    outcome = sandbox.act("mp_login", user, MP)
    # then siyu received a working code for this user
    assert outcome.ok
    assert outcome.data["response"] == {"token": "t"}
    assert sessions[0]["openid"] == sandbox.openid(user, MP)


def test_bind_phone_sends_the_code_with_the_session_token(sandbox: Sandbox) -> None:
    # given siyu issuing a session token and trading phone codes at the sandbox
    phones: list[dict[str, Any]] = []

    def siyu_mp(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/session"):
            return httpx.Response(200, json={"token": "session-1", "member_number": 1})
        assert request.headers["authorization"] == "Bearer session-1"
        code = json.loads(request.content)["code"]
        body = {"code": code}
        phones.append(sandbox.post("/wxa/business/getuserphonenumber", MP, body))
        return httpx.Response(200, json={"bound": True})

    sandbox.receiver.default = siyu_mp
    user = sandbox.user()
    # when the user binds a phone before and after logging in
    assert "log in first" in str(sandbox.act("bind_phone", user, MP).error)
    assert sandbox.act("mp_login", user, MP).ok
    outcome = sandbox.act("bind_phone", user, MP)
    # then siyu got a code worth the user's phone number
    assert outcome.ok
    assert phones[0]["phone_info"]["purePhoneNumber"] == user.phone


def test_share_records_a_group_card(sandbox: Sandbox) -> None:
    outcome = sandbox.act("share", sandbox.user(), MP, path="pages/checkin/index")
    assert outcome.ok
    assert outcome.data["opengid"].startswith("tG")
    assert sandbox.world.account(MP).shares[0]["path"] == "pages/checkin/index"
    assert sandbox.receiver.requests == []  # WeChat pushes nothing for shares
