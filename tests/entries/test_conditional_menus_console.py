"""The menu editor's conditional menus: an operator publishes one for an OA tag, tries the
match for a member, deletes it; a wrong tag or a broken menu is said beside its field."""

from __future__ import annotations

import json

from siyu.core.db import Database
from siyu.sandbox.world import SandboxWorld
from siyu.workspaces.schemas import AppRead
from tests.support.console import Console
from tests.support.names import OA_APPID
from tests.support.oa_tags import conditional_menu_count, fans, number_of

DEFAULT = {"button": [{"type": "click", "name": "默认", "key": "DEFAULT"}]}
VIP = {"button": [{"type": "click", "name": "会员专区", "key": "VIP"}]}


def publish_default(console: Console) -> None:
    saved = console.client.post(
        "/menus",
        data={
            "csrf_token": console.csrf, "appid": OA_APPID, "action": "save",
            "menu": json.dumps(DEFAULT, ensure_ascii=False),
        },
    )  # fmt: skip
    assert saved.status_code == 200, saved.text
    published = console.client.post(
        f"/menus/{OA_APPID}/1/publish", data={"csrf_token": console.csrf}
    )
    assert published.status_code == 200


def test_an_operator_publishes_tries_and_deletes_a_conditional_menu(
    console: Console, db: Database, oa_app: AppRead, world: SandboxWorld
) -> None:
    # given a live default menu, an OA tag VIP and a follower carrying it
    publish_default(console)
    account = world.account(OA_APPID)
    account.tags[100], account.next_tag_id = "VIP", 101
    (vip,) = fans(db, world, oa_app, 1)
    vip.user.tags[OA_APPID] = {100}
    # when the operator publishes a VIP menu from the editor
    page = console.client.post(
        f"/menus/{OA_APPID}/conditional",
        data={"csrf_token": console.csrf, "oa_tag": "VIP", "menu": json.dumps(VIP)},
    )
    # then WeChat has it and the page lists it
    assert page.status_code == 200, page.text
    assert "个性化菜单已发布" in page.text
    [menu] = account.conditional_menus
    assert menu.matchrule == {"tag_id": "100"}
    # and trying the match for the member shows their menu
    number = number_of(db, oa_app.workspace_id, vip.member_id)
    tried = console.client.post(
        f"/menus/{OA_APPID}/trymatch", data={"csrf_token": console.csrf, "number": str(number)}
    )
    assert tried.status_code == 200
    assert f"会员 {number} 看到的菜单：会员专区" in tried.text
    # when it is deleted, WeChat no longer has it
    listed = console.client.get(f"/menus?appid={OA_APPID}")
    assert "conditional/1/delete" in listed.text
    deleted = console.client.post(
        f"/menus/{OA_APPID}/conditional/1/delete", data={"csrf_token": console.csrf}
    )
    assert deleted.status_code == 200
    assert account.conditional_menus == []


def test_a_wrong_tag_or_menu_is_said_beside_its_field_and_nothing_is_written(
    console: Console, db: Database, oa_app: AppRead, world: SandboxWorld
) -> None:
    publish_default(console)
    unknown = console.client.post(
        f"/menus/{OA_APPID}/conditional",
        data={"csrf_token": console.csrf, "oa_tag": "不存在", "menu": json.dumps(VIP)},
    )
    assert unknown.status_code == 404
    assert 'id="err-oa_tag"' in unknown.text
    world.account(OA_APPID).tags[100] = "VIP"
    broken = console.client.post(
        f"/menus/{OA_APPID}/conditional",
        data={"csrf_token": console.csrf, "oa_tag": "VIP", "menu": "{not json"},
    )
    assert broken.status_code == 422
    assert 'id="err-cond_menu"' in broken.text
    bad_number = console.client.post(
        f"/menus/{OA_APPID}/trymatch", data={"csrf_token": console.csrf, "number": "abc"}
    )
    assert bad_number.status_code == 422
    assert conditional_menu_count(db) == 0
    assert world.account(OA_APPID).conditional_menus == []
