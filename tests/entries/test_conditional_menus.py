"""Conditional menus by OA tag through the API and the sandbox: published by addconditional,
seen by the tagged member (trymatch), deleted by delconditional; refusals name the problem."""

from __future__ import annotations

from fastapi.testclient import TestClient

from siyu.core.db import Database
from siyu.sandbox.world import SandboxWorld
from siyu.workspaces.schemas import AppRead
from tests.support.names import OA_APPID
from tests.support.oa_tags import conditional_menu_count, fans, number_of

DEFAULT = {"button": [{"type": "click", "name": "默认", "key": "DEFAULT"}]}
VIP = {"oa_tag": "VIP", "button": [{"type": "click", "name": "会员专区", "key": "VIP"}]}
BASE = f"/api/entries/menus/{OA_APPID}"


def publish_default(manager: TestClient) -> None:
    saved = manager.post(BASE, json=DEFAULT)
    assert saved.status_code == 201, saved.text
    assert manager.post(f"{BASE}/{saved.json()['version']}/publish").status_code == 200


def test_a_tagged_member_sees_the_conditional_menu(
    manager: TestClient, db: Database, oa_app: AppRead, world: SandboxWorld
) -> None:
    # given a default menu, an OA tag VIP and two followers, one of them tagged VIP
    publish_default(manager)
    account = world.account(OA_APPID)
    account.tags[100], account.next_tag_id = "VIP", 101
    vip, plain = fans(db, world, oa_app, 2)
    vip.user.tags[OA_APPID] = {100}
    # when the operator publishes a conditional menu for VIP
    published = manager.post(f"{BASE}/conditional", json=VIP)
    # then WeChat holds it for tag 100, and each member is shown their own menu
    assert published.status_code == 201, published.text
    menu = published.json()
    assert (menu["status"], menu["oa_tag_id"]) == ("published", 100)
    assert [(str(m.menuid), m.matchrule) for m in account.conditional_menus] == [
        (menu["menuid"], {"tag_id": "100"})
    ]
    number = number_of(db, oa_app.workspace_id, vip.member_id)
    seen = manager.get(f"{BASE}/trymatch", params={"number": number})
    assert [b["key"] for b in seen.json()["button"]] == ["VIP"]
    number = number_of(db, oa_app.workspace_id, plain.member_id)
    seen = manager.get(f"{BASE}/trymatch", params={"number": number})
    assert [b["key"] for b in seen.json()["button"]] == ["DEFAULT"]
    assert [m["id"] for m in manager.get(f"{BASE}/conditional").json()] == [menu["id"]]
    # when it is deleted, then WeChat no longer has it and the list is empty
    deleted = manager.delete(f"{BASE}/conditional/{menu['id']}")
    assert deleted.status_code == 200, deleted.text
    assert account.conditional_menus == []
    assert manager.get(f"{BASE}/conditional").json() == []
    again = manager.delete(f"{BASE}/conditional/{menu['id']}")
    assert again.status_code == 404
    assert again.json()["code"] == "entries.conditional_menu_not_found"


def test_an_unknown_oa_tag_or_a_broken_menu_writes_nothing(
    manager: TestClient, db: Database, oa_app: AppRead, world: SandboxWorld
) -> None:
    publish_default(manager)
    unknown = manager.post(f"{BASE}/conditional", json=VIP)
    assert unknown.status_code == 404
    assert unknown.json()["code"] == "wechat.oa_tag_unknown"
    world.account(OA_APPID).tags[100] = "VIP"
    broken = {"oa_tag": "VIP", "button": [{"type": "click", "name": "x" * 17, "key": "K"}]}
    refused = manager.post(f"{BASE}/conditional", json=broken)
    assert refused.status_code == 422
    assert refused.json()["code"] == "entries.menu_invalid"
    assert conditional_menu_count(db) == 0
    assert world.account(OA_APPID).conditional_menus == []


def test_without_a_default_menu_wechat_refuses_and_the_failure_is_kept(
    manager: TestClient, db: Database, oa_app: AppRead, world: SandboxWorld
) -> None:
    world.account(OA_APPID).tags[100] = "VIP"
    refused = manager.post(f"{BASE}/conditional", json=VIP)
    assert refused.status_code == 409
    assert refused.json()["code"] == "wechat.no_default_menu"
    assert world.account(OA_APPID).conditional_menus == []
    [kept] = manager.get(f"{BASE}/conditional").json()
    assert kept["status"] == "failed"
    assert kept["error"].startswith("65303")


def test_trymatch_of_a_member_who_never_met_the_oa(
    manager: TestClient, db: Database, oa_app: AppRead, mp_app: AppRead, world: SandboxWorld
) -> None:
    publish_default(manager)
    (stranger,) = fans(db, world, mp_app, 1)
    number = number_of(db, oa_app.workspace_id, stranger.member_id)
    refused = manager.get(f"{BASE}/trymatch", params={"number": number})
    assert refused.status_code == 409
    assert refused.json()["code"] == "entries.member_not_follower"
