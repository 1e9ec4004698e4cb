"""Every entries operation leaves one audit entry, the same whether the API or the console did
it: who (the operator and their role), what, to which row, with ids and codes only; a refused
operation leaves none."""

from __future__ import annotations

import json

from fastapi.testclient import TestClient
from sqlalchemy import select

from siyu.core.db import Database
from siyu.entries.models import Article, ChannelCode, MenuVersion
from siyu.sandbox.world import SandboxWorld
from siyu.security.schemas import Principal
from siyu.workspaces.schemas import AppRead
from tests.support.console import Console
from tests.support.entries import audited
from tests.support.names import MP_APPID, OA_APPID

MENU = {"button": [{"type": "view", "name": "官网", "url": "https://example.com/"}]}
ARTICLE = "https://mp.weixin.qq.com/s/AbC"


def test_each_api_operation_is_audited_once_as_the_operator(
    manager: TestClient, owner: Principal, oa_app: AppRead, mp_app: AppRead, db: Database
) -> None:
    who = (f"operator:{owner.operator_id}", "owner")
    # when the operator links the apps (twice), confirms the link, makes a channel with its
    # first code, adds a second code, archives the channel, saves and publishes a menu and
    # registers an article
    link = manager.post(
        "/api/entries/associations", json={"oa_appid": OA_APPID, "mp_appid": MP_APPID}
    ).json()
    manager.post("/api/entries/associations", json={"oa_appid": OA_APPID, "mp_appid": MP_APPID})
    manager.post(f"/api/entries/associations/{link['id']}/status", json={"status": "linked"})
    made = manager.post(
        "/api/entries/channels",
        json={"name": "地铁", "slug": "metro", "code": {"appid": OA_APPID, "kind": "oa_qr_temp"}},
    ).json()
    channel = made["channel"]["id"]
    code = manager.post(
        f"/api/entries/channels/{channel}/codes", json={"appid": MP_APPID, "kind": "mp_code"}
    ).json()["code"]["id"]
    manager.post(f"/api/entries/channels/{channel}/archive")
    menu = manager.post(f"/api/entries/menus/{OA_APPID}", json=MENU).json()
    published = manager.post(f"/api/entries/menus/{OA_APPID}/1/publish")
    assert published.status_code == 200, published.text
    article = manager.post(
        "/api/entries/articles", json={"oa_appid": OA_APPID, "title": "攻略", "url": ARTICLE}
    ).json()
    # then each is audited once, by the operator; the channel's first code is part of making
    # the channel, and asking again for a link is audited like the first time
    assert audited(db) == [
        ("entries.apps_linked", *who, "association", str(link["id"]), {"status": "pending"}),
        ("entries.apps_linked", *who, "association", str(link["id"]), {"status": "pending"}),
        ("entries.link_status", *who, "association", str(link["id"]), {"status": "linked"}),
        ("entries.channel_created", *who, "channel", str(channel), {}),
        ("entries.code_issued", *who, "code", str(code), {"kind": "mp_code"}),
        ("entries.channel_archived", *who, "channel", str(channel), {}),
        ("entries.menu_saved", *who, "menu", str(menu["id"]), {"version": 1}),
        ("entries.menu_published", *who, "menu", str(menu["id"]), {"version": 1}),
        ("entries.article_added", *who, "article", str(article["id"]), {}),
    ]


def test_a_refused_operation_leaves_no_audit_entry(
    manager: TestClient, oa_app: AppRead, db: Database
) -> None:
    # given an archived channel and an article registered once
    channel = manager.post("/api/entries/channels", json={"name": "旧", "slug": "old"}).json()
    manager.post(f"/api/entries/channels/{channel['id']}/archive")
    manager.post(
        "/api/entries/articles", json={"oa_appid": OA_APPID, "title": "攻略", "url": ARTICLE}
    )
    before = audited(db)
    # when a code is asked for the archived channel, the article registered again, a broken
    # menu saved and a missing version published
    refused = [
        manager.post(
            f"/api/entries/channels/{channel['id']}/codes",
            json={"appid": OA_APPID, "kind": "oa_qr_temp"},
        ),
        manager.post(
            "/api/entries/articles", json={"oa_appid": OA_APPID, "title": "再", "url": ARTICLE}
        ),
        manager.post(f"/api/entries/menus/{OA_APPID}", json={"button": []}),
        manager.post(f"/api/entries/menus/{OA_APPID}/9/publish"),
    ]
    # then each is refused with its code and nothing more is audited
    assert [(r.status_code, r.json()["code"]) for r in refused] == [
        (409, "entries.channel_archived"),
        (409, "entries.article_exists"),
        (422, "entries.menu_invalid"),
        (404, "entries.menu_not_found"),
    ]
    assert audited(db) == before


def test_the_console_audits_the_same_entries_as_the_api(
    console: Console,
    owner: Principal,
    oa_app: AppRead,
    mp_app: AppRead,
    db: Database,
    world: SandboxWorld,
) -> None:
    who = (f"operator:{owner.operator_id}", "owner")
    client, csrf = console.client, console.csrf
    # when the operator makes a channel with its code, adds a code, archives the channel,
    # saves and publishes a menu and registers an article in the console
    made = client.post(
        "/channels",
        data={"csrf_token": csrf, "name": "地铁", "slug": "metro", "appid": OA_APPID,
              "kind": "oa_qr_temp", "days": "7"},
        follow_redirects=False,
    )  # fmt: skip
    assert made.status_code == 303, made.text
    channel = int(made.headers["location"].rsplit("/", 1)[1])
    client.post(
        f"/channels/{channel}/codes",
        data={"csrf_token": csrf, "appid": MP_APPID, "kind": "mp_code"},
        follow_redirects=False,
    )
    client.post(f"/channels/{channel}/archive", data={"csrf_token": csrf}, follow_redirects=False)
    saved = client.post(
        "/menus",
        data={"csrf_token": csrf, "appid": OA_APPID, "menu": json.dumps(MENU), "action": "save"},
    )
    assert saved.status_code == 200, saved.text
    client.post(f"/menus/{OA_APPID}/1/publish", data={"csrf_token": csrf})
    client.post(
        "/articles",
        data={"csrf_token": csrf, "oa_appid": OA_APPID, "title": "攻略", "url": ARTICLE},
        follow_redirects=False,
    )
    # then the entries are those the API writes, by the same operator
    with db.session_scope() as session:
        code = session.scalar(select(ChannelCode.id).where(ChannelCode.kind == "mp_code"))
        menu = session.scalar(select(MenuVersion.id))
        article = session.scalar(select(Article.id))
    assert audited(db) == [
        ("entries.channel_created", *who, "channel", str(channel), {}),
        ("entries.code_issued", *who, "code", str(code), {"kind": "mp_code"}),
        ("entries.channel_archived", *who, "channel", str(channel), {}),
        ("entries.menu_saved", *who, "menu", str(menu), {"version": 1}),
        ("entries.menu_published", *who, "menu", str(menu), {"version": 1}),
        ("entries.article_added", *who, "article", str(article), {}),
    ]
