"""The gateway against the sandbox WeChat (siyu.sandbox) over real HTTP: the same calls, limits
and error codes as api.weixin.qq.com, judged by an implementation the gateway did not write."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest

from siyu.core.clock import FrozenClock
from siyu.core.config import Settings
from siyu.core.db import Database
from siyu.sandbox.messaging import open_grant
from siyu.sandbox.world import SandboxWorld
from siyu.wechat.gateway import (
    CodeUsed,
    Gateway,
    InvalidCode,
    InvalidRequest,
    NotFollowing,
    OutsideWindow,
    SubscriptionMissing,
    Transport,
    WindowQuotaExceeded,
)
from siyu.wechat.schemas import (
    CustomMessage,
    Menu,
    MenuButton,
    QrCodeRequest,
    SchemeRequest,
    SubscribeMessage,
    TemplateMessage,
    UnlimitedCodeRequest,
    UrlLinkRequest,
)
from siyu.wechat.tokens import gateway_for
from siyu.workspaces.schemas import AppRead
from tests.support.names import MP_APPID, OA_APPID
from tests.support.sandbox import follower
from tests.support.standin import SECRET

PNG = b"\x89PNG\r\n\x1a\n"


@pytest.fixture
def gateway(
    settings: Settings, db: Database, sandbox_url: str, mp_app: AppRead, oa_app: AppRead
) -> Iterator[Gateway]:
    gw = gateway_for(settings.model_copy(update={"wechat_api_base": sandbox_url}), db)
    yield gw
    gw.close()


def test_menus_qr_codes_users_and_tags(gateway: Gateway, world: SandboxWorld) -> None:
    menu = Menu(
        button=[
            MenuButton(type="click", name="今日打卡", key="checkin"),
            MenuButton(
                name="更多",
                sub_button=[
                    MenuButton(
                        type="miniprogram",
                        name="小程序",
                        url="https://example.com",
                        appid=MP_APPID,
                        pagepath="pages/index/index",
                    )
                ],
            ),
        ]
    )
    gateway.create_menu(OA_APPID, menu)
    shown = gateway.get_menu(OA_APPID).selfmenu_info.button
    assert shown[0].name == "今日打卡"
    assert shown[1].sub_button is not None
    assert shown[1].sub_button[0].appid == MP_APPID
    # four top-level buttons break WeChat's 3 × 5 rule: a typed refusal, not a crash
    with pytest.raises(InvalidRequest) as too_many:
        gateway.create_menu(
            OA_APPID, Menu(button=[MenuButton(type="click", name="x", key="k")] * 4)
        )
    assert too_many.value.errcode == 40016
    gateway.delete_menu(OA_APPID)
    assert gateway.get_menu(OA_APPID).is_menu_open == 0

    temporary = gateway.create_qrcode(OA_APPID, QrCodeRequest.temporary("poster-7", 3600))
    assert temporary.expire_seconds == 3600
    permanent = gateway.create_qrcode(OA_APPID, QrCodeRequest.permanent(7))
    assert gateway.create_qrcode(OA_APPID, QrCodeRequest.permanent(7)).ticket == permanent.ticket

    user, openid = follower(world)
    info = gateway.get_user_info(OA_APPID, openid)
    assert (info.subscribe, info.unionid) == (1, user.unionid)
    tag = gateway.create_tag(OA_APPID, "深度用户")
    gateway.tag_users(OA_APPID, tag.id, [openid])
    assert gateway.get_user_info_batch(OA_APPID, [openid])[0].tagid_list == [tag.id]
    assert tag.id in {t.id for t in gateway.get_tags(OA_APPID)}
    gateway.untag_users(OA_APPID, tag.id, [openid])
    assert gateway.get_user_info(OA_APPID, openid).tagid_list == []


def test_message_rules_surface_as_typed_user_state_errors(
    gateway: Gateway, world: SandboxWorld
) -> None:
    user, openid = follower(world)
    template = TemplateMessage(touser=openid, template_id="tpl-checkin", data={"thing1": "打卡"})
    assert gateway.send_template_message(OA_APPID, template) is not None
    # a template message to someone who does not follow: 43004
    stranger = world.create_users(1)[0]
    with pytest.raises(NotFollowing):
        gateway.send_template_message(
            OA_APPID, template.model_copy(update={"touser": world.openid(stranger, OA_APPID)})
        )
    # customer-service messages: only inside the 48-hour window, 5 per window
    with pytest.raises(OutsideWindow):
        gateway.send_custom_message(OA_APPID, CustomMessage.text(openid, "在吗"))
    open_grant(world, user, OA_APPID, "message")
    for n in range(5):
        gateway.send_custom_message(OA_APPID, CustomMessage.text(openid, f"第{n}条"))
    with pytest.raises(WindowQuotaExceeded):
        gateway.send_custom_message(OA_APPID, CustomMessage.text(openid, "第6条"))
    assert [i.content.get("content") for i in user.inbox if i.via == "custom"][-1] == "第4条"
    # a Mini Program subscribe message without an accepted credit: 43101
    mp_openid = world.openid(user, MP_APPID)
    with pytest.raises(SubscriptionMissing):
        gateway.send_subscribe_message(
            MP_APPID,
            SubscribeMessage(touser=mp_openid, template_id="sub-checkin", data={"thing1": "x"}),
        )


def test_mini_program_calls(gateway: Gateway, world: SandboxWorld) -> None:
    user = world.create_users(1)[0]
    code = world.issue_code(user, MP_APPID, "login")
    login = gateway.code2session(MP_APPID, SECRET, code)
    assert (login.openid, login.unionid) == (world.openid(user, MP_APPID), user.unionid)
    with pytest.raises(CodeUsed):
        gateway.code2session(MP_APPID, SECRET, code)
    phone = gateway.get_phone_number(MP_APPID, world.issue_code(user, MP_APPID, "phone"))
    assert phone.e164 == f"+86{user.phone}"
    image = gateway.get_unlimited_wxacode(
        MP_APPID, UnlimitedCodeRequest(scene="c=1", page="pages/checkin/index")
    )
    assert image.startswith(PNG)
    with pytest.raises(InvalidRequest) as missing:
        gateway.get_unlimited_wxacode(MP_APPID, UnlimitedCodeRequest(scene="c", page="pages/no"))
    assert missing.value.errcode == 41030
    scheme = gateway.generate_scheme(MP_APPID, SchemeRequest())
    assert scheme.startswith("weixin://dl/business/?t=")
    link = gateway.generate_urllink(MP_APPID, UrlLinkRequest(path="pages/index/index"))
    assert link.startswith("https://wxaurl.cn/")


def test_codes_expire_after_five_minutes(
    gateway: Gateway, world: SandboxWorld, frozen_clock: FrozenClock
) -> None:
    user = world.create_users(1)[0]
    code = world.issue_code(user, MP_APPID, "login")
    frozen_clock.advance(timedelta(minutes=5))
    with pytest.raises(InvalidCode):
        gateway.code2session(MP_APPID, SECRET, code)


def test_a_forced_refresh_elsewhere_is_absorbed_with_one_refresh(
    gateway: Gateway, world: SandboxWorld
) -> None:
    # given the gateway holds a token, and another party force-refreshes it (old one dies)
    gateway.get_tags(OA_APPID)
    old = gateway.tokens.get(OA_APPID)
    world.stable_token(OA_APPID, SECRET, force=True)
    # when the gateway calls, the sandbox says 40001, and the gateway refreshes and retries
    assert gateway.get_tags(OA_APPID) is not None
    assert gateway.tokens.get(OA_APPID) != old


def test_tokens_are_renewed_before_the_sandbox_lets_them_lapse(
    gateway: Gateway, world: SandboxWorld, frozen_clock: FrozenClock
) -> None:
    gateway.get_tags(OA_APPID)
    first = gateway.tokens.get(OA_APPID)
    # 4 minutes before expiry siyu asks again; normal mode hands out a renewed token
    frozen_clock.advance(timedelta(seconds=7200 - 240))
    gateway.get_tags(OA_APPID)
    assert gateway.tokens.get(OA_APPID) != first
    # and the old one keeps working until its own expiry (no 40001 for stragglers)
    transport = Transport(gateway.transport.base_url)
    try:
        assert (
            transport.json(OA_APPID, "GET", "/cgi-bin/tags/get", params={"access_token": first})[
                "tags"
            ]
            is not None
        )
    finally:
        transport.close()
