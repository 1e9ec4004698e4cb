"""Benchmark of loyalty on PostgreSQL: points earned from payment events through the rules,
and the nightly expiry of points lots. (Coupons are added to this file by their own functions.)

    .venv/bin/python bench/loyalty.py        # 100,000 events, 1,000,000 lots
    .venv/bin/python bench/loyalty.py --events 10000 --lots 100000   # a quick run

1. Earning (`bench_points_earning`): M members (events / 10), a `pay_paid` rule (1 point and
   1 growth a yuan, a daily cap) and three levels (the gold one doubles points); `--events`
   payment events of 1-500 yuan, each with its own `pay.paid:<out_trade_no>` source key,
   earned by `members.service.earn_many` in batches of 1,000 (one transaction each, as a push
   batch would), then every batch again (all duplicates: nothing may change). Printed:
   events/s, and a baseline of the same rows written bare (one INSERT … SELECT unnest per
   batch into a table of the same shape as the ledger, no rules, locks, lots or accounts),
   and the ratio. A sample of `--single` events is also earned one per transaction (the path
   of a payment notification, `earn`). Checks: the balances equal the lots' sums and the
   ledger's; the duplicates earned nothing; the target ≥ 2,000 events/s.

2. Expiry (`bench_points_expiry`): `--lots` lots of 100 members each, all due, written with
   INSERT … SELECT generate_series; then the expiry job's loop (`members.service.expire_due`,
   2,000 members a transaction) until none is left. Printed: seconds and lots/s, and a
   baseline: one bare `UPDATE … SET remaining = 0` over a copy of the same lots. Checks:
   every balance is 0, every lot empty, one expire entry per member; the target < 60 s.
"""

from __future__ import annotations

import argparse
import logging
import os
import random
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

PG_SERVER = "postgresql://postgres@127.0.0.1:5432"
PG_DB = f"siyu_loyalty_bench_{os.getpid()}_{random.randrange(1 << 30):08x}"
MP_APPID = "wxbe4c4bec4bec4bec"
EARN_BATCH = 1000
MEMBER_BATCH = 2000
BARE_TABLE = (
    "CREATE TABLE bench_bare (id bigserial primary key, member_id bigint, "
    "source_key varchar(128) unique, amount int, created_at timestamptz)"
)
BARE_INSERT = (
    "INSERT INTO bench_bare (member_id, source_key, amount, created_at) "
    "SELECT m, k, a, now() FROM unnest(CAST(:m AS bigint[]), CAST(:k AS text[]), "
    "CAST(:a AS int[])) AS t(m, k, a)"
)


