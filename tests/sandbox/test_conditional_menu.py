"""Conditional (个性化) menus: over a default menu, by tag, newest first, privacy filters
refused, and the menu a tagged follower sees and clicks (§2.2)."""

from __future__ import annotations

from typing import Any

import pytest

from siyu.sandbox import menus
from tests.support.sandbox import OA, Sandbox

DEFAULT = [{"type": "click", "name": "默认", "key": "DEFAULT"}]
VIP = [{"type": "click", "name": "会员", "key": "VIP"}]
NEWER = [{"type": "click", "name": "新", "key": "NEWER"}]


def tag(sb: Sandbox, name: str) -> int:
    return int(sb.post("/cgi-bin/tags/create", OA, {"tag": {"name": name}})["tag"]["id"])


def add(sb: Sandbox, buttons: list[dict[str, Any]], rule: dict[str, Any]) -> Any:
    return sb.post("/cgi-bin/menu/addconditional", OA, {"button": buttons, "matchrule": rule})


def tagged_follower(sb: Sandbox, n: int, tag_id: int | None) -> str:
    user = sb.user(n)
    sb.act("follow", user, OA)
    openid = sb.openid(user, OA)
    if tag_id is not None:
        body = {"openid_list": [openid], "tagid": tag_id}
        assert sb.post("/cgi-bin/tags/members/batchtagging", OA, body)["errcode"] == 0
    return openid


def test_a_conditional_menu_needs_the_default_menu_first(sandbox: Sandbox) -> None:
    vip = tag(sandbox, "VIP")
    assert add(sandbox, VIP, {"tag_id": str(vip)})["errcode"] == 65303


@pytest.mark.parametrize(
    ("rule", "code"),
    [
        ({}, 65304),
        ({"sex": "1"}, 65320),
        ({"tag_id": "VIPTAG", "province": "广东"}, 65320),
        ({"language": "zh_CN"}, 65320),
        ({"tag_id": "999"}, 45159),
        ({"client_platform_type": "9"}, 40097),
    ],
)
def test_match_rules_wechat_refuses(sandbox: Sandbox, rule: dict[str, Any], code: int) -> None:
    assert sandbox.post("/cgi-bin/menu/create", OA, {"button": DEFAULT})["errcode"] == 0
    assert add(sandbox, VIP, rule)["errcode"] == code
    assert sandbox.world.account(OA).conditional_menus == []


def test_tagged_followers_see_the_newest_matching_menu(sandbox: Sandbox) -> None:
    # given a default menu and a VIP menu for tag VIP
    vip = tag(sandbox, "VIP")
    assert sandbox.post("/cgi-bin/menu/create", OA, {"button": DEFAULT})["errcode"] == 0
    menuid = add(sandbox, VIP, {"tag_id": str(vip)})["menuid"]
    member, other = tagged_follower(sandbox, 1, vip), tagged_follower(sandbox, 2, None)
    # then trymatch and a click show each follower their own menu
    match = sandbox.post("/cgi-bin/menu/trymatch", OA, {"user_id": member})
    assert [b["key"] for b in match["button"]] == ["VIP"]
    match = sandbox.post("/cgi-bin/menu/trymatch", OA, {"user_id": other})
    assert [b["key"] for b in match["button"]] == ["DEFAULT"]
    clicked = sandbox.act("click", sandbox.user(1), OA, key="VIP")
    assert clicked.ok
    refused = sandbox.act("click", sandbox.user(2), OA, key="VIP")
    assert not refused.ok
    assert "no menu button" in str(refused.error)
    # and menu/get lists the conditional menu
    listed = sandbox.get("/cgi-bin/menu/get", OA)["conditionalmenu"]
    assert [(str(m["menuid"]), m["matchrule"]) for m in listed] == [(menuid, {"tag_id": str(vip)})]
    # when a newer menu matches every platform, it wins over the older one
    add(sandbox, NEWER, {"client_platform_type": "2"})
    match = sandbox.post("/cgi-bin/menu/trymatch", OA, {"user_id": member})
    assert [b["key"] for b in match["button"]] == ["NEWER"]


def test_deleting_conditional_menus(sandbox: Sandbox) -> None:
    vip = tag(sandbox, "VIP")
    sandbox.post("/cgi-bin/menu/create", OA, {"button": DEFAULT})
    menuid = add(sandbox, VIP, {"tag_id": str(vip)})["menuid"]
    member = tagged_follower(sandbox, 1, vip)
    assert sandbox.post("/cgi-bin/menu/delconditional", OA, {"menuid": menuid})["errcode"] == 0
    assert sandbox.post("/cgi-bin/menu/delconditional", OA, {"menuid": menuid})["errcode"] == 65301
    match = sandbox.post("/cgi-bin/menu/trymatch", OA, {"user_id": member})
    assert [b["key"] for b in match["button"]] == ["DEFAULT"]
    # and deleting the default menu deletes the conditional ones with it
    add(sandbox, VIP, {"tag_id": str(vip)})
    assert sandbox.get("/cgi-bin/menu/delete", OA)["errcode"] == 0
    assert sandbox.world.account(OA).conditional_menus == []
    assert sandbox.post("/cgi-bin/menu/trymatch", OA, {"user_id": member})["errcode"] == 46003


def test_trymatch_refuses_a_stranger(sandbox: Sandbox) -> None:
    sandbox.post("/cgi-bin/menu/create", OA, {"button": DEFAULT})
    assert (
        sandbox.post("/cgi-bin/menu/trymatch", OA, {"user_id": "o" + "x" * 27})["errcode"] == 40003
    )
    assert sandbox.post("/cgi-bin/menu/trymatch", OA, {})["errcode"] == 40003


def test_conditional_menu_quota(sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(menus, "ADD_PER_DAY", 1)
    vip = tag(sandbox, "VIP")
    sandbox.post("/cgi-bin/menu/create", OA, {"button": DEFAULT})
    assert "menuid" in add(sandbox, VIP, {"tag_id": str(vip)})
    assert add(sandbox, VIP, {"tag_id": str(vip)})["errcode"] == 45009
