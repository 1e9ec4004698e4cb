"""Arrivals: a follow or scan of a channel's code, or an MP launch with its scene, is attributed
(first touch kept, last touch moved), tags the member, is answered with the channel's welcome,
and counts in the channel report."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Any, cast

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select

from siyu.core import clock
from siyu.core.config import Settings
from siyu.core.db import Database
from siyu.entries.enums import ArrivalKind
from siyu.entries.models import Arrival, Touch
from siyu.identity import service as identity
from siyu.identity.models import TimelineEvent
from siyu.sandbox.world import SandboxWorld
from siyu.wechat import inbox
from siyu.wechat.schemas import Push, Reply, SubscribeEvent, TextReply
from siyu.workspaces.schemas import AppRead
from tests.support.entries import T0, channel, event_push
from tests.support.names import MP_APPID, OA_APPID, openid
from tests.support.sandbox import follower
from tests.support.wechat import WeChat


def arrivals(db: Database) -> list[tuple[str, int, bool, bool]]:
    with db.session_scope() as session:
        rows = session.scalars(select(Arrival).order_by(Arrival.id)).all()
        return [(r.kind, r.channel_id, r.new_follower, r.new_member) for r in rows]


@pytest.fixture
def default_follow_reply() -> Iterator[None]:
    """The reach domain's default follow reply stands in: answers every follow."""

    def answer(_session: Any, _app: AppRead, push: Push) -> Reply | None:
        return TextReply("默认关注回复") if isinstance(push, SubscribeEvent) else None

    inbox.register_reply_handler(answer)
    yield
    inbox.unregister_reply_handler(answer)


def test_a_follow_through_a_channel_code_is_attributed_tagged_and_welcomed(
    manager: TestClient,
    oa: WeChat,
    oa_app: AppRead,
    db: Database,
    drain: Callable[[], int],
    world: SandboxWorld,
    default_follow_reply: None,
) -> None:
    made = channel(manager, "metro")
    user = openid(1)
    # when the user follows through the code, and WeChat delivers the push twice
    first = oa.plain(event_push(user, "subscribe", "qrscene_metro", Ticket=made["code"]["ticket"]))
    again = oa.plain(event_push(user, "subscribe", "qrscene_metro", Ticket=made["code"]["ticket"]))
    drain()
    # then the channel's welcome answers it (before the default follow reply), once
    assert "欢迎，metro！" in first.text
    assert again.text == first.text
    # and one arrival is recorded: a new follower and a new member, with the touches
    channel_id = made["channel"]["id"]
    assert arrivals(db) == [(ArrivalKind.subscribe, channel_id, True, True)]
    with db.session_scope() as session:
        touch = session.scalars(select(Touch)).one()
        assert (touch.first_channel_id, touch.last_channel_id) == (channel_id, channel_id)
        assert identity.member_tags(session, touch.member_id) == ["来自metro"]
        event = session.scalars(select(TimelineEvent)).one()
        assert (event.name, event.channel) == ("oa.subscribe", "metro")


def test_a_plain_follow_and_a_foreign_scene_fall_through_to_the_default_reply(
    manager: TestClient,
    oa: WeChat,
    oa_app: AppRead,
    db: Database,
    drain: Callable[[], int],
    default_follow_reply: None,
) -> None:
    channel(manager, "metro")
    plain = oa.plain(event_push(openid(2), "subscribe"))
    foreign = oa.plain(event_push(openid(3), "subscribe", "qrscene_someone-else"))
    drain()
    assert "默认关注回复" in plain.text
    assert "默认关注回复" in foreign.text
    assert arrivals(db) == []


def test_a_scan_moves_the_last_touch_and_keeps_the_first(
    manager: TestClient, oa: WeChat, oa_app: AppRead, db: Database, drain: Callable[[], int]
) -> None:
    metro = channel(manager, "metro")["channel"]["id"]
    shop = channel(manager, "shop")["channel"]["id"]
    user = openid(4)
    oa.plain(event_push(user, "subscribe", "qrscene_metro"))
    scanned = oa.plain(event_push(user, "SCAN", "shop", at=T0 + 60))
    drain()
    assert "欢迎，shop！" in scanned.text
    assert arrivals(db) == [
        (ArrivalKind.subscribe, metro, True, True),
        (ArrivalKind.scan, shop, False, False),
    ]
    with db.session_scope() as session:
        touch = session.scalars(select(Touch)).one()
        assert (touch.first_channel_id, touch.last_channel_id) == (metro, shop)
        assert sorted(identity.member_tags(session, touch.member_id)) == ["来自metro", "来自shop"]


def test_an_archived_channel_still_records_arrivals_from_codes_in_circulation(
    manager: TestClient, oa: WeChat, oa_app: AppRead, db: Database, drain: Callable[[], int]
) -> None:
    made = channel(manager, "old-poster")
    manager.post(f"/api/entries/channels/{made['channel']['id']}/archive")
    oa.plain(event_push(openid(5), "subscribe", "qrscene_old-poster"))
    drain()
    assert arrivals(db) == [(ArrivalKind.subscribe, made["channel"]["id"], True, True)]


