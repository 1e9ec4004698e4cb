"""Channels and their codes: OA QR codes (temporary, permanent with the cap), MP codes, URL
links, made by the sandbox WeChat, and their images at print sizes."""

from __future__ import annotations

from typing import Any, cast

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from siyu.core.config import Settings
from siyu.core.db import Database
from siyu.entries.models import Channel, ChannelCode
from siyu.sandbox.world import SandboxWorld
from siyu.workspaces.schemas import AppRead
from tests.support.names import MP_APPID, OA_APPID

PNG = b"\x89PNG\r\n\x1a\n"


def rows(db: Database) -> tuple[int, int]:
    with db.session_scope() as session:
        channels = session.scalar(select(func.count()).select_from(Channel)) or 0
        codes = session.scalar(select(func.count()).select_from(ChannelCode)) or 0
        return channels, codes


def add_channel(
    api: TestClient, kind: str, appid: str = OA_APPID, **extra: object
) -> dict[str, Any]:
    answer = api.post(
        "/api/entries/channels",
        json={
            "name": "地铁海报",
            "slug": "metro-poster",
            "group": "线下",
            "tags": ["地铁"],
            "welcome": "欢迎来自地铁的你！",
            "code": {"appid": appid, "kind": kind, **extra},
        },
    )
    assert answer.status_code == 201, answer.text
    return dict(answer.json())


def test_a_temporary_qr_code_is_made_by_wechat_and_downloads_as_png_and_svg(
    manager: TestClient, oa_app: AppRead, world: SandboxWorld
) -> None:
    issued = add_channel(manager, "oa_qr_temp", expire_days=7)
    code = issued["code"]
    # the sandbox WeChat made a QR_STR_SCENE code whose scene is the channel's slug
    qr = world.account(OA_APPID).qrcodes[code["ticket"]]
    assert (qr.action_name, qr.scene) == ("QR_STR_SCENE", "metro-poster")
    assert code["expires_at"] is not None
    assert not code["expired"]
    # and it prints at each size, as PNG and as SVG
    small = manager.get(f"/api/entries/codes/{code['id']}/image?size=430")
    large = manager.get(f"/api/entries/codes/{code['id']}/image?size=1280")
    svg = manager.get(f"/api/entries/codes/{code['id']}/image?format=svg")
    assert small.content.startswith(PNG)
    assert large.content.startswith(PNG)
    assert len(large.content) > len(small.content)
    assert svg.headers["content-type"].startswith("image/svg+xml")
    assert b"<svg" in svg.content
    odd = manager.get(f"/api/entries/codes/{code['id']}/image?size=999")
    assert odd.status_code == 422


def test_permanent_codes_are_counted_warned_and_refused_at_the_cap(
    manager: TestClient, oa_app: AppRead, db: Database, settings: Settings
) -> None:
    # given an account allowed 2 permanent codes (warned at 50%)
    cast(FastAPI, manager.app).state.settings = settings.model_copy(
        update={"entries_permanent_qr_cap": 2, "entries_permanent_qr_warn_ratio": 0.5}
    )
    first = add_channel(manager, "oa_qr_permanent")
    assert first["warning"] is not None  # 1 of 2 is the warning threshold
    # asking again for the same channel reuses the code (no second one spent)
    again = manager.post(
        f"/api/entries/channels/{first['channel']['id']}/codes",
        json={"appid": OA_APPID, "kind": "oa_qr_permanent"},
    )
    assert again.json()["code"]["id"] == first["code"]["id"]
    second = manager.post("/api/entries/channels", json={"name": "门店", "slug": "shop"})
    made = manager.post(
        f"/api/entries/channels/{second.json()['id']}/codes",
        json={"appid": OA_APPID, "kind": "oa_qr_permanent"},
    )
    assert made.status_code == 201
    third = manager.post("/api/entries/channels", json={"name": "展会", "slug": "fair"})
    before = rows(db)
    refused = manager.post(
        f"/api/entries/channels/{third.json()['id']}/codes",
        json={"appid": OA_APPID, "kind": "oa_qr_permanent"},
    )
    # then the third permanent code is refused naming the cap, and nothing was written
    assert refused.status_code == 409
    assert refused.json()["code"] == "entries.limit.permanent_qr"
    assert rows(db) == before


def test_an_mp_code_carries_the_slug_as_scene_and_a_url_link_its_query(
    manager: TestClient, mp_app: AppRead, world: SandboxWorld
) -> None:
    issued = add_channel(manager, "mp_code", appid=MP_APPID, page="pages/checkin/index")
    png = manager.get(f"/api/entries/codes/{issued['code']['id']}/image")
    assert png.content.startswith(PNG)
    assert (
        manager.get(f"/api/entries/codes/{issued['code']['id']}/image?format=svg").status_code
        == 404
    )
    link = manager.post(
        f"/api/entries/channels/{issued['channel']['id']}/codes",
        json={"appid": MP_APPID, "kind": "url_link", "expire_days": 30},
    )
    assert link.status_code == 201, link.text
    assert link.json()["code"]["url"].startswith("https://")


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({"name": "x", "slug": "a" * 33}, "request.invalid"),
        ({"name": "x", "slug": "含中文"}, "request.invalid"),
        (
            {"name": "x", "code": {"appid": MP_APPID, "kind": "oa_qr_temp"}},
            "entries.code_needs_official_account",
        ),
        (
            {"name": "x", "code": {"appid": OA_APPID, "kind": "oa_qr_temp", "expire_days": 31}},
            "request.invalid",
        ),
    ],
)
def test_bad_channels_and_codes_are_refused(
    manager: TestClient,
    oa_app: AppRead,
    mp_app: AppRead,
    db: Database,
    body: dict[str, Any],
    code: str,
) -> None:
    answer = manager.post("/api/entries/channels", json=body)
    assert answer.status_code in (409, 422)
    assert answer.json()["code"] == code
    # a refused code leaves at most the channel, never a code
    assert rows(db)[1] == 0


def test_an_archived_channel_gets_no_new_codes(
    manager: TestClient, oa_app: AppRead, db: Database
) -> None:
    issued = add_channel(manager, "oa_qr_temp")
    channel_id = issued["channel"]["id"]
    assert (
        manager.post(f"/api/entries/channels/{channel_id}/archive").json()["status"] == "archived"
    )
    before = rows(db)
    refused = manager.post(
        f"/api/entries/channels/{channel_id}/codes", json={"appid": OA_APPID, "kind": "oa_qr_temp"}
    )
    assert refused.status_code == 409
    assert refused.json()["code"] == "entries.channel_archived"
    assert rows(db) == before


def test_a_code_wechat_refuses_is_not_kept(
    manager: TestClient, mp_app: AppRead, db: Database
) -> None:
    # a page the published Mini Program does not have: the link is refused (40165)
    created = manager.post("/api/entries/channels", json={"name": "x", "slug": "nopage"})
    refused = manager.post(
        f"/api/entries/channels/{created.json()['id']}/codes",
        json={"appid": MP_APPID, "kind": "url_link", "page": "pages/missing/index"},
    )
    assert refused.status_code == 502
    assert refused.json()["data"]["errcode"] == 40165
    assert rows(db) == (1, 0)
