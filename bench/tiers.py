"""Benchmark of the nightly lifecycle tiers and RFM (issue #19: 1,000,000 members in < 60 s on
PostgreSQL).

    .venv/bin/python bench/tiers.py                      # 1,000,000 members, 10 events each
    .venv/bin/python bench/tiers.py --members 100000     # a quick run

1. A PostgreSQL database (`siyu_tiers_bench`, created and dropped here) is migrated; one
   workspace with an OA and a Mini Program; `--members` members and `--events` events each are
   COPYed in: joined over the last 400 days, their last activity spread so that every tier is
   populated (a fifth within a week, …, a third past 90 days), about a third of them buyers
   (`pay.paid` with amounts, some refunded), a tenth of the OA followers unfollowed since.
2. Baselines in the same run, over the same events: a plain `COUNT(*)`, and one GROUP BY
   member of the last event's time (the least a per-member computation must read).
3. `audience.service.compute_tiers` twice — the first run gives every member a first tier (a
   move each: a row of `member_tier_changes` and a `member.tier_changed` event COPYed to the
   timeline), the second is a steady night (no move) — and `compute_rfm`, each in its own
   transaction, as the nightly jobs run them.

Prints each time, its ratio to the GROUP BY baseline, and the extrapolation to 1,000,000
members (linear in the events read), with the process's peak memory.
"""

from __future__ import annotations

import argparse
import json
import random
import resource
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

PG_SERVER = "postgresql://postgres@127.0.0.1:5432"
PG_DB = "siyu_tiers_bench"
TARGET_S = 60.0
TARGET_MEMBERS = 1_000_000
MP_APPID = "wx7133a55be0c00001"
OA_APPID = "wx7133a55be0c00002"
ACTIONS = ("mp.login", "mp.page_view", "mp.page_view", "oa.message", "activity.checkin")


def _last_active(rng: random.Random, now: datetime, joined: datetime) -> datetime:
    """A fifth within a week, a quarter within 30 days, a fifth 30–90 days, a third beyond."""
    draw = rng.random()
    days = (
        rng.uniform(0, 7)
        if draw < 0.2
        else rng.uniform(7, 30)
        if draw < 0.45
        else rng.uniform(30, 90)
        if draw < 0.65
        else rng.uniform(90, 400)
    )
    return max(joined, now - timedelta(days=days))


