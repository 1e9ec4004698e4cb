"""The gateway's tag and conditional-menu calls against the sandbox over HTTP, and WeChat's
refusals of them in the words an operator reads (wechat errors catalog)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from siyu.core.config import Settings
from siyu.core.db import Database
from siyu.sandbox.world import SandboxWorld
from siyu.wechat import service as wechat
from siyu.wechat.gateway import Gateway, InvalidRequest
from siyu.wechat.schemas import ConditionalMenu, MatchRule, Menu, MenuButton
from siyu.wechat.tokens import gateway_for
from siyu.workspaces.schemas import AppRead
from tests.support.names import OA_APPID
from tests.support.sandbox import follower


@pytest.fixture
def gateway(
    settings: Settings, db: Database, sandbox_url: str, oa_app: AppRead
) -> Iterator[Gateway]:
    gw = gateway_for(settings.model_copy(update={"wechat_api_base": sandbox_url}), db)
    yield gw
    gw.close()


def test_tags_round_trip(gateway: Gateway, world: SandboxWorld) -> None:
    # given a tag and three followers
    tag = gateway.create_tag(OA_APPID, "早起营")
    openids = [follower(world)[1] for _ in range(3)]
    # when two are tagged in one call
    gateway.tag_users_once(OA_APPID, tag.id, openids[:2], add=True)
    # then the tag's followers and each user's tags say so
    assert sorted(o for page in gateway.get_tag_fans(OA_APPID, tag.id) for o in page) == sorted(
        openids[:2]
    )
    assert gateway.get_user_tags(OA_APPID, openids[0]) == [tag.id]
    assert gateway.get_user_tags(OA_APPID, openids[2]) == []
    gateway.tag_users_once(OA_APPID, tag.id, openids[:1], add=False)
    assert gateway.get_user_tags(OA_APPID, openids[0]) == []
    gateway.update_tag(OA_APPID, tag.id, "晨读营")
    assert [t.name for t in gateway.get_tags(OA_APPID) if t.id == tag.id] == ["晨读营"]
    gateway.delete_tag(OA_APPID, tag.id)
    assert tag.id not in {t.id for t in gateway.get_tags(OA_APPID)}
    with pytest.raises(ValueError, match="1 to 50"):
        gateway.tag_users_once(OA_APPID, tag.id, [], add=True)


@pytest.mark.parametrize(
    ("name", "code"),
    [("早起营", "wechat.oa_tag_name_invalid"), ("长" * 11, "wechat.oa_tag_name_too_long")],
)
def test_tag_refusals_read_in_chinese(gateway: Gateway, name: str, code: str) -> None:
    gateway.create_tag(OA_APPID, "早起营")
    with pytest.raises(InvalidRequest) as refused:
        gateway.create_tag(OA_APPID, name)
    explained = wechat.refusal(refused.value, "create the tag")
    assert explained.code == code
    assert explained.status == 400


def test_conditional_menus(gateway: Gateway, world: SandboxWorld) -> None:
    tag = gateway.create_tag(OA_APPID, "VIP")
    vip_menu = ConditionalMenu(
        button=[MenuButton(type="click", name="会员", key="VIP")],
        matchrule=MatchRule(tag_id=str(tag.id)),
    )
    # a conditional menu needs the default one first
    with pytest.raises(InvalidRequest) as refused:
        gateway.add_conditional_menu(OA_APPID, vip_menu)
    assert wechat.refusal(refused.value, "publish").code == "wechat.no_default_menu"
    gateway.create_menu(OA_APPID, Menu(button=[MenuButton(type="click", name="默认", key="D")]))
    menuid = gateway.add_conditional_menu(OA_APPID, vip_menu)
    _user, openid = follower(world)
    assert [b.key for b in gateway.try_match_menu(OA_APPID, openid)] == ["D"]
    gateway.tag_users_once(OA_APPID, tag.id, [openid], add=True)
    assert [b.key for b in gateway.try_match_menu(OA_APPID, openid)] == ["VIP"]
    gateway.delete_conditional_menu(OA_APPID, menuid)
    with pytest.raises(InvalidRequest) as refused:
        gateway.delete_conditional_menu(OA_APPID, menuid)
    assert wechat.refusal(refused.value, "delete").code == "wechat.conditional_menu_unknown"
