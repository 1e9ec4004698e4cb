"""The gateway: typed calls and answers, typed errors, token refresh and retries, clean logs.

These run against the scripted stand-in (tests/wechat/test_gateway_standin.py) over real HTTP:
it can answer 40001, -1, 45009 on demand, which the sandbox cannot.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest
from structlog.testing import capture_logs

from siyu.core.config import Settings
from siyu.core.db import Database
from siyu.wechat.gateway import (
    API_CALLS,
    CredentialsRejected,
    Gateway,
    InvalidRequest,
    NotFollowing,
    OutsideWindow,
    QuotaExceeded,
    SubscriptionMissing,
    SystemBusy,
    TokenInvalid,
    Transport,
    UserStateError,
    WeChatError,
    WeChatUnavailable,
    WindowQuotaExceeded,
    redact,
)
from siyu.wechat.schemas import (
    CustomMessage,
    Menu,
    MenuButton,
    MiniProgramLink,
    QrCodeRequest,
    SchemeRequest,
    SubscribeMessage,
    TemplateMessage,
    UnlimitedCodeRequest,
    UrlLinkRequest,
)
from siyu.wechat.tokens import gateway_for
from siyu.workspaces.schemas import AppRead
from tests.support.names import MP_APPID, OA_APPID, openid
from tests.support.standin import JPEG, SECRET, ScriptedWeChat

STABLE = "/cgi-bin/stable_token"


@pytest.fixture
def sleeps() -> list[float]:
    """Backoff delays asked for; nothing really sleeps."""
    return []


@pytest.fixture
def transport(standin_url: str, sleeps: list[float]) -> Iterator[Transport]:
    t = Transport(standin_url, sleep=sleeps.append)
    yield t
    t.close()


@pytest.fixture
def gateway(
    settings: Settings,
    db: Database,
    transport: Transport,
    standin: ScriptedWeChat,
    mp_app: AppRead,
    oa_app: AppRead,
) -> Gateway:
    return gateway_for(settings, db, transport=transport)


def calls(path: str, errcode: str) -> float:
    """siyu_wechat_api_calls_total{path, errcode} as /metrics would show it."""
    for metric in API_CALLS.collect():
        for sample in metric.samples:
            if sample.name == "siyu_wechat_api_calls_total" and sample.labels == {
                "path": path,
                "errcode": errcode,
            }:
                return sample.value
    return 0.0


# --- typed calls --------------------------------------------------------------------------------


def test_menu_is_created_read_back_and_deleted(gateway: Gateway, standin: ScriptedWeChat) -> None:
    # given a menu with a group of sub-buttons and Chinese names
    menu = Menu(
        button=[
            MenuButton(type="click", name="今日打卡", key="checkin"),
            MenuButton(
                name="更多",
                sub_button=[
                    MenuButton(type="view", name="官网", url="https://example.com"),
                    MenuButton(
                        type="miniprogram",
                        name="小程序",
                        url="https://example.com",
                        appid=MP_APPID,
                        pagepath="pages/index",
                    ),
                ],
            ),
        ]
    )
    # when it is created and read back
    gateway.create_menu(OA_APPID, menu)
    current = gateway.get_menu(OA_APPID)
    # then WeChat got UTF-8 (not \u escapes), unset fields left out, and the nested
    # {"list": [...]} of get_current_selfmenu_info reads as plain sub-buttons
    sent = standin.last("/cgi-bin/menu/create")
    assert "今日打卡".encode() in sent.raw
    assert sent.body["button"][0] == {"type": "click", "name": "今日打卡", "key": "checkin"}
    assert current.is_menu_open == 1
    assert current.selfmenu_info.button[1].sub_button is not None
    assert [b.name for b in current.selfmenu_info.button[1].sub_button] == ["官网", "小程序"]
    gateway.delete_menu(OA_APPID)
    assert gateway.get_menu(OA_APPID).selfmenu_info.button == []


def test_qr_codes_name_their_scene_by_kind(gateway: Gateway, standin: ScriptedWeChat) -> None:
    temporary = gateway.create_qrcode(OA_APPID, QrCodeRequest.temporary(42, 2_592_000))
    assert standin.last("/cgi-bin/qrcode/create").body == {
        "action_name": "QR_SCENE",
        "expire_seconds": 2_592_000,
        "action_info": {"scene": {"scene_id": 42}},
    }
    assert temporary.expire_seconds == 2_592_000
    permanent = gateway.create_qrcode(OA_APPID, QrCodeRequest.permanent("poster-1"))
    assert standin.last("/cgi-bin/qrcode/create").body == {
        "action_name": "QR_LIMIT_STR_SCENE",
        "action_info": {"scene": {"scene_str": "poster-1"}},
    }
    assert permanent.ticket
    assert permanent.expire_seconds is None


def test_messages_are_shaped_as_wechat_wants(gateway: Gateway, standin: ScriptedWeChat) -> None:
    user = openid(1)
    gateway.send_custom_message(OA_APPID, CustomMessage.text(user, "你好"))
    assert standin.last("/cgi-bin/message/custom/send").body == {
        "touser": user,
        "msgtype": "text",
        "text": {"content": "你好"},
    }
    msgid = gateway.send_template_message(
        OA_APPID,
        TemplateMessage(
            touser=user,
            template_id="tpl",
            data={"thing1": "打卡提醒"},
            url="https://example.com",
            miniprogram=MiniProgramLink(appid=MP_APPID, pagepath="pages/checkin"),
        ),
    )
    assert isinstance(msgid, int)
    assert standin.last("/cgi-bin/message/template/send").body["data"] == {
        "thing1": {"value": "打卡提醒"}
    }
    gateway.send_subscribe_message(
        MP_APPID,
        SubscribeMessage(touser=user, template_id="t", data={"thing1": "x"}, page="pages/a"),
    )
    assert standin.last("/cgi-bin/message/subscribe/send").body == {
        "touser": user,
        "template_id": "t",
        "data": {"thing1": {"value": "x"}},
        "page": "pages/a",
    }


def test_users_and_tags_are_batched_within_wechat_limits(
    gateway: Gateway, standin: ScriptedWeChat
) -> None:
    users = [openid(n) for n in range(150)]
    info = gateway.get_user_info(OA_APPID, users[0])
    assert info.subscribe == 1
    assert info.qr_scene_str == "poster"
    assert info.tagid_list == [2]
    # 150 users: two batchget calls of ≤100; 120 openids: three tagging calls of ≤50
    assert len(gateway.get_user_info_batch(OA_APPID, users)) == 150
    assert standin.count("/cgi-bin/user/info/batchget") == 2
    tag = gateway.create_tag(OA_APPID, "深度用户")
    assert tag.name == "深度用户"
    assert [t.id for t in gateway.get_tags(OA_APPID)] == [2]
    gateway.tag_users(OA_APPID, tag.id, users[:120])
    gateway.untag_users(OA_APPID, tag.id, users[:10])
    assert standin.count("/cgi-bin/tags/members/batchtagging") == 3
    assert standin.count("/cgi-bin/tags/members/batchuntagging") == 1


def test_mini_program_calls(gateway: Gateway, standin: ScriptedWeChat) -> None:
    code = standin.issue_code(MP_APPID, openid(7), unionid="u" * 28)
    login = gateway.code2session(MP_APPID, SECRET, code)
    assert login.openid == openid(7)
    assert login.unionid == "u" * 28
    assert "session_key" not in repr(login) or "**" in repr(login)
    phone = gateway.get_phone_number(MP_APPID, standin.issue_phone_code(MP_APPID, "13800000000"))
    assert phone.e164 == "+8613800000000"
    image = gateway.get_unlimited_wxacode(MP_APPID, UnlimitedCodeRequest(scene="a=1", page="p/i"))
    assert image == JPEG
    with pytest.raises(InvalidRequest) as missing:
        gateway.get_unlimited_wxacode(
            MP_APPID, UnlimitedCodeRequest(scene="a", page="pages/missing")
        )
    assert missing.value.errcode == 41030
    assert gateway.generate_scheme(MP_APPID, SchemeRequest()).startswith("weixin://")
    assert gateway.generate_urllink(MP_APPID, UrlLinkRequest(path="pages/i")).startswith("https://")


# --- errors -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("errcode", "kind"),
    [
        (43004, NotFollowing),
        (43101, SubscriptionMissing),
        (45015, OutsideWindow),
        (45047, WindowQuotaExceeded),
        (47003, InvalidRequest),
        (61023, WeChatError),
    ],
)
def test_other_errcodes_raise_typed_errors_without_retry(
    gateway: Gateway, standin: ScriptedWeChat, errcode: int, kind: type[WeChatError]
) -> None:
    # given WeChat refuses the next customer-service message
    path = "/cgi-bin/message/custom/send"
    gateway.tokens.get(OA_APPID)
    standin.answer_next(path, {"errcode": errcode, "errmsg": f"refused rid: {errcode}"})
    # when the gateway sends it, then a typed error carries errcode and errmsg, sent once
    with pytest.raises(kind) as refused:
        gateway.send_custom_message(OA_APPID, CustomMessage.text(openid(1), "hi"))
    assert type(refused.value) is kind
    assert refused.value.errcode == errcode
    assert refused.value.errmsg == f"refused rid: {errcode}"
    assert standin.count(path) == 1
    assert isinstance(refused.value, UserStateError) == (errcode in {43004, 43101, 45015, 45047})


def test_revoked_token_is_refreshed_once_and_the_call_retried(
    settings: Settings, db: Database, gateway: Gateway, standin: ScriptedWeChat, standin_url: str
) -> None:
    # given a cached token that another party's force refresh has revoked
    gateway.create_tag(OA_APPID, "a")
    standin.revoke(OA_APPID)
    before = calls("/cgi-bin/tags/create", "40001")
    # when the gateway calls again
    tag = gateway.create_tag(OA_APPID, "b")
    # then WeChat's 40001 made it fetch a new token once and repeat the call
    assert tag.name == "b"
    assert standin.count(STABLE) == 2
    assert calls("/cgi-bin/tags/create", "40001") == before + 1
    # and another client (another process) finds the new token in the shared cache
    other = gateway_for(settings, db, transport=Transport(standin_url))
    try:
        other.create_tag(OA_APPID, "c")
    finally:
        other.close()
    assert standin.count(STABLE) == 2


def test_a_token_refused_twice_is_not_refreshed_again(
    gateway: Gateway, standin: ScriptedWeChat
) -> None:
    # given WeChat refuses the token on two calls in a row (42001 then 40014)
    path = "/cgi-bin/tags/get"
    gateway.get_tags(OA_APPID)
    standin.answer_next(
        path,
        {"errcode": 42001, "errmsg": "access_token expired"},
        {"errcode": 40014, "errmsg": "invalid access_token"},
    )
    # when the gateway calls, then it refreshes once (forcing, since normal mode gave the same
    # token back), retries once, and raises
    with pytest.raises(TokenInvalid) as refused:
        gateway.get_tags(OA_APPID)
    assert refused.value.errcode == 40014
    assert standin.count(path) == 3
    bodies = [c.body for c in standin.calls if c.path == STABLE]
    assert [b["force_refresh"] for b in bodies] == [False, False, True]


@pytest.mark.parametrize(("errcode", "kind"), [(-1, SystemBusy), (45009, QuotaExceeded)])
def test_busy_and_quota_answers_are_retried_with_bounded_backoff(
    transport: Transport,
    standin: ScriptedWeChat,
    sleeps: list[float],
    errcode: int,
    kind: type[WeChatError],
) -> None:
    busy = {"errcode": errcode, "errmsg": "try later"}
    # given WeChat is busy twice, then answers
    standin.answer_next(STABLE, busy, busy)
    token = transport.stable_token(OA_APPID, SECRET)
    # then the third attempt succeeded after two growing, bounded pauses
    assert token.expires_in == 7200
    assert sleeps == [0.5, 1.0]
    # given WeChat stays busy, then the error surfaces after the last attempt
    sleeps.clear()
    standin.answer_next(STABLE, busy, busy, busy)
    with pytest.raises(kind):
        transport.stable_token(OA_APPID, SECRET)
    assert sleeps == [0.5, 1.0]
    assert standin.count(STABLE) == 6


def test_an_unreachable_wechat_is_retried_then_reported(sleeps: list[float]) -> None:
    # given nothing listens on the port (port 9 is discard; closed on test machines)
    transport = Transport("http://127.0.0.1:9", sleep=sleeps.append)
    with pytest.raises(WeChatUnavailable):
        transport.stable_token(OA_APPID, SECRET)
    assert sleeps == [0.5, 1.0]
    transport.close()


def test_a_wrong_secret_is_a_credentials_error(
    transport: Transport, standin: ScriptedWeChat
) -> None:
    with pytest.raises(CredentialsRejected) as wrong:
        transport.stable_token(OA_APPID, "wrong")
    assert wrong.value.errcode == 40125
    # stable_token sends no token, so its 40001 can only mean a bad AppSecret
    standin.answer_next(STABLE, {"errcode": 40001, "errmsg": "invalid credential"})
    with pytest.raises(CredentialsRejected):
        transport.stable_token(OA_APPID, SECRET)


def test_calls_are_counted_by_path_and_errcode(gateway: Gateway, standin: ScriptedWeChat) -> None:
    path = "/cgi-bin/user/info"
    ok, refused = calls(path, "0"), calls(path, "40003")
    gateway.get_user_info(OA_APPID, openid(1))
    standin.answer_next(path, {"errcode": 40003, "errmsg": "invalid openid"})
    with pytest.raises(UserStateError):
        gateway.get_user_info(OA_APPID, openid(2))
    assert calls(path, "0") == ok + 1
    assert calls(path, "40003") == refused + 1


def test_secrets_and_tokens_never_reach_the_logs(
    gateway: Gateway, standin: ScriptedWeChat, caplog: pytest.LogCaptureFixture
) -> None:
    # given every logger listening at DEBUG, structlog's and the standard library's (httpx)
    caplog.set_level(logging.DEBUG)
    code = standin.issue_code(MP_APPID, openid(3))
    with capture_logs() as entries:
        # when the gateway fetches a token, uses it, is refused once, and logs a user in
        gateway.get_tags(OA_APPID)
        standin.revoke(OA_APPID)
        gateway.get_tags(OA_APPID)
        login = gateway.code2session(MP_APPID, SECRET, code)
    tokens = [c.query["access_token"] for c in standin.calls if "access_token" in c.query]
    text = caplog.text + repr(entries)
    # then neither the AppSecret, the tokens, the code nor the session_key appear
    assert tokens
    for secret in [SECRET, code, login.session_key.get_secret_value(), *tokens]:
        assert secret not in text
    # and each call is logged with appid, path, errcode and duration
    logged = [e for e in entries if e["event"] == "wechat_api_call"]
    assert {"appid", "path", "errcode", "duration_ms"} <= set(logged[0])
    assert {(e["path"], e["errcode"]) for e in logged} >= {
        ("/cgi-bin/stable_token", 0),
        ("/cgi-bin/tags/get", 40001),
        ("/sns/jscode2session", 0),
    }


def test_redact_hides_credentials_in_urls() -> None:
    url = "https://h/sns/jscode2session?appid=wx1&secret=abc&js_code=def&access_token=ghi&code=x"
    assert redact(url) == (
        "https://h/sns/jscode2session?appid=wx1&secret=***&js_code=***&access_token=***&code=***"
    )
