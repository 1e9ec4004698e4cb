"""Benchmark of arrivals: follows and scans of channel codes through the real push endpoint,
and the channel report over a million arrivals.

    .venv/bin/python bench/arrivals.py                          # 10,000 pushes, 1,000,000 rows
    .venv/bin/python bench/arrivals.py --pushes 2000 --rows 200000   # a quick run

1. siyu (`siyu.api.app.create_app`, `uvicorn --workers 2`) runs on PostgreSQL
   (`siyu_arrivals_bench`, created and dropped here) with its job queue on Redis, its gateway
   pointed at the sandbox WeChat served in this process. An operator's API token makes
   `--channels` channels, each with a temporary QR code made by the sandbox (qrcode/create).
2. Sandbox users (`siyu.sandbox.users.Population`, as `make run` simulates them) scan the
   codes: a user who does not follow yet follows through the code (`subscribe`, EventKey
   `qrscene_<scene>`), a follower's scan is `SCAN`. Each push is signed and encrypted (secure
   mode) by the sandbox and POSTed to siyu's push endpoint by `--concurrency` threads; the
   latency of each (seal, POST, the passive reply: the channel's welcome, opened) is kept.
3. An embedded worker processes the pushes (the arrival subscribers run in those jobs); then
   the arrivals per channel are compared with what was sent per channel: zero lost, none
   attributed to another channel, every push answered with its channel's welcome.
4. `--rows` arrival rows (and pay.paid events for a tenth of their members) are COPYed into
   the same database, and `siyu.entries.service.channel_report` runs over them (best of 3;
   target < 2 s).

Prints p50/p99 of the push (target: p99 reported), the counts compared, the report's time.
"""

from __future__ import annotations

import argparse
import os
import random
import secrets
import subprocess
import sys
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
PG_SERVER = "postgresql://postgres@127.0.0.1:5432"
PG_DB = "siyu_arrivals_bench"
OA_APPID = "wxa11a11a11a11a11a"
SECRET = "s" * 32
TOKEN = "benchtoken"
GH_ID = "gh_a11a11a11a11"
REPORT_TARGET_S = 2.0


def siyu_app() -> Any:
    """The real application (uvicorn's worker processes import this)."""
    from siyu.api.app import create_app

    return create_app()


def serve(port: int) -> None:
    import uvicorn

    uvicorn.run(
        "arrivals:siyu_app",
        factory=True,
        app_dir=str(HERE),
        host="127.0.0.1",
        port=port,
        workers=2,
        access_log=False,
        log_level="warning",
    )


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def serve_in_thread(app: Any) -> tuple[str, Any]:
    """The sandbox WeChat on a free loopback port, in a thread of this process."""
    import socket

    import uvicorn

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(
        uvicorn.Config(app, log_level="warning", lifespan="off", access_log=False)
    )
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not server.started:
        if time.monotonic() > deadline:
            raise RuntimeError("the sandbox did not start")
        time.sleep(0.05)
    return f"http://127.0.0.1:{sock.getsockname()[1]}", server


