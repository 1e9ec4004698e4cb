"""Benchmark of the Official Account tag sync through the sandbox WeChat.

    .venv/bin/python bench/oa_tags.py                        # 100,000 followers (the target)
    .venv/bin/python bench/oa_tags.py --followers 10000      # a quick run
    .venv/bin/python bench/oa_tags.py --followers 10000 --sqlite

N followers of a service account, in the sandbox and known to siyu (members, and the reach
ledger that says they follow), all carrying the siyu tag 早起营. The sandbox runs as a process
of its own (`siyu sandbox`, started from the world prepared here): WeChat is another machine,
and sharing this interpreter with it would tax whichever side runs more Python. After a
warm-up (20 calls to a third tag), in this order:

1. baseline: N/50 batchtagging calls of 50 openids (to a tag of their own) made by the gateway
   alone, as many in flight as the sync has (`CALLS_IN_FLIGHT`); followers/s.
2. sync: `audience.service.sync_oa_tag` from nothing: the OA tag made, the audience read
   (the tag, the followers), the same calls, the confirmed set committed every 1,000 by a
   writer thread (COPY on PostgreSQL) while the next are sent; followers/s.
3. a second sync with nothing changed (it must call batchtagging 0 times).

Printed: both rates and their ratio (the issue asks >= 0.8), the idle sync's time, peak memory.
Checks: WeChat's tag (read back by user/tag/get) holds exactly the N followers; the idle sync
tags nobody.
"""

from __future__ import annotations

import argparse
import logging
import os
import random
import resource
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
PG_SERVER = "postgresql://postgres@127.0.0.1:5432"
PG_DB = f"siyu_oatags_bench_{os.getpid()}_{random.randrange(1 << 30):08x}"
OA_APPID = "wxbe4c4bec4bec4bec"
SECRET = "s" * 32
SETUP_BATCH = 1000  # members made per transaction
TAG_BATCH = 50  # openids per batchtagging call (fact sheet §2.7)
WARM_UP_CALLS = 20


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def sandbox_process(world: Any, state: Path) -> Iterator[str]:
    """The sandbox in a process of its own, started from `world` (saved to `state`): WeChat is
    another machine, so neither side shares this process's interpreter with it."""
    import httpx

    from siyu.sandbox.pay import PayWorld
    from siyu.sandbox.snapshot import save

    save(world, PayWorld(world), state)
    port = free_port()
    command = [str(HERE.parent / ".venv/bin/siyu"), "sandbox", "--port", str(port)]
    command += ["--state-file", str(state)]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(600):
            try:
                httpx.get(f"{url}/sandbox-admin/accounts", timeout=1)
                break
            except httpx.HTTPError:
                time.sleep(0.05)
        yield url
    finally:
        process.terminate()
        process.wait(30)


def recreate_db() -> str:
    for sql in (f'DROP DATABASE IF EXISTS "{PG_DB}" WITH (FORCE)', f'CREATE DATABASE "{PG_DB}"'):
        subprocess.run(["psql", f"{PG_SERVER}/postgres", "-qc", sql], check=True)
    return f"{PG_SERVER}/{PG_DB}"


