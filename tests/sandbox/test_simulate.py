"""The scenario: reproducible, pushed to siyu as real pushes, replayed over past days."""

from __future__ import annotations

from datetime import timedelta

import httpx
import pytest
from wechatpy import parse_message

from siyu.core import clock
from siyu.sandbox.simulate import Landscape, RemoteActor, plan, run, simulate
from siyu.sandbox.world import SandboxWorld
from tests.support.http import as_httpx
from tests.support.sandbox import ACCOUNTS, MP, OA, SIYU, Receiver, Sandbox, opened

MENU = {"button": [{"type": "click", "name": "打卡", "key": "CHECKIN"}]}
POSTER = {"action_name": "QR_LIMIT_STR_SCENE", "action_info": {"scene": {"scene_str": "poster"}}}


def prepare(sb: Sandbox) -> None:
    sb.post("/cgi-bin/menu/create", OA, MENU)
    sb.post("/cgi-bin/qrcode/create", OA, POSTER)


def test_simulation_replays_days_of_activity_into_siyu(sandbox: Sandbox) -> None:
    # given siyu's apps with a menu and a poster code
    prepare(sandbox)
    progress: list[tuple[int, int]] = []
    http = httpx.Client(transport=httpx.MockTransport(sandbox.receiver))
    # when 30 users play 5 days
    summary = simulate(sandbox.world, 30, 5, SIYU, lambda d, t: progress.append((d, t)), http=http)
    # then every action reached siyu, and the mix is a realistic one
    assert summary.actions == summary.ok > 0
    assert {"follow", "text", "click", "mp_login", "bind_phone"} <= set(summary.by_kind)
    assert progress[-1] == (summary.actions, summary.actions)
    # and the pushes tell when each user acted: over the last 5 days, in order
    now = clock.now()
    created = [parse_message(opened(r)).create_time for r in sandbox.receiver.pushes(OA)]
    assert now - timedelta(days=5) <= created[0].astimezone() < created[-1].astimezone() <= now
    assert created == sorted(created)
    # and the world is back on the real clock
    assert sandbox.world.now() == now


def test_follows_come_through_the_registered_codes(sandbox: Sandbox) -> None:
    prepare(sandbox)
    http = httpx.Client(transport=httpx.MockTransport(sandbox.receiver))
    simulate(sandbox.world, 30, 3, SIYU, http=http)
    scenes = {u.follows[OA].qr_scene_str for u in sandbox.world.users.values() if OA in u.follows}
    assert "poster" in scenes
    assert "" in scenes


def test_same_seed_same_scenario(frozen_clock: object) -> None:
    land = Landscape(oa=[OA], mp=[MP], menu_keys={OA: ["CHECKIN"]}, tickets={OA: ["T"]})
    start = clock.now() - timedelta(days=3)
    uids = [f"u{n:06d}" for n in range(1, 21)]
    first = plan(uids, 3, land, start, seed=5, siyu_url=SIYU)
    assert first == plan(uids, 3, land, start, seed=5, siyu_url=SIYU)
    assert first != plan(uids, 3, land, start, seed=6, siyu_url=SIYU)


def test_simulation_needs_registered_apps(frozen_clock: object) -> None:
    with pytest.raises(ValueError, match="register"):
        simulate(SandboxWorld(), 5, 1, SIYU)


def test_remote_simulation_through_the_admin_api(sandbox: Sandbox) -> None:
    # given a sandbox reached only over its admin API
    prepare(sandbox)
    actor = RemoteActor("http://testserver", http=as_httpx(sandbox.client))
    # when the scenario runs there
    summary = run(actor, users=10, days=2, siyu_url=SIYU, seed=3)
    # then the sandbox's users acted and siyu heard them
    assert summary.actions == summary.ok > 0
    assert len(sandbox.world.users) == 10
    assert sandbox.receiver.pushes(OA)
    assert sandbox.world.offset == timedelta(0)


def test_live_mode_acts_now(frozen_clock: object) -> None:
    receiver = Receiver()
    world = SandboxWorld()
    for spec in ACCOUNTS:
        world.register(spec)
    http = httpx.Client(transport=httpx.MockTransport(receiver))
    simulate(world, 10, 2, SIYU, http=http, backfill=False)
    created = {parse_message(opened(r)).create_time.timestamp() for r in receiver.pushes(OA)}
    assert created == {clock.now().timestamp()}