def wait_ready(url: str, process: subprocess.Popen[bytes]) -> None:
    import httpx

    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"siyu exited with {process.returncode}")
        try:
            if httpx.get(f"{url}/healthz", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    raise RuntimeError("siyu did not start")


def recreate_db() -> str:
    import psycopg

    with psycopg.connect(f"{PG_SERVER}/postgres", autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{PG_DB}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{PG_DB}"')
    return f"{PG_SERVER}/{PG_DB}"


def drop_db() -> None:
    import psycopg

    with psycopg.connect(f"{PG_SERVER}/postgres", autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{PG_DB}" WITH (FORCE)')


def prepare(url: str, aes_key: str) -> str:
    """Migrate, register the OA, make the owner; their API token."""
    from siyu.core.config import Settings
    from siyu.core.crypto import configure_crypto
    from siyu.core.db import Database
    from siyu.migrations import upgrade
    from siyu.security import service as security
    from siyu.security.enums import Role
    from siyu.workspaces import service as workspaces
    from siyu.workspaces.enums import AppKind
    from siyu.workspaces.schemas import AppCreate

    upgrade(url)
    configure_crypto(Settings())
    db = Database(url)
    with db.session_scope() as session:
        workspace = workspaces.create_workspace(session, "压测")
        workspaces.add_app(
            session,
            workspace.id,
            AppCreate(
                kind=AppKind.oa_service,
                appid=OA_APPID,
                name="压测服务号",
                secret=SECRET,
                token=TOKEN,
                aes_key=aes_key,
            ),
        )
        owner = security.create_operator(
            session, workspace.id, "bench@siyu.local", secrets.token_urlsafe(16), role=Role.owner
        )
        token = security.create_api_token(session, owner.id, "bench").token
    db.dispose()
    return token


def make_channels(siyu_url: str, token: str, count: int) -> dict[str, tuple[str, str]]:
    """ticket → (slug, welcome) of each channel's temporary QR code, made through siyu."""
    import httpx

    made: dict[str, tuple[str, str]] = {}
    headers = {"Authorization": f"Bearer {token}"}
    with httpx.Client(base_url=siyu_url, headers=headers, timeout=30) as http:
        for i in range(count):
            slug, welcome = f"ch{i:03d}", f"欢迎来自渠道 {i} 的你"
            answer = http.post(
                "/api/entries/channels",
                json={
                    "name": f"渠道 {i}",
                    "slug": slug,
                    "tags": [f"渠道{i}"],
                    "welcome": welcome,
                    "code": {"appid": OA_APPID, "kind": "oa_qr_temp", "expire_days": 30},
                },
            )
            answer.raise_for_status()
            made[answer.json()["code"]["ticket"]] = (slug, welcome)
    return made


def push_load(
    population: Any,
    users: list[str],
    channels: dict[str, tuple[str, str]],
    count: int,
    concurrency: int,
    seed: int,
) -> tuple[list[float], Counter[str], list[str], int]:
    """`count` scans by sandbox users; latencies (ms), scans sent per ticket, problems, and how
    many were answered with their channel's welcome (checked by the caller)."""
    from siyu.sandbox.users import Action

    rng = random.Random(seed)
    tickets = list(channels)
    plan = [(rng.choice(users), rng.choice(tickets)) for _ in range(count)]
    latencies: list[float] = [0.0] * count
    replies: list[str | None] = [None] * count
    problems: list[str] = []
    lock = threading.Lock()

    def scan(index: int) -> None:
        uid, ticket = plan[index]
        started = time.perf_counter()
        outcome = population.perform(Action(kind="scan", uid=uid, appid=OA_APPID, ticket=ticket))
        latencies[index] = (time.perf_counter() - started) * 1000
        if not outcome.ok:
            with lock:
                problems.append(f"scan {index}: {outcome.error}")
            return
        reply = outcome.reply or {}
        replies[index] = str(reply.get("Content") or reply.get("content") or "")

    # WeChat tells events apart by FromUserName + CreateTime (fact sheet §1.4): one user's
    # scans go out in rounds at least a second apart, or the second would be a retry.
    rounds: dict[int, list[int]] = {}
    seen: Counter[str] = Counter()
    for index, (uid, _ticket) in enumerate(plan):
        rounds.setdefault(seen[uid], []).append(index)
        seen[uid] += 1
    with ThreadPoolExecutor(concurrency) as pool:
        for number in sorted(rounds):
            list(pool.map(scan, rounds[number]))
            time.sleep(1.05)  # the next round's CreateTime is a later second
    sent = Counter(ticket for _uid, ticket in plan)
    welcomed = sum(
        1
        for (_uid, ticket), reply in zip(plan, replies, strict=True)
        if reply == channels[ticket][1]
    )
    return latencies, sent, problems, welcomed


def drain_jobs(url: str, expected: int, timeout: float) -> float:
    """Process the pushes with an embedded worker (arrival subscribers included)."""
    from sqlalchemy import func, select

    from siyu.core.config import Settings
    from siyu.core.crypto import configure_crypto
    from siyu.core.db import Database, install_database
    from siyu.core.jobs import configure_queue
    from siyu.wechat.models import PushReceipt, PushStatus
    from siyu.worker import consumer

    settings = Settings()
    configure_crypto(settings)
    configure_queue(settings)
    db = Database(url)
    install_database(db)
    worker = consumer(4, embedded=True)
    started = time.perf_counter()
    worker.start()
    try:
        while time.perf_counter() - started < timeout:
            with db.session_scope() as session:
                done = session.scalar(
                    select(func.count())
                    .select_from(PushReceipt)
                    .where(PushReceipt.status == PushStatus.processed)
                )
            if done >= expected:
                break
            time.sleep(0.25)
    finally:
        worker.stop(graceful=True)
    return time.perf_counter() - started


def compare(url: str, sent: Counter[str], channels: dict[str, tuple[str, str]]) -> list[str]:
    """Arrivals per channel against scans sent per channel's code."""
    from sqlalchemy import func, select

    from siyu.core.db import Database
    from siyu.entries.models import Arrival, Channel

    db = Database(url)
    with db.session_scope() as session:
        got = dict(
            session.execute(
                select(Channel.slug, func.count(Arrival.id))
                .join(Arrival, Arrival.channel_id == Channel.id)
                .group_by(Channel.slug)
            ).all()
        )
    db.dispose()
    expected = Counter({channels[ticket][0]: n for ticket, n in sent.items()})
    problems = [
        f"channel {slug}: {got.get(slug, 0)} arrivals for {n} scans"
        for slug, n in sorted(expected.items())
        if got.get(slug, 0) != n
    ]
    extra = set(got) - set(expected)
    if extra:
        problems.append(f"arrivals on channels nobody scanned: {sorted(extra)}")
    print(
        f"  arrivals {sum(got.values()):,} for {sum(expected.values()):,} scans "
        f"over {len(expected)} channels; channels that differ: {len(problems)}"
    )
    return problems


def load_rows(url: str, rows: int, channels: int, seed: int) -> None:
    """`rows` arrivals over `channels` channels (and pay.paid for a tenth of the members),
    by COPY: what a busy brand accumulates."""
    from datetime import UTC, datetime, timedelta

    import psycopg

    rng = random.Random(seed)
    start = datetime(2026, 1, 1, tzinfo=UTC)
    members = max(1, rows // 3)
    dsn = url.replace("postgresql://", "postgresql://", 1)
    with psycopg.connect(dsn) as conn:
        workspace_id, app_id = conn.execute("SELECT workspace_id, id FROM apps LIMIT 1").fetchone()
        ids = [r[0] for r in conn.execute("SELECT id FROM entry_channels ORDER BY id").fetchall()]
        for i in range(len(ids), channels):
            ids.append(
                conn.execute(
                    "INSERT INTO entry_channels (workspace_id, name, slug, group_name, tags,"
                    " welcome, target_page, status, created_by, created_at)"
                    " VALUES (%s, %s, %s, '', '[]', '', '', 'active', 'bench', now())"
                    " RETURNING id",
                    (workspace_id, f"批量 {i}", f"bulk{i:04d}"),
                ).fetchone()[0]
            )
        base_member = 10_000_000
        with conn.cursor().copy(
            "COPY entry_arrivals (workspace_id, channel_id, app_id, member_id, kind, source_key,"
            " new_follower, new_member, at, unfollowed_within_7d, first_in_channel) FROM STDIN"
        ) as copy:
            seen: set[tuple[int, int]] = set()
            for n in range(rows):
                at = start + timedelta(seconds=rng.randrange(300 * 86400))
                follow = rng.random() < 0.7
                channel, member = rng.choice(ids), base_member + rng.randrange(members)
                first = (channel, member) not in seen
                seen.add((channel, member))
                copy.write_row(
                    (
                        workspace_id,
                        channel,
                        app_id,
                        member,
                        "subscribe" if follow else "scan",
                        f"bulk:{n}",
                        follow,
                        follow and rng.random() < 0.6,
                        at,
                        follow and rng.random() < 0.05,
                        first,
                    )
                )
        with conn.cursor().copy(
            "COPY events (workspace_id, member_id, origin_member_id, app_id, name, ts, props,"
            " received_at) FROM STDIN"
        ) as copy:
            for m in rng.sample(range(members), members // 10):
                ts = start + timedelta(seconds=rng.randrange(330 * 86400))
                member = base_member + m
                copy.write_row((workspace_id, member, member, app_id, "pay.paid", ts, "{}", ts))
        conn.execute("ANALYZE entry_arrivals")
        conn.execute("ANALYZE events")


def time_report(url: str) -> tuple[float, int]:
    from siyu.core.db import Database
    from siyu.entries import service

    db = Database(url)
    best = float("inf")
    total = 0
    with db.session_scope() as session:
        workspace_id = session.execute(
            __import__("sqlalchemy").text("SELECT id FROM workspaces LIMIT 1")
        ).scalar_one()
    for _ in range(3):
        with db.session_scope() as session:
            started = time.perf_counter()
            report = service.channel_report(session, workspace_id, event="pay.paid")
            best = min(best, time.perf_counter() - started)
            total = sum(r.scans for r in report.rows)
    db.dispose()
    return best, total


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pushes", type=int, default=10_000, help="follows and scans pushed")
    parser.add_argument("--users", type=int, default=4_000, help="sandbox users scanning")
    parser.add_argument("--channels", type=int, default=20, help="channels with a QR code")
    parser.add_argument("--concurrency", type=int, default=16, help="pushes in flight")
    parser.add_argument("--rows", type=int, default=1_000_000, help="arrivals for the report")
    parser.add_argument("--report-channels", type=int, default=200, help="channels in it")
    parser.add_argument("--redis", default="redis://127.0.0.1:6379/13", help="job queue")
    parser.add_argument("--seed", type=int, default=20261123)
    parser.add_argument("--serve", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(args.serve)
        return 0

    from huey.storage import RedisStorage

    from siyu.core.jobs import QUEUE_NAME
    from siyu.sandbox.app import create_sandbox_app
    from siyu.sandbox.users import Population
    from siyu.sandbox.world import AccountSpec, SandboxWorld

    aes_key = secrets.token_urlsafe(64).replace("-", "a").replace("_", "b")[:43]
    world = SandboxWorld(seed=args.seed)
    sandbox_url, sandbox_server = serve_in_thread(create_sandbox_app(world))
    url = recreate_db()
    os.environ.update(
        {
            "SIYU_ENV": "development",
            "SIYU_DATABASE_URL": url,
            "SIYU_REDIS_URL": args.redis,
            "SIYU_LOG_JSON": "false",
            "SIYU_WECHAT_API_BASE": sandbox_url,
            "SIYU_FETCH_FOLLOWER_UNIONID": "false",
        }
    )
    RedisStorage(QUEUE_NAME, url=args.redis).flush_all()
    port = free_port()
    siyu_url = f"http://127.0.0.1:{port}"
    process: subprocess.Popen[bytes] | None = None
    problems: list[str] = []
    try:
        token = prepare(url, aes_key)
        world.register(
            AccountSpec(
                appid=OA_APPID,
                secret=SECRET,
                kind="oa_service",
                token=TOKEN,
                aes_key=aes_key,
                mode="secure",
                original_id=GH_ID,
                push_url=f"{siyu_url}/wechat/push/{OA_APPID}",
            )
        )
        process = subprocess.Popen([sys.executable, __file__, "--serve", str(port)])
        wait_ready(siyu_url, process)
        channels = make_channels(siyu_url, token, args.channels)
        users = [u.uid for u in world.create_users(args.users, seed=args.seed)]
        population = Population(world)
        print(
            f"arrivals: {args.pushes:,} scans by {args.users:,} sandbox users of "
            f"{args.channels} channels' codes, {args.concurrency} in flight",
            flush=True,
        )
        started = time.perf_counter()
        latencies, sent, failed, welcomed = push_load(
            population, users, channels, args.pushes, args.concurrency, args.seed
        )
        elapsed = time.perf_counter() - started
        problems += failed[:10]
        print(
            f"  pushes   {args.pushes / elapsed:8,.0f}/s   p50 {percentile(latencies, 0.5):6.1f} ms"
            f"   p99 {percentile(latencies, 0.99):6.1f} ms   ({elapsed:.1f}s)",
            flush=True,
        )
        if welcomed != args.pushes:
            problems.append(f"{args.pushes - welcomed} pushes were not answered with a welcome")
        drained = drain_jobs(url, args.pushes - len(failed), timeout=120 + args.pushes * 0.2)
        print(f"  processed in {drained:.1f}s by an embedded worker", flush=True)
        problems += compare(url, sent, channels)
        population.pusher.close()
        stop(process)
        process = None
        if args.rows:
            print(
                f"report: {args.rows:,} arrivals over {args.report_channels} channels", flush=True
            )
            started = time.perf_counter()
            load_rows(url, args.rows, args.report_channels, args.seed)
            print(f"  loaded in {time.perf_counter() - started:.1f}s (COPY)", flush=True)
            seconds, scans = time_report(url)
            verdict = "ok" if seconds < REPORT_TARGET_S else "SLOW"
            print(
                f"  channel_report {seconds * 1000:8.0f} ms (best of 3; target < "
                f"{REPORT_TARGET_S:.0f} s: {verdict}); {scans:,} scans counted",
                flush=True,
            )
            if seconds >= REPORT_TARGET_S:
                problems.append(f"the report took {seconds:.2f}s")
    finally:
        if process is not None:
            stop(process)
        sandbox_server.should_exit = True
        RedisStorage(QUEUE_NAME, url=args.redis).flush_all()
        drop_db()
    for problem in problems:
        print("PROBLEM:", problem)
    print("zero lost, each attributed to its channel" if not problems else "FAILED")
    return 1 if problems else 0


def stop(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


if __name__ == "__main__":
    sys.exit(main())
