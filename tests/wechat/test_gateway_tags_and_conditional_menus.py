"""The gateway's tag and conditional-menu calls against the sandbox over HTTP, and WeChat's
refusals of them in the words an operator reads (wechat errors catalog)."""

from __future__ import annotations

import pytest

from siyu.sandbox.world import SandboxWorld
from siyu.wechat import service as wechat
from siyu.wechat.gateway import Gateway, InvalidRequest
from siyu.wechat.schemas import ConditionalMenu, MatchRule, Menu, MenuButton
from tests.support.names import OA_APPID
from tests.support.sandbox import follower


def test_tags_round_trip(sandbox_gateway: Gateway, world: SandboxWorld) -> None:
    # given a tag and three followers
    tag = sandbox_gateway.create_tag(OA_APPID, "早起营")
    openids = [follower(world)[1] for _ in range(3)]
    # when two are tagged in one call
    sandbox_gateway.tag_users_once(OA_APPID, tag.id, openids[:2], add=True)
    # then the tag's followers and each user's tags say so
    assert sorted(
        o for page in sandbox_gateway.get_tag_fans(OA_APPID, tag.id) for o in page
    ) == sorted(openids[:2])
    assert sandbox_gateway.get_user_tags(OA_APPID, openids[0]) == [tag.id]
    assert sandbox_gateway.get_user_tags(OA_APPID, openids[2]) == []
    sandbox_gateway.tag_users_once(OA_APPID, tag.id, openids[:1], add=False)
    assert sandbox_gateway.get_user_tags(OA_APPID, openids[0]) == []
    sandbox_gateway.update_tag(OA_APPID, tag.id, "晨读营")
    assert [t.name for t in sandbox_gateway.get_tags(OA_APPID) if t.id == tag.id] == ["晨读营"]
    sandbox_gateway.delete_tag(OA_APPID, tag.id)
    assert tag.id not in {t.id for t in sandbox_gateway.get_tags(OA_APPID)}
    with pytest.raises(ValueError, match="1 to 50"):
        sandbox_gateway.tag_users_once(OA_APPID, tag.id, [], add=True)


@pytest.mark.parametrize(
    ("name", "code"),
    [("早起营", "wechat.oa_tag_name_invalid"), ("长" * 11, "wechat.oa_tag_name_too_long")],
)
def test_tag_refusals_read_in_chinese(sandbox_gateway: Gateway, name: str, code: str) -> None:
    sandbox_gateway.create_tag(OA_APPID, "早起营")
    with pytest.raises(InvalidRequest) as refused:
        sandbox_gateway.create_tag(OA_APPID, name)
    explained = wechat.refusal(refused.value, "create the tag")
    assert explained.code == code
    assert explained.status == 400


def test_conditional_menus(sandbox_gateway: Gateway, world: SandboxWorld) -> None:
    tag = sandbox_gateway.create_tag(OA_APPID, "VIP")
    vip_menu = ConditionalMenu(
        button=[MenuButton(type="click", name="会员", key="VIP")],
        matchrule=MatchRule(tag_id=str(tag.id)),
    )
    # a conditional menu needs the default one first
    with pytest.raises(InvalidRequest) as refused:
        sandbox_gateway.add_conditional_menu(OA_APPID, vip_menu)
    assert wechat.refusal(refused.value, "publish").code == "wechat.no_default_menu"
    sandbox_gateway.create_menu(
        OA_APPID, Menu(button=[MenuButton(type="click", name="默认", key="D")])
    )
    menuid = sandbox_gateway.add_conditional_menu(OA_APPID, vip_menu)
    _user, openid = follower(world)
    assert [b.key for b in sandbox_gateway.try_match_menu(OA_APPID, openid)] == ["D"]
    sandbox_gateway.tag_users_once(OA_APPID, tag.id, [openid], add=True)
    assert [b.key for b in sandbox_gateway.try_match_menu(OA_APPID, openid)] == ["VIP"]
    sandbox_gateway.delete_conditional_menu(OA_APPID, menuid)
    with pytest.raises(InvalidRequest) as refused:
        sandbox_gateway.delete_conditional_menu(OA_APPID, menuid)
    assert wechat.refusal(refused.value, "delete").code == "wechat.conditional_menu_unknown"
