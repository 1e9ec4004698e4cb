"""Benchmark of segments on PostgreSQL: the live count of a three-condition segment (a tag AND
`pay.paid` ≥ 2 times in 90 days AND follows the OA), and a full refresh of a dynamic segment
of every member (the set-based diff, the `segment.entered` events, COPY).

    .venv/bin/python bench/segments.py                                   # 1,000,000 / 10,000,000
    .venv/bin/python bench/segments.py --members 20000 --events 200000   # a quick run

Members, tags, events and the reach ledger are COPYed into `siyu_segments_bench` (created and
dropped here). Baselines of the same run: `count(*)` of the pay.paid events of 90 days (the
scan the count cannot avoid), and `CREATE TABLE … AS SELECT` of every member id (the floor of
writing the membership). Targets at full size: count < 1 s, refresh < 60 s.
"""

from __future__ import annotations

import argparse
import json
import random
import time
from datetime import UTC, datetime, timedelta

import psycopg
from sqlalchemy import text

from siyu import wiring
from siyu.audience import service as audience
from siyu.audience.enums import SegmentKind
from siyu.audience.schemas import SegmentCreate
from siyu.core.config import Settings
from siyu.core.crypto import configure_crypto
from siyu.core.db import Database
from siyu.migrations import upgrade
from siyu.security import service as security
from siyu.security.enums import Role
from siyu.security.schemas import Principal
from siyu.workspaces import service as workspaces
from siyu.workspaces.enums import AppKind
from siyu.workspaces.schemas import AppCreate

PG_SERVER = "postgresql://postgres@127.0.0.1:5432"
PG_DB = "siyu_segments_bench"
OA_APPID = "wxbe4c4bec4bec4bed"
THREE = {
    "op": "and",
    "conditions": [
        {"kind": "tags", "tags": ["早起打卡"]},
        {"kind": "event", "event": "pay.paid", "min_count": 2, "within_days": 90},
        {"kind": "follows", "appid": OA_APPID},
    ],
}
EVERYONE = {"op": "and", "conditions": [{"kind": "joined", "within_days": 3650}]}


def load(db: Database, url: str, members: int, events: int) -> Principal:
    with db.session_scope() as session:
        ws = workspaces.ensure_default_workspace(session).id
        app = workspaces.add_app(
            session, ws, AppCreate(kind=AppKind.oa_service, appid=OA_APPID, name="服务号")
        )
        owner = security.create_operator(
            session, ws, "owner@bench.example", "a long enough password", role=Role.owner
        )
    now = datetime.now(UTC)
    rng = random.Random(7)
    raw = url.replace("+psycopg", "")
    with psycopg.connect(raw) as conn, conn.cursor() as cur:
        with cur.copy(
            "COPY members (id, workspace_id, number, status, attributes, created_at) FROM STDIN"
        ) as copy:
            for i in range(1, members + 1):
                joined = now - timedelta(days=rng.randint(0, 900))
                copy.write_row((i, ws, 10000 + i, "active", "{}", joined))
        with cur.copy(
            "COPY member_tags (workspace_id, member_id, tag, created_by, created_at) FROM STDIN"
        ) as copy:
            for i in range(1, members + 1, 3):
                copy.write_row((ws, i, "早起打卡", "bench", now))
        with cur.copy(
            "COPY reach_ledger (workspace_id, member_id, app_id, openid, following, window_used,"
            " mass_month, mass_count, updated_at) FROM STDIN"
        ) as copy:
            for i in range(1, members + 1, 2):
                copy.write_row((ws, i, app.id, f"o{i:027d}", True, 0, "", 0, now))
        names = ["pay.paid", "mp.page_view", "mp.login", "oa.message"]
        with cur.copy(
            "COPY events (workspace_id, member_id, origin_member_id, name, ts, props,"
            " received_at) FROM STDIN"
        ) as copy:
            for _ in range(events):
                m = rng.randint(1, members)
                name = names[rng.randint(0, 3)]
                ts = now - timedelta(days=rng.random() * 365)
                props = json.dumps({"amount_fen": rng.randint(100, 50000)})
                copy.write_row((ws, m, m, name, ts, props, now))
        cur.execute("SELECT setval('members_id_seq', %s)", (members + 1,))
        conn.commit()
        cur.execute("ANALYZE")
    return Principal(
        operator_id=owner.id, workspace_id=ws, email=owner.email, name=owner.name,
        role=owner.role, via="bench",
    )  # fmt: skip


def best(fn: object, runs: int = 3) -> float:
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        fn()  # type: ignore[operator]
        times.append(time.perf_counter() - started)
    return min(times)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--members", type=int, default=1_000_000)
    parser.add_argument("--events", type=int, default=10_000_000)
    args = parser.parse_args()
    with psycopg.connect(f"{PG_SERVER}/postgres", autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{PG_DB}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{PG_DB}"')
    url = f"postgresql+psycopg://postgres@127.0.0.1:5432/{PG_DB}"
    configure_crypto(Settings(env="development", database_url=url))
    wiring.wire()
    upgrade(url)
    db = Database(url)
    try:
        started = time.perf_counter()
        owner = load(db, url, args.members, args.events)
        print(f"loaded {args.members:,} members, {args.events:,} events "
              f"in {time.perf_counter() - started:.1f} s")  # fmt: skip
        ws = owner.workspace_id
        found: list[int] = []

        def count() -> None:
            with db.session_scope() as session:
                found.append(audience.preview(session, ws, THREE).count)

        def scan() -> None:
            with db.session_scope() as session:
                session.execute(
                    text(
                        "SELECT count(*) FROM events WHERE workspace_id = :ws AND name = 'pay.paid'"
                        " AND ts >= now() - interval '90 days'"
                    ),
                    {"ws": ws},
                )

        live, base = best(count), best(scan)
        print(f"live count of tag AND pay.paid>=2 in 90d AND follows: {found[-1]:,} members "
              f"in {live:.3f} s; baseline scan {base:.3f} s; ratio {live / base:.2f}x")  # fmt: skip
        # A static segment is filled as it is created (a dynamic one by a job: no queue here),
        # by the same refresh.
        started = time.perf_counter()
        with db.session_scope() as session:
            segment = audience.create_segment(
                session,
                owner,
                SegmentCreate(name="全部", kind=SegmentKind.static, definition=EVERYONE),
            )
        refresh = time.perf_counter() - started
        result = segment
        started = time.perf_counter()
        with db.session_scope() as session:
            session.execute(text("CREATE TABLE bench_ids AS SELECT id FROM members"))
        floor = time.perf_counter() - started
        print(f"full refresh: {result.member_count:,} entered in {refresh:.2f} s; baseline "
              f"CREATE TABLE AS {floor:.2f} s; ratio {refresh / floor:.1f}x")  # fmt: skip
        started = time.perf_counter()
        with db.session_scope() as session:
            again = audience.refresh_segment(session, segment.id, actor="bench")
        print(f"refresh again (no change: {again.entered} entered, {again.left} left) "
              f"in {time.perf_counter() - started:.2f} s")  # fmt: skip
    finally:
        db.dispose()
        with psycopg.connect(f"{PG_SERVER}/postgres", autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{PG_DB}" WITH (FORCE)')
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
