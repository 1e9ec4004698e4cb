"""Menus: WeChat's rules before anything is sent (the error names rule and button), versions,
preview with source parameters, publishing through the gateway to the sandbox."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from siyu.core.db import Database
from siyu.core.errors import error_code
from siyu.entries.models import MenuVersion
from siyu.entries.service import menu_rules
from siyu.sandbox.errors import WeChatError
from siyu.sandbox.rules import validate_menu
from siyu.sandbox.world import SandboxWorld
from siyu.workspaces.schemas import AppRead
from tests.support.names import MP_APPID, OA_APPID
from tests.support.wechat import WeChat

LINKED = {MP_APPID}
MP_BUTTON = {
    "type": "miniprogram",
    "name": "小程序",
    "url": "https://example.com/fallback",
    "appid": MP_APPID,
    "pagepath": "pages/index/index",
}
GOOD: dict[str, list[dict[str, Any]]] = {
    "button": [
        {"type": "click", "name": "今日打卡", "key": "checkin"},
        {"type": "view", "name": "官网", "url": "https://example.com/?a=1"},
        {"name": "更多", "sub_button": [MP_BUTTON, {"type": "click", "name": "客服", "key": "kf"}]},
    ]
}


def sub(**button: Any) -> dict[str, Any]:
    return {"button": [{"name": "组", "sub_button": [button]}]}


CASES: list[tuple[dict[str, Any], str | None, str | None]] = [
    (GOOD, None, None),
    ({"button": []}, "buttons", "button"),
    (
        {"button": [{"type": "click", "name": f"b{i}", "key": "k"} for i in range(4)]},
        "buttons",
        "button",
    ),
    (
        {
            "button": [
                {"name": "组", "sub_button": [{"type": "click", "name": "x", "key": "k"}] * 6}
            ]
        },
        "buttons",
        "button[1]",
    ),
    (
        {"button": [{"type": "click", "name": "一二三四五六", "key": "k"}]},
        "name_bytes",
        "button[1]",
    ),
    (sub(type="click", name="名" * 21, key="k"), "name_bytes", "button[1].sub_button[1]"),
    (sub(type="click", name="好", key="k" * 129), "key_bytes", "button[1].sub_button[1]"),
    (
        sub(type="view", name="好", url="https://e.com/" + "x" * 1011),
        "url_bytes",
        "button[1].sub_button[1]",
    ),
    (sub(type="view", name="好"), "url_bytes", "button[1].sub_button[1]"),
    (sub(type="nonsense", name="好"), "type", "button[1].sub_button[1]"),
    (
        sub(**{**MP_BUTTON, "appid": "wx9999999999999999"}),
        "miniprogram_unlinked",
        "button[1].sub_button[1]",
    ),
    (
        sub(**{k: v for k, v in MP_BUTTON.items() if k != "url"}),
        "url_bytes",
        "button[1].sub_button[1]",
    ),
    (
        sub(**{k: v for k, v in MP_BUTTON.items() if k != "pagepath"}),
        "pagepath",
        "button[1].sub_button[1]",
    ),
    (sub(type="media_id", name="图"), "media_id", "button[1].sub_button[1]"),
    (sub(type="article_id", name="文"), "article_id", "button[1].sub_button[1]"),
    (
        {"button": [{"name": "组", "sub_button": [{"name": "深", "sub_button": [MP_BUTTON]}]}]},
        "levels",
        "button[1].sub_button[1]",
    ),
]


@pytest.mark.parametrize(("menu", "rule", "button"), CASES)
def test_rules_agree_with_the_sandbox_and_name_rule_and_button(
    menu: dict[str, Any], rule: str | None, button: str | None
) -> None:
    broken = menu_rules.check_menu(menu, LINKED)
    try:
        validate_menu(menu, LINKED)
        sandbox_code = None
    except WeChatError as exc:
        sandbox_code = exc.errcode
    # the same verdict and the same WeChat error code as the sandbox's WeChat
    assert (broken.errcode if broken else None) == sandbox_code
    assert (broken.rule if broken else None) == rule
    assert (broken.button if broken else None) == button


@pytest.mark.parametrize(("menu", "rule", "button"), [c for c in CASES if c[1]])
def test_a_broken_rule_reads_in_chinese_naming_the_button_where_people_count_it(
    menu: dict[str, Any], rule: str, button: str
) -> None:
    broken = menu_rules.check_menu(menu, LINKED)
    assert broken is not None
    refusal = broken.error()
    listed = error_code(refusal.code)
    assert listed is not None
    text = listed.text(refusal.params)
    # the operator reads where the button is (as people count), its path and what is wrong
    place = "" if button == "button" else "第 1 个按钮"
    if ".sub_button" in button:
        place += "的第 1 个子按钮"
    assert text.startswith(f"菜单{place}（{button}）不符合微信的规则：")
    assert "…" not in text  # every slot filled
    assert re.search(r"[\u4e00-\u9fff]", text.split("：", 1)[1])  # the problem, in Chinese
    # and the API keeps its English message and data
    assert (refusal.code, refusal.status) == ("entries.menu_invalid", 422)
    assert refusal.message == f"{button}: {broken.message}"
    assert refusal.data == {
        "rule": rule, "button": button, "limit": broken.limit, "errcode": broken.errcode
    }  # fmt: skip


def test_source_parameters_are_appended_to_view_and_miniprogram_buttons() -> None:
    sent = menu_rules.with_sources(GOOD["button"])
    assert sent[0] == GOOD["button"][0]  # click buttons carry their key already
    assert sent[1]["url"] == "https://example.com/?a=1&from=menu&key=b2"
    assert sent[2]["sub_button"][0]["pagepath"] == "pages/index/index?from=menu&key=b3_1"
    assert sent[2]["sub_button"][0]["url"] == MP_BUTTON["url"]  # the fallback stays as given


def menus(db: Database) -> int:
    with db.session_scope() as session:
        return session.scalar(select(func.count()).select_from(MenuVersion)) or 0


def test_a_broken_menu_is_refused_naming_rule_and_button_and_nothing_is_stored(
    manager: TestClient, oa_app: AppRead, mp_app: AppRead, db: Database
) -> None:
    # given the MP is not linked yet
    answer = manager.post(f"/api/entries/menus/{OA_APPID}", json=GOOD)
    assert answer.status_code == 422
    assert answer.json()["code"] == "entries.menu_invalid"
    assert answer.json()["data"]["rule"] == "miniprogram_unlinked"
    assert answer.json()["data"]["button"] == "button[3].sub_button[1]"
    assert menus(db) == 0


def test_a_url_pushed_past_its_limit_by_the_parameters_is_refused(
    manager: TestClient, oa_app: AppRead, db: Database
) -> None:
    long_url = "https://e.com/" + "x" * (1024 - 14)  # exactly 1024 bytes before the parameters
    menu = {"button": [{"type": "view", "name": "长", "url": long_url}]}
    answer = manager.post(f"/api/entries/menus/{OA_APPID}/preview", json=menu)
    assert answer.status_code == 422
    assert answer.json()["data"]["rule"] == "url_bytes"
    assert menus(db) == 0


def test_versions_preview_and_publish_through_the_gateway(
    manager: TestClient, oa_app: AppRead, mp_app: AppRead, world: SandboxWorld
) -> None:
    # given the MP is linked
    link = manager.post(
        "/api/entries/associations", json={"oa_appid": OA_APPID, "mp_appid": MP_APPID}
    )
    manager.post(f"/api/entries/associations/{link.json()['id']}/status", json={"status": "linked"})
    # when the operator previews, saves twice and publishes the second version
    preview = manager.post(f"/api/entries/menus/{OA_APPID}/preview", json=GOOD)
    assert preview.status_code == 200, preview.text
    assert preview.json()["button"][1]["url"].endswith("from=menu&key=b2")
    v1 = manager.post(f"/api/entries/menus/{OA_APPID}", json=GOOD).json()
    v2 = manager.post(f"/api/entries/menus/{OA_APPID}", json=GOOD).json()
    assert (v1["version"], v2["version"], v2["status"]) == (1, 2, "draft")
    published = manager.post(f"/api/entries/menus/{OA_APPID}/2/publish")
    # then WeChat (the sandbox) holds the menu with its source parameters
    assert published.status_code == 200, published.text
    assert published.json()["status"] == "published"
    live = world.account(OA_APPID).menu
    assert live is not None
    assert live[1]["url"] == "https://example.com/?a=1&from=menu&key=b2"
    listed = manager.get(f"/api/entries/menus/{OA_APPID}").json()
    assert [m["version"] for m in listed] == [2, 1]


def test_publishing_after_the_link_was_refused_is_stopped_before_wechat(
    manager: TestClient, oa_app: AppRead, mp_app: AppRead, world: SandboxWorld
) -> None:
    link = manager.post(
        "/api/entries/associations", json={"oa_appid": OA_APPID, "mp_appid": MP_APPID}
    )
    status = f"/api/entries/associations/{link.json()['id']}/status"
    manager.post(status, json={"status": "linked"})
    manager.post(f"/api/entries/menus/{OA_APPID}", json=GOOD)
    manager.post(status, json={"status": "refused"})
    answer = manager.post(f"/api/entries/menus/{OA_APPID}/1/publish")
    assert answer.status_code == 422
    assert answer.json()["data"]["rule"] == "miniprogram_unlinked"
    assert world.account(OA_APPID).menu in (None, [])


def test_the_button_report_counts_clicks_members_and_conversions(
    manager: TestClient,
    oa_app: AppRead,
    world: SandboxWorld,
    oa: WeChat,
    drain: Callable[[], int],
    db: Database,
) -> None:
    from siyu.core import clock
    from siyu.identity import service as identity
    from siyu.identity.models import TimelineEvent
    from tests.support.entries import event_push
    from tests.support.names import openid

    menu = {
        "button": [
            {"type": "click", "name": "打卡", "key": "checkin"},
            {"type": "view", "name": "官网", "url": "https://example.com/"},
        ]
    }
    manager.post(f"/api/entries/menus/{OA_APPID}", json=menu)
    assert manager.post(f"/api/entries/menus/{OA_APPID}/1/publish").status_code == 200
    # two followers click 打卡 (one twice), one opens the site; the first pays afterwards
    oa.plain(event_push(openid(1), "CLICK", "checkin"))
    oa.plain(event_push(openid(1), "CLICK", "checkin", at=1763600060))
    oa.plain(event_push(openid(2), "CLICK", "checkin"))
    oa.plain(event_push(openid(3), "VIEW", "https://example.com/?from=menu&key=b2", MenuId="1"))
    drain()
    with db.session_scope() as session:
        clicker = session.scalars(select(TimelineEvent).order_by(TimelineEvent.id)).first()
        assert clicker is not None
        identity.record_event(
            session, clicker.workspace_id, clicker.member_id, "pay.paid", clock.now()
        )
    rows = manager.get(f"/api/entries/reports/menus/{OA_APPID}").json()["rows"]
    assert [(r["key"], r["clicks"], r["members"], r["conversions"]) for r in rows] == [
        ("checkin", 3, 2, 1),
        ("b2", 1, 1, 0),
    ]