def load(url: str, members: int, per_member: int, seed: int) -> int:
    """The workspace, its apps, the members and their events; the workspace id."""
    from siyu.core.config import Settings
    from siyu.core.crypto import configure_crypto
    from siyu.core.db import Database
    from siyu.migrations import upgrade
    from siyu.workspaces import service as workspaces
    from siyu.workspaces.enums import AppKind, PushMode
    from siyu.workspaces.schemas import AppCreate

    upgrade(url)
    configure_crypto(Settings(env="development", database_url=url))
    db = Database(url)
    with db.session_scope() as session:
        ws = workspaces.create_workspace(session, "基准").id
        apps = {}
        for kind, appid in ((AppKind.mp, MP_APPID), (AppKind.oa_service, OA_APPID)):
            apps[kind] = workspaces.add_app(
                session,
                ws,
                AppCreate(
                    kind=kind,
                    appid=appid,
                    name=appid,
                    entity="基准教育",
                    secret="s" * 32,
                    token="benchtoken",
                    aes_key="a" * 43,
                    push_mode=PushMode.compatible,
                ),
            ).id
    db.dispose()
    rng = random.Random(seed)
    now = datetime.now(UTC)
    mp, oa = apps[AppKind.mp], apps[AppKind.oa_service]
    with psycopg.connect(url.replace("+psycopg", "")) as conn:
        with conn.cursor().copy(
            "COPY members (id, workspace_id, number, status, attributes, created_at) FROM STDIN"
        ) as copy:
            joined_at = []
            for i in range(1, members + 1):
                joined = now - timedelta(days=rng.uniform(0, 400))
                joined_at.append(joined)
                copy.write_row((i, ws, 10_000 + i, "active", "{}", joined))
        conn.execute(f"SELECT setval('members_id_seq', {members})")
        with conn.cursor().copy(
            "COPY events (workspace_id, member_id, origin_member_id, app_id, name, ts, props,"
            " received_at) FROM STDIN"
        ) as copy:
            for i, joined in enumerate(joined_at, start=1):
                last = _last_active(rng, now, joined)
                span = (last - joined).total_seconds()
                follower = rng.random() < 0.6
                buyer = rng.random() < 0.35
                rows: list[tuple[int, str, datetime, str]] = []
                if follower:
                    rows.append((oa, "oa.subscribe", joined, "{}"))
                for k in range(per_member - len(rows)):
                    at = last if k == 0 else joined + timedelta(seconds=rng.uniform(0, span))
                    if buyer and k % 4 == 1:
                        amount = rng.choice((990, 4_900, 9_900, 19_900, 59_900))
                        rows.append((mp, "pay.paid", at, json.dumps({"amount": amount})))
                        if rng.random() < 0.1:
                            rows.append(
                                (mp, "pay.refunded", at, json.dumps({"amount": amount // 2}))
                            )
                    else:
                        name = rng.choice(ACTIONS)
                        rows.append((oa if name.startswith("oa.") else mp, name, at, "{}"))
                if follower and rng.random() < 0.1:
                    rows.append((oa, "oa.unsubscribe", last + timedelta(minutes=1), "{}"))
                for app, name, at, props in rows:
                    copy.write_row((ws, i, i, app, name, at, props, at))
        conn.execute("ANALYZE members")
        conn.execute("ANALYZE events")
    return ws


def best_of(n: int, run: object) -> float:
    times = []
    for _ in range(n):
        started = time.perf_counter()
        run()  # type: ignore[operator]
        times.append(time.perf_counter() - started)
    return min(times)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--members", type=int, default=TARGET_MEMBERS)
    parser.add_argument("--events", type=int, default=10, help="events per member")
    parser.add_argument("--seed", type=int, default=19)
    parser.add_argument("--keep", action="store_true", help="keep the database afterwards")
    args = parser.parse_args()

    from sqlalchemy import text

    from siyu.audience import service as audience
    from siyu.core.db import Database

    with psycopg.connect(f"{PG_SERVER}/postgres", autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{PG_DB}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{PG_DB}"')
    url = f"postgresql+psycopg://postgres@127.0.0.1:5432/{PG_DB}"
    try:
        started = time.perf_counter()
        ws = load(url, args.members, args.events, args.seed)
        db = Database(url)
        with db.engine.connect() as conn:
            events = int(conn.execute(text("SELECT count(*) FROM events")).scalar_one())
        print(
            f"loaded {args.members:,} members, {events:,} events in "
            f"{time.perf_counter() - started:.1f}s (COPY)",
            flush=True,
        )

        def count() -> None:
            with db.engine.connect() as conn:
                conn.execute(text("SELECT count(*) FROM events WHERE workspace_id = :w"), {"w": ws})

        def group_by() -> None:
            with db.engine.connect() as conn:
                conn.execute(
                    text(
                        "SELECT count(*) FROM (SELECT member_id, max(ts) FROM events"
                        " WHERE workspace_id = :w GROUP BY member_id) AS per_member"
                    ),
                    {"w": ws},
                ).scalar_one()

        count_s = best_of(3, count)
        group_s = best_of(3, group_by)
        print(f"[baseline] COUNT(*) over the events: {count_s:.2f}s", flush=True)
        print(f"[baseline] GROUP BY member, max(ts): {group_s:.2f}s", flush=True)

        figures: dict[str, float] = {}
        for label in ("tiers, first run (every member moves)", "tiers, a steady night"):
            started = time.perf_counter()
            with db.session_scope() as session:
                report = audience.compute_tiers(session, ws)
            figures[label] = time.perf_counter() - started
            tiers = ", ".join(f"{t.value} {n:,}" for t, n in sorted(report.by_tier.items()))
            print(
                f"[{label}] {figures[label]:.2f}s, {report.moved:,} moved ({tiers}); "
                f"ratio to the GROUP BY {figures[label] / group_s:.1f}",
                flush=True,
            )
        started = time.perf_counter()
        with db.session_scope() as session:
            rfm = audience.compute_rfm(session, ws)
        figures["rfm"] = time.perf_counter() - started
        cells = ", ".join(f"{c.value} {n:,}" for c, n in rfm.by_cell.items())
        print(
            f"[rfm] {figures['rfm']:.2f}s for {rfm.buyers:,} buyers ({cells}); "
            f"ratio to the GROUP BY {figures['rfm'] / group_s:.1f}",
            flush=True,
        )
        nightly = figures["tiers, a steady night"] + figures["rfm"]
        worst = figures["tiers, first run (every member moves)"] + figures["rfm"]
        scale = TARGET_MEMBERS / args.members
        peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(
            f"[nightly] tiers + RFM: {nightly:.2f}s (first run {worst:.2f}s) for "
            f"{args.members:,} members; linear extrapolation to {TARGET_MEMBERS:,}: "
            f"{nightly * scale:.0f}s (first run {worst * scale:.0f}s), target < {TARGET_S:.0f}s; "
            f"peak RSS {peak_mb:.0f} MB",
            flush=True,
        )
        db.dispose()
    finally:
        if not args.keep:
            with psycopg.connect(f"{PG_SERVER}/postgres", autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{PG_DB}" WITH (FORCE)')
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