def recreate_db() -> str:
    import psycopg

    with psycopg.connect(f"{PG_SERVER}/postgres", autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{PG_DB}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{PG_DB}"')
    return f"{PG_SERVER}/{PG_DB}"


def drop_db(db: Any) -> None:
    import psycopg

    db.dispose()
    with psycopg.connect(f"{PG_SERVER}/postgres", autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{PG_DB}" WITH (FORCE)')


def make_members(db: Any, app: Any, n: int, prefix: str) -> list[int]:
    from siyu.identity import service as identity
    from siyu.identity.schemas import PersonRef

    ids: list[int] = []
    for start in range(0, n, MEMBER_BATCH):
        people = [
            PersonRef(appid=app.appid, openid=f"o{prefix}{i:09d}")
            for i in range(start, min(n, start + MEMBER_BATCH))
        ]
        with db.session_scope() as session:
            ids.extend(m.id for m in identity.resolve_members(session, app, people))
    return ids


def owner_of(db: Any, workspace_id: int) -> Any:
    from siyu.security import service as security
    from siyu.security.enums import Role
    from siyu.security.schemas import Principal

    with db.session_scope() as session:
        made = security.create_operator(
            session, workspace_id, "owner@example.com", "a long enough password 9", role=Role.owner
        )
    return Principal(
        operator_id=made.id, workspace_id=workspace_id, email=made.email, name=made.name,
        role=made.role, via="bench",
    )  # fmt: skip


# --- 1. earning ------------------------------------------------------------------------------


def bench_points_earning(
    db: Any, app: Any, owner: Any, events: int, single: int, seed: int
) -> list[str]:
    from sqlalchemy import func, select, text

    from siyu.members import service as members
    from siyu.members.enums import EarnTrigger
    from siyu.members.models import PointsAccount, PointsEntry, PointsLot
    from siyu.members.schemas import LevelIn, RuleIn

    problems: list[str] = []
    rng = random.Random(seed)
    with db.session_scope() as session:
        members.create_rule(
            session,
            owner,
            RuleIn(trigger=EarnTrigger.pay_paid, points=1, growth=1, daily_cap=20_000),
        )
        for rank, name, threshold, multiplier in (
            (1, "银卡", 500, 100),
            (2, "金卡", 3000, 200),
            (3, "黑卡", 20000, 300),
        ):
            members.create_level(
                session, owner,
                LevelIn(rank=rank, name=name, threshold=threshold, multiplier=multiplier),
            )  # fmt: skip
    n_members = max(events // 10, 1)
    t0 = time.perf_counter()
    member_ids = make_members(db, app, n_members, "earn")
    print(f"earning: {n_members:,} members made in {time.perf_counter() - t0:.1f} s")
    items = [
        members.Earn(
            rng.choice(member_ids),
            EarnTrigger.pay_paid,
            f"pay.paid:B{i:012d}",
            units=rng.randint(1, 500),
        )
        for i in range(events)
    ]
    batches = [items[i : i + EARN_BATCH] for i in range(0, len(items), EARN_BATCH)]

    # The baseline: the same rows, bare, into a table of the ledger's shape.
    with db.engine.begin() as conn:
        conn.execute(text(BARE_TABLE))
    t0 = time.perf_counter()
    for batch in batches:
        with db.engine.begin() as conn:
            conn.execute(
                text(BARE_INSERT),
                {"m": [e.member_id for e in batch], "k": [e.source_key for e in batch],
                 "a": [e.units for e in batch]},
            )  # fmt: skip
    bare_s = time.perf_counter() - t0

    t0 = time.perf_counter()
    earned = 0
    for batch in batches:
        with db.session_scope() as session:
            earned += sum(r.points for r in members.earn_many(session, app.workspace_id, batch))
    earn_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    again = 0
    for batch in batches:
        with db.session_scope() as session:
            again += sum(
                1 for r in members.earn_many(session, app.workspace_id, batch) if not r.duplicate
            )
    dup_s = time.perf_counter() - t0

    sample = [
        members.Earn(rng.choice(member_ids), EarnTrigger.pay_paid, f"pay.paid:S{i:012d}", units=88)
        for i in range(single)
    ]
    t0 = time.perf_counter()
    for item in sample:
        with db.session_scope() as session:
            members.earn(session, app.workspace_id, item)
    single_s = time.perf_counter() - t0

    rate, bare_rate = events / earn_s, events / bare_s
    print(f"earning: {events:,} payment events in {earn_s:.2f} s = {rate:,.0f} events/s "
          f"(batches of {EARN_BATCH:,}); {earned:,} points")  # fmt: skip
    print(f"  baseline (bare INSERT of the same rows): {bare_rate:,.0f} rows/s; "
          f"ratio {rate / bare_rate:.2f}")  # fmt: skip
    print(f"  the same events again (all duplicates): {events / dup_s:,.0f} events/s, "
          f"{again} earned")  # fmt: skip
    print(f"  one event per transaction (a notification's path): {single / single_s:,.0f} "
          f"events/s over {single:,}")  # fmt: skip
    with db.session_scope() as session:
        balances = session.scalar(select(func.sum(PointsAccount.balance))) or 0
        lots = session.scalar(select(func.sum(PointsLot.remaining))) or 0
        ledger = session.scalar(select(func.sum(PointsEntry.amount))) or 0
        levels = dict(
            session.execute(
                select(PointsAccount.level_rank, func.count()).group_by(PointsAccount.level_rank)
            ).all()  # type: ignore[arg-type]
        )
    print(f"  checks: balances {balances:,} = lots {lots:,} = ledger {ledger:,}; "
          f"members by level {dict(sorted(levels.items()))}")  # fmt: skip
    if not balances == lots == ledger:
        problems.append("balances, lots and ledger disagree")
    if again:
        problems.append(f"{again} duplicate events earned")
    if rate < 2000:
        problems.append(f"earning {rate:,.0f} events/s (target ≥ 2,000)")
    return problems


# --- 2. expiry -------------------------------------------------------------------------------


def bench_points_expiry(db: Any, app: Any, lots: int, clock: Any) -> list[str]:
    from sqlalchemy import func, select, text

    from siyu.members import service as members
    from siyu.members.enums import EntryKind
    from siyu.members.models import PointsAccount, PointsEntry, PointsLot

    problems: list[str] = []
    per_member = 100
    n_members = max(lots // per_member, 1)
    member_ids = make_members(db, app, n_members, "exp")
    ws = app.workspace_id
    earned_at = clock.now() - timedelta(days=400)
    expires = clock.now() - timedelta(days=1)
    t0 = time.perf_counter()
    with db.engine.begin() as conn:
        conn.execute(text("CREATE TEMP TABLE bench_members (member_id bigint)"))
        conn.execute(
            text("INSERT INTO bench_members SELECT unnest(CAST(:ids AS bigint[]))"),
            {"ids": member_ids},
        )
        conn.execute(
            text("INSERT INTO points_accounts (workspace_id, member_id, balance, earned, growth, "
                 "period_growth, period_start, level_rank, updated_at) "
                 "SELECT :ws, member_id, :per * 10, :per * 10, 0, 0, DATE '2026-01-01', 0, now() "
                 "FROM bench_members ON CONFLICT (member_id) DO UPDATE SET balance = "
                 "points_accounts.balance + EXCLUDED.balance"),
            {"ws": ws, "per": per_member},
        )  # fmt: skip
        conn.execute(
            text("INSERT INTO points_entries (workspace_id, member_id, kind, amount, growth, "
                 "trigger, source_key, shortfall, actor, created_at) "
                 "SELECT :ws, member_id, 'earn', :per * 10, 0, 'pay_paid', 'bench:' || member_id, "
                 "0, 'bench', :at FROM bench_members"),
            {"ws": ws, "per": per_member, "at": earned_at},
        )  # fmt: skip
        conn.execute(
            text("INSERT INTO points_lots (workspace_id, member_id, entry_id, amount, remaining, "
                 "earned_at, expires_at) "
                 "SELECT e.workspace_id, e.member_id, e.id, 10, 10, :at, :exp "
                 "FROM points_entries e CROSS JOIN generate_series(1, :per) "
                 "WHERE e.source_key LIKE 'bench:%'"),
            {"at": earned_at, "exp": expires, "per": per_member},
        )  # fmt: skip
        conn.execute(
            text("CREATE TABLE bench_lots AS SELECT * FROM points_lots WHERE remaining > 0")
        )
        conn.execute(text("CREATE INDEX ON bench_lots (expires_at) WHERE remaining > 0"))
        conn.execute(text("ANALYZE points_lots"))
        conn.execute(text("ANALYZE points_accounts"))
        conn.execute(text("ANALYZE bench_lots"))
    print(f"expiry: {lots:,} lots of {n_members:,} members written in "
          f"{time.perf_counter() - t0:.1f} s")  # fmt: skip
    with db.session_scope() as session:
        due = session.scalar(
            select(func.count())
            .select_from(PointsLot)
            .where(PointsLot.remaining > 0, PointsLot.expires_at <= clock.now())
        )
    t0 = time.perf_counter()
    with db.engine.begin() as conn:
        conn.execute(
            text("UPDATE bench_lots SET remaining = 0 WHERE remaining > 0 AND expires_at <= now()")
        )
    bare_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    runs = members_done = points = 0
    while True:
        with db.session_scope() as session:
            run = members.expire_due(session, limit=2000)
        if not run.members:
            break
        runs += 1
        members_done += run.members
        points += run.points
    expire_s = time.perf_counter() - t0
    print(f"expiry: {due:,} due lots of {members_done:,} members expired in {expire_s:.1f} s = "
          f"{due / expire_s:,.0f} lots/s ({runs} transactions); {points:,} points")  # fmt: skip
    print(f"  baseline (one bare UPDATE of a copy of the lots): {bare_s:.1f} s; ratio "
          f"{expire_s / bare_s:.2f}× its time")  # fmt: skip
    with db.session_scope() as session:
        left = session.scalar(
            select(func.count())
            .select_from(PointsLot)
            .where(PointsLot.remaining > 0, PointsLot.expires_at <= clock.now())
        )
        bench_balances = session.scalar(
            select(func.sum(PointsAccount.balance)).where(PointsAccount.member_id.in_(member_ids))
        )
        expired_entries = session.scalar(
            select(func.count())
            .select_from(PointsEntry)
            .where(PointsEntry.kind == EntryKind.expire)
        )
    print(f"  checks: due lots left {left}, the members' balances {bench_balances}, "
          f"expire entries {expired_entries:,}")  # fmt: skip
    if left or bench_balances:
        problems.append("expiry left points behind")
    if expired_entries != n_members:
        problems.append(f"{expired_entries} expire entries for {n_members} members")
    if expire_s >= 60 * lots / 1_000_000:
        problems.append(f"expiry took {expire_s:.1f} s (target < 60 s for 1,000,000 lots)")
    return problems


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--single", type=int, default=2_000)
    parser.add_argument("--lots", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=20261207)
    parser.add_argument("--keep", action="store_true", help="keep the database afterwards")
    args = parser.parse_args()

    import structlog

    from siyu.core import clock as clock_module
    from siyu.core.clock import FrozenClock
    from siyu.core.config import Settings
    from siyu.core.crypto import configure_crypto
    from siyu.core.db import Database, install_database
    from siyu.migrations import upgrade
    from siyu.workspaces import service as workspaces
    from siyu.workspaces.enums import AppKind
    from siyu.workspaces.schemas import AppCreate

    url = recreate_db()
    os.environ.update(
        {
            "SIYU_ENV": "development",
            "SIYU_DATABASE_URL": url,
            "SIYU_QUEUE_PATH": str(Path("/tmp") / f"siyu-loyalty-bench-{os.getpid()}.db"),
        }
    )
    settings = Settings(_env_file=None)  # type: ignore[call-arg]
    configure_crypto(settings)
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.ERROR))
    upgrade(url)
    db = Database(url)
    install_database(db)
    clock = FrozenClock(datetime(2026, 11, 20, 2, 0, tzinfo=UTC))
    clock_module.set_clock(clock)
    with db.session_scope() as session:
        ws = workspaces.create_workspace(session, "bench").id
        app = workspaces.add_app(
            session, ws,
            AppCreate(
                kind=AppKind.mp, appid=MP_APPID, name="bench", entity="bench", secret="s" * 32
            ),
        )  # fmt: skip
    owner = owner_of(db, ws)
    problems: list[str] = []
    try:
        if args.events:
            problems += bench_points_earning(db, app, owner, args.events, args.single, args.seed)
        if args.lots:
            problems += bench_points_expiry(db, app, args.lots, clock)
    finally:
        if not args.keep:
            drop_db(db)
    for problem in problems:
        print(f"PROBLEM: {problem}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
