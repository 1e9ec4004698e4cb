"""Custom menus: WeChat's shape, byte limits, types and linked Mini Programs (§2.2)."""

from __future__ import annotations

from typing import Any

import pytest

from tests.support.sandbox import MP, OA, OTHER_MP, Sandbox


def click(name: str = "打卡", key: str = "CHECKIN") -> dict[str, Any]:
    return {"type": "click", "name": name, "key": key}


def view(name: str = "官网", url: str = "https://example.com/") -> dict[str, Any]:
    return {"type": "view", "name": name, "url": url}


def mini(appid: str = MP, **extra: Any) -> dict[str, Any]:
    button = {
        "type": "miniprogram",
        "name": "小程序",
        "url": "https://example.com/",
        "appid": appid,
        "pagepath": "pages/index/index",
    }
    return {**button, **extra}


def create(sb: Sandbox, buttons: list[dict[str, Any]]) -> int:
    return int(sb.post("/cgi-bin/menu/create", OA, {"button": buttons})["errcode"])


def test_a_full_menu_is_accepted_and_read_back(sandbox: Sandbox) -> None:
    # given 3 top buttons, one with 5 subs, at every byte limit
    subs = [view(name="子" * 20, url="https://e.com/" + "a" * 1010)] + [
        click(key=f"K{i}") for i in range(4)
    ]
    menu = [
        click(name="一二三四五" + "a", key="k" * 128),
        {"name": "更多", "sub_button": subs},
        mini(),
    ]
    # when it is created
    assert create(sandbox, menu) == 0
    # then menu/get shows it as created, with a sub_button list on every button
    created = sandbox.get("/cgi-bin/menu/get", OA)["menu"]["button"]
    assert created[0] == {**menu[0], "sub_button": []}
    assert [b["key"] for b in created[1]["sub_button"][1:]] == ["K0", "K1", "K2", "K3"]
    # and get_current_selfmenu_info wraps sub buttons in {"list": [...]}
    info = sandbox.get("/cgi-bin/get_current_selfmenu_info", OA)
    assert info["is_menu_open"] == 1
    assert info["selfmenu_info"]["button"][1]["sub_button"]["list"][0]["name"] == "子" * 20


@pytest.mark.parametrize(
    ("buttons", "code"),
    [
        ([], 40016),
        ([click(key=f"K{i}") for i in range(4)], 40016),
        ([click(name="一二三四五六")], 40018),  # 18 bytes > 16
        ([click(name="")], 40018),
        ([{"type": "tap", "name": "点"}], 40017),
        ([click(key="k" * 129)], 40019),
        ([click(key="")], 40019),
        ([view(url="https://e.com/" + "a" * 1011)], 40020),
        ([{"type": "view", "name": "官网"}], 40020),
        ([{"name": "更多", "sub_button": [click(key=f"K{i}") for i in range(6)]}], 40023),
        ([{"name": "更多", "sub_button": [{"type": "tap", "name": "点"}]}], 40024),
        ([{"name": "更多", "sub_button": [click(name="子" * 20 + "a")]}], 40025),  # 61 bytes
        ([{"name": "更多", "sub_button": [click(key="k" * 129)]}], 40026),
        ([{"name": "更多", "sub_button": [{"type": "view", "name": "官网"}]}], 40027),
        ([{"name": "更多", "sub_button": [{"name": "深", "sub_button": [click()]}]}], 40022),
        ([mini(appid=OTHER_MP)], 45064),
        ([{"name": "更多", "sub_button": [mini(appid=OTHER_MP)]}], 45064),
        ([mini(pagepath="")], 40165),
        ([mini(url="")], 40020),
        ([{"type": "media_id", "name": "图片"}], 40007),
    ],
)
def test_invalid_menus_are_refused_with_wechats_code(
    sandbox: Sandbox, buttons: list[dict[str, Any]], code: int
) -> None:
    # given a menu in place
    assert create(sandbox, [click()]) == 0
    # when an invalid one is posted, then it is refused and the old menu stays
    assert create(sandbox, buttons) == code
    assert sandbox.get("/cgi-bin/menu/get", OA)["menu"]["button"][0]["key"] == "CHECKIN"


def test_no_menu_and_deleting_it(sandbox: Sandbox) -> None:
    assert sandbox.get("/cgi-bin/menu/get", OA)["errcode"] == 46003
    assert sandbox.get("/cgi-bin/get_current_selfmenu_info", OA)["is_menu_open"] == 0
    assert create(sandbox, [click()]) == 0
    assert sandbox.get("/cgi-bin/menu/delete", OA)["errcode"] == 0
    assert sandbox.get("/cgi-bin/menu/get", OA)["errcode"] == 46003


def test_menus_belong_to_official_accounts(sandbox: Sandbox) -> None:
    assert sandbox.post("/cgi-bin/menu/create", MP, {"button": [click()]})["errcode"] == 48001


def test_body_must_be_json(sandbox: Sandbox) -> None:
    params = {"access_token": sandbox.token(OA)}
    assert (
        sandbox.client.post("/cgi-bin/menu/create", params=params, content=b"<xml/>").json()[
            "errcode"
        ]
        == 47001
    )