def test_the_report_counts_scans_followers_members_unfollows_and_conversions(
    manager: TestClient, oa: WeChat, oa_app: AppRead, db: Database, drain: Callable[[], int]
) -> None:
    metro = channel(manager, "metro")["channel"]["id"]
    channel(manager, "idle")
    # three users follow through the metro code; one leaves the next day, one pays later
    for n in (11, 12, 13):
        oa.plain(event_push(openid(n), "subscribe", "qrscene_metro"))
    oa.plain(event_push(openid(11), "unsubscribe", at=T0 + 86400))
    oa.plain(event_push(openid(12), "SCAN", "metro", at=T0 + 100))
    drain()
    with db.session_scope() as session:
        payer = session.scalars(select(Arrival.member_id).where(Arrival.kind == "scan")).one()
        ws = session.scalars(select(Arrival.workspace_id)).first()
        assert ws is not None
        identity.record_event(session, ws, payer, "pay.paid", clock.now() + timedelta(days=1))
    report = manager.get("/api/entries/reports/channels?event=pay.paid").json()
    rows = {r["slug"]: r for r in report["rows"]}
    assert rows["metro"]["channel_id"] == metro
    assert (
        rows["metro"]["scans"],
        rows["metro"]["new_followers"],
        rows["metro"]["new_members"],
        rows["metro"]["unfollows_7d"],
        rows["metro"]["arrived_members"],
        rows["metro"]["conversions"],
        rows["metro"]["precision"],
    ) == (4, 3, 3, 1, 3, 1, 0.3333)
    assert rows["idle"]["scans"] == 0
    assert rows["idle"]["precision"] is None
    # the CSV streams the same figures
    csv_text = manager.get("/api/entries/reports/channels.csv?event=pay.paid").text
    assert csv_text.startswith("\ufeffchannel_id,name,slug")
    assert f"{metro},渠道 metro,metro,,active,4,3,3,1,3,1,0.3333" in csv_text
    assert manager.get("/api/entries/reports/channels?event=nope").json()["code"] == (
        "entries.unknown_event"
    )


def test_an_mp_launch_with_a_code_scene_is_an_arrival_counted_once(
    manager: TestClient, app_client: TestClient, mp_app: AppRead, db: Database, world: SandboxWorld
) -> None:
    made = manager.post(
        "/api/entries/channels",
        json={"name": "小程序码", "slug": "card", "code": {"appid": MP_APPID, "kind": "mp_code"}},
    ).json()
    user = world.create_users(1)[0]
    code = world.issue_code(user, MP_APPID, "login")
    login = app_client.post(f"/api/mp/{MP_APPID}/session", json={"code": code})
    assert login.status_code == 200, login.text
    bearer = {"Authorization": f"Bearer {login.json()['token']}"}
    body = {
        "scene": 1047,
        "path": "pages/index/index",
        "query": {"scene": "card"},
        "launch_id": "L1",
    }
    # the client retries the call: it counts once
    for _ in range(2):
        answer = app_client.post(f"/api/mp/{MP_APPID}/launch", json=body, headers=bearer)
        assert answer.json() == {"channel": "card"}
    assert arrivals(db) == [(ArrivalKind.launch, made["channel"]["id"], False, True)]
    # a launch without a scene is on the timeline, attributed to nothing
    plain = app_client.post(f"/api/mp/{MP_APPID}/launch", json={"scene": 1001}, headers=bearer)
    assert plain.json() == {"channel": None}
    assert len(arrivals(db)) == 1
    # no session, no launch
    assert app_client.post(f"/api/mp/{MP_APPID}/launch", json=body).status_code == 401


def test_a_welcome_past_the_reply_budget_goes_out_as_a_customer_service_message(
    manager: TestClient,
    client: TestClient,
    oa: WeChat,
    oa_app: AppRead,
    db: Database,
    drain: Callable[[], int],
    world: SandboxWorld,
    settings: Settings,
) -> None:
    from siyu.sandbox.messaging import open_grant

    channel(manager, "late")
    cast(FastAPI, client.app).state.settings = settings.model_copy(
        update={"push_reply_budget_ms": 0}
    )
    user, user_openid = follower(world)
    open_grant(world, user, OA_APPID, "scan")
    # when the scan is answered "success" (no budget left for a passive reply)
    answer = oa.plain(event_push(user_openid, "SCAN", "late"))
    assert answer.text == "success"
    drain()
    # then the job sends the channel's welcome through the customer-service API
    sent = [item.content for item in user.inbox if item.via == "custom"]
    assert sent == [{"content": "欢迎，late！"}]
    assert len(arrivals(db)) == 1