def bench(followers: int, seed: int, sqlite: bool) -> list[str]:
    import structlog
    from sqlalchemy import insert

    from siyu.audience import service
    from siyu.audience.schemas import OaTagSyncCreate
    from siyu.audience.service.oa_tags import CALLS_IN_FLIGHT
    from siyu.core import clock
    from siyu.core.config import Settings, install_settings
    from siyu.core.crypto import configure_crypto
    from siyu.core.db import Database, install_database
    from siyu.identity import service as identity
    from siyu.identity.models import MemberTag
    from siyu.identity.schemas import PersonRef
    from siyu.migrations import upgrade
    from siyu.reach.models import ReachLedger
    from siyu.sandbox.world import AccountSpec, Follow, SandboxWorld
    from siyu.wechat.service import gateway_for
    from siyu.workspaces import service as workspaces
    from siyu.workspaces.enums import AppKind
    from siyu.workspaces.schemas import AppCreate

    if sqlite:
        path = Path("/tmp") / f"siyu-oatags-bench-{os.getpid()}.db"
        url = f"sqlite:///{path}"
    else:
        url = recreate_db()
    os.environ.update({"SIYU_ENV": "development", "SIYU_DATABASE_URL": url})
    settings = Settings(_env_file=None)  # type: ignore[call-arg]
    configure_crypto(settings)
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.ERROR))
    logging.getLogger("httpx").setLevel(logging.WARNING)
    upgrade(url)
    db = Database(url)
    install_database(db)
    world = SandboxWorld(seed)
    world.register(AccountSpec(appid=OA_APPID, secret=SECRET, kind="oa_service"))
    problems: list[str] = []
    with db.session_scope() as session:
        ws = workspaces.ensure_default_workspace(session).id
        oa = workspaces.add_app(
            session,
            ws,
            AppCreate(kind=AppKind.oa_service, appid=OA_APPID, name="服务号", secret=SECRET),
        )
    started = time.perf_counter()
    users = world.create_users(followers, seed=seed)
    openids: list[str] = []
    for start in range(0, followers, SETUP_BATCH):
        chunk = users[start : start + SETUP_BATCH]
        now = clock.now()
        with db.session_scope() as session:
            ids = [world.openid(user, OA_APPID) for user in chunk]
            resolved = identity.resolve_member_ids(
                session, oa, [PersonRef(appid=OA_APPID, openid=o) for o in ids]
            )
            identity.number_new_members(session, ws)
            for user in chunk:
                user.follows[OA_APPID] = Follow(True, world.now(), "ADD_SCENE_SEARCH")
            members = [member_id for member_id, _new in resolved]
            session.execute(
                insert(ReachLedger),
                [
                    {
                        "workspace_id": ws, "member_id": m, "app_id": oa.id, "openid": o,
                        "following": True, "follow_changed_at": now, "window_used": 0,
                        "mass_month": "", "mass_count": 0, "updated_at": now,
                    }
                    for m, o in zip(members, ids, strict=True)
                ],
            )  # fmt: skip
            session.execute(
                insert(MemberTag),
                [
                    {
                        "workspace_id": ws, "member_id": m, "tag": "早起营",
                        "created_by": "bench", "created_at": now,
                    }
                    for m in members
                ],
            )  # fmt: skip
            openids.extend(ids)
    with db.session_scope() as session:
        data = OaTagSyncCreate(appid=OA_APPID, source="早起营")
        sync_id = service.create_oa_tag_sync(session, ws, data, "bench").id
    print(f"  setup          : {followers} followers in {time.perf_counter() - started:.1f}s")
    state = Path("/tmp") / f"siyu-oatags-bench-world-{os.getpid()}.json"
    with sandbox_process(world, state) as sandbox_url:
        settings = settings.model_copy(update={"wechat_api_base": sandbox_url})
        install_settings(settings)
        gateway = gateway_for(settings, db)
        lists = [openids[start : start + TAG_BATCH] for start in range(0, followers, TAG_BATCH)]

        def tag_all(tag_id: int, chosen: list[list[str]]) -> None:
            with ThreadPoolExecutor(CALLS_IN_FLIGHT) as pool:
                list(
                    pool.map(
                        lambda o: gateway.tag_users_once(OA_APPID, tag_id, o, add=True), chosen
                    )
                )

        # Warm both sides up (connections, code paths) before either clock starts.
        tag_all(gateway.create_tag(OA_APPID, "预热").id, lists[:WARM_UP_CALLS])

        # 1. the baseline: the same calls, gateway alone
        other = gateway.create_tag(OA_APPID, "基准").id
        started = time.perf_counter()
        tag_all(other, lists)
        base_s = time.perf_counter() - started

        # 2. the sync
        started = time.perf_counter()
        report = service.sync_oa_tag(db, sync_id, gateway=gateway)
        sync_s = time.perf_counter() - started
        tag_id = next(t.id for t in gateway.get_tags(OA_APPID) if t.name == "早起营")
        on_tag = {o for page in gateway.get_tag_fans(OA_APPID, tag_id) for o in page}
        if report.tagged != followers or on_tag != set(openids):
            problems.append(f"the sync tagged {report.tagged} ({len(on_tag)} on WeChat)")

        # 3. nothing changed
        started = time.perf_counter()
        idle = service.sync_oa_tag(db, sync_id, gateway=gateway)
        idle_s = time.perf_counter() - started
        if idle.tagged or idle.untagged:
            problems.append(f"the idle sync tagged {idle.tagged}, untagged {idle.untagged}")
        gateway.close()
    state.unlink(missing_ok=True)

    sync_rate, base_rate = followers / sync_s, followers / base_s
    print(f"  sync           : {followers} followers in {sync_s:.2f}s = {sync_rate:,.0f}/s")
    print(f"  gateway alone  : {followers} followers in {base_s:.2f}s = {base_rate:,.0f}/s")
    print(f"  ratio          : {sync_rate / base_rate:.2f} (target >= 0.8)")
    print(f"  idle re-sync   : {idle_s:.2f}s, {idle.tagged} tagged, {idle.untagged} untagged")
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"  peak memory    : {peak:,.0f} MB")
    db.dispose()
    if not sqlite:
        drop = f'DROP DATABASE IF EXISTS "{PG_DB}" WITH (FORCE)'
        subprocess.run(["psql", f"{PG_SERVER}/postgres", "-qc", drop], check=True)
    return problems


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--followers", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=20261207)
    parser.add_argument("--sqlite", action="store_true", help="a SQLite file, not PostgreSQL")
    args = parser.parse_args()
    sys.path.insert(0, str(HERE.parent / "src"))
    print(
        f"OA tag sync, {args.followers:,} followers ({'SQLite' if args.sqlite else 'PostgreSQL'})"
    )
    problems = bench(args.followers, args.seed, args.sqlite)
    for problem in problems:
        print(f"FAILED: {problem}")
    return 1 if problems else 0


if __name__ == "__main__":
    raise SystemExit(main())
