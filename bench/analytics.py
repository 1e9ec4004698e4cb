"""Benchmark of the analytics store: loading it from the primary database, and the operations
index, a funnel and a retention grid on it, each against the same query on PostgreSQL.

    .venv/bin/python bench/analytics.py                                   # 10,000,000 events
    .venv/bin/python bench/analytics.py --events 1000000 --members 100000 # what a laptop runs
    .venv/bin/python bench/analytics.py --events 200000 --members 20000 --engines duckdb,chdb

Every figure is measured in this run next to its baseline:

  a. load: `analytics.service.sync_store` (the job's code) copying the timeline from
     PostgreSQL's `events` into a fresh store file, in events/s (target ≥ 100,000/s), against
     a plain psycopg read of the same rows (what reading them alone costs);
  b. the index for 90 days (< 1 s), a 4-step funnel with a 7-day window (< 2 s) and a 12-week
     retention grid (< 2 s) on the store, each against the same query (queries.py, transpiled
     to PostgreSQL) on an indexed PostgreSQL copy of the store's table: ratio store ÷
     PostgreSQL, target ≤ 0.2;
  c. the peak memory of the process (ru_maxrss).

Events are written straight into `events` with COPY (no members rows: the table has no
foreign keys, and the store reads only it). The database `siyu_bench_analytics` is dropped
at the end.
"""

from __future__ import annotations

import argparse
import random
import resource
import shutil
import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import psycopg

from siyu.analytics import queries
from siyu.analytics.store import ChDBStore, DuckDBStore, Store
from siyu.core.config import Settings
from siyu.core.crypto import configure_crypto, generate_data_key
from siyu.core.db import Database
from siyu.migrations import upgrade
from siyu.workspaces import service as workspaces
from siyu.workspaces.enums import AppKind
from siyu.workspaces.schemas import AppCreate

PG_SERVER = "postgresql://postgres@127.0.0.1:5432"
PG_DB = "siyu_bench_analytics"
DAYS = 90
END = date(2026, 11, 30)
MP_EVENTS = ["mp.launch", "mp.page_view", "mp.page_view", "mp.page_view", "mp.share", "pay.paid"]
OA_EVENTS = ["oa.subscribe", "oa.menu_click", "oa.message", "oa.unsubscribe"]
CHANNELS = [None, None, None, "qr_spring", "qr_autumn", "ad_moments", "share"]
FUNNEL = ["mp.launch", "mp.page_view", "oa.subscribe", "pay.paid"]


def _apps(db: Database) -> tuple[int, int, int]:
    with db.session_scope() as session:
        ws = workspaces.create_workspace(session, "bench").id
        ids = []
        for kind, appid in (
            (AppKind.mp, "wx0123456789abcdef"),
            (AppKind.oa_service, "wxaaaaaaaaaaaaaaaa"),
        ):
            app = workspaces.add_app(
                session,
                ws,
                AppCreate(
                    kind=kind,
                    appid=appid,
                    name=appid,
                    entity="bench",
                    secret="s" * 32,
                    token="t",
                    aes_key="a" * 43,
                ),
            )
            ids.append(app.id)
    return ws, ids[0], ids[1]


def _generate(url: str, ws: int, mp: int, oa: int, events: int, members: int, seed: int) -> None:
    """`events` events of `members` members over DAYS days, COPY'd into `events`."""
    rnd = random.Random(seed)
    start = datetime.combine(END - timedelta(days=DAYS - 1), datetime.min.time(), UTC)
    span = DAYS * 86400
    now = datetime.now(UTC)
    # each member arrives at some time and is active after it, more at first
    arrival = [rnd.random() ** 1.5 * span for _ in range(members)]
    rows = []
    for _ in range(events):
        m = rnd.randrange(members)
        rows.append((arrival[m] + rnd.random() ** 2 * (span - arrival[m]), m))
    rows.sort()  # a timeline arrives in about the order things happen
    with psycopg.connect(url) as conn, conn.cursor() as cur:
        with cur.copy(
            "COPY events (workspace_id, member_id, origin_member_id, app_id, name, ts, channel,"
            " props, received_at) FROM STDIN"
        ) as copy:
            for offset, m in rows:
                ts = start + timedelta(seconds=offset)
                if rnd.random() < 0.7:
                    name, app = rnd.choice(MP_EVENTS), mp
                else:
                    name, app = rnd.choice(OA_EVENTS), oa
                props: dict[str, Any] = {}
                if name == "mp.page_view":
                    props = {
                        "duration_s": rnd.randrange(1, 120),
                        "from": rnd.choice(["article", "home", "share"]),
                    }
                elif name == "pay.paid":
                    props = {"amount_fen": rnd.randrange(100, 50000)}
                copy.write_row(
                    (
                        ws,
                        m + 1,
                        m + 1,
                        app,
                        name,
                        ts,
                        rnd.choice(CHANNELS),
                        orjson.dumps(props).decode(),
                        now,
                    )
                )
        conn.commit()


def _pg_copy_table(url: str) -> None:
    """The store's table on PostgreSQL, indexed as a PostgreSQL deployment would index it."""
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("DROP SCHEMA IF EXISTS bench CASCADE")
        conn.execute("CREATE SCHEMA bench")
        conn.execute(
            "CREATE TABLE bench.events AS SELECT e.id, e.workspace_id, e.member_id,"
            " e.origin_member_id, e.app_id,"
            " CASE WHEN e.name LIKE 'oa.%' THEN 'oa' WHEN e.name LIKE 'mp.%' THEN 'mp'"
            " ELSE 'mp' END AS app_kind, e.name, (e.ts AT TIME ZONE 'UTC') AS ts, e.channel,"
            " e.props::jsonb AS props FROM public.events e"
        )
        conn.execute("CREATE INDEX ON bench.events (workspace_id, ts)")
        conn.execute("CREATE INDEX ON bench.events (workspace_id, name, ts)")
        conn.execute("CREATE INDEX ON bench.events (member_id, ts)")
        conn.execute("VACUUM ANALYZE bench.events")


def _pg_run(url: str, sql: str) -> float:
    with psycopg.connect(url, options="-c search_path=bench") as conn:
        t = time.perf_counter()
        conn.execute(sql).fetchall()
        return time.perf_counter() - t


def _queries(ws: int) -> dict[str, tuple[str, dict[str, Any]]]:
    def utc(d: date) -> datetime:
        return datetime.combine(d, datetime.min.time()) - timedelta(hours=8)

    first = END - timedelta(days=DAYS - 1)
    t0, t1 = utc(first), utc(END + timedelta(days=1))
    p = {"ws": ws, "t0": t0, "t1": t1, "t_mature": t1 - timedelta(days=30)}
    steps = [(e, {}) for e in FUNNEL]
    per_member = queries.funnel_sql(steps, ordered=True, breakdown=None)
    return {
        "index.days": (queries.INDEX_DAYS, p),
        "index.wau": (
            queries.ROLLING_ACTIVE,
            {**p, "span": 7, "t_lookback": t0 - timedelta(days=7)},
        ),
        "index.mau": (
            queries.ROLLING_ACTIVE,
            {**p, "span": 30, "t_lookback": t0 - timedelta(days=30)},
        ),
        "index.hours": (queries.ACTIVE_HOURS, p),
        "index.periods": (queries.ACTIVE_PERIODS, p),
        "index.monitoring": (queries.MONITORING, p),
        "funnel": (
            queries.funnel_summary_sql(len(steps), per_member, ordered=True),
            queries.funnel_params(ws, steps, t0, t1, 7 * 86400),
        ),
        "retention": (
            queries.retention_sql("week", False),
            {
                **p,
                "t0": utc(END - timedelta(days=12 * 7 - 1)),
                "cohort_event": "mp.launch",
                "return_event": "mp.launch",
                "periods": 12,
                "t_grid_end": t1 + timedelta(days=7 * 13),
            },
        ),
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--events", type=int, default=10_000_000)
    parser.add_argument("--members", type=int, default=1_000_000)
    parser.add_argument("--engines", default="duckdb", help="duckdb, chdb or both (comma)")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()

    with psycopg.connect(f"{PG_SERVER}/postgres", autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{PG_DB}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{PG_DB}"')
    url = f"{PG_SERVER}/{PG_DB}"
    work = Path(tempfile.mkdtemp(prefix="siyu-bench-analytics-"))
    try:
        upgrade(url.replace("postgresql://", "postgresql+psycopg://"))
        settings = Settings(
            _env_file=None,
            env="development",
            database_url=url.replace("postgresql://", "postgresql+psycopg://"),
            data_keys=f"b1:{generate_data_key()}",
            data_dir=work,
        )
        configure_crypto(settings)
        db = Database(settings.database_url)
        ws, mp, oa = _apps(db)
        t = time.perf_counter()
        _generate(url, ws, mp, oa, args.events, args.members, args.seed)
        print(
            f"generated {args.events:,} events of {args.members:,} members over {DAYS} days"
            f" in {time.perf_counter() - t:.1f} s"
        )

        # a. load
        t = time.perf_counter()
        with psycopg.connect(url) as conn, conn.cursor(name="read") as cur:
            cur.itersize = 50_000
            cur.execute(
                "SELECT id, workspace_id, member_id, origin_member_id, app_id, name, ts,"
                " channel, props::text FROM events ORDER BY id"
            )
            for _ in cur:
                pass
        read_s = time.perf_counter() - t
        print(f"baseline: psycopg reads the rows at {args.events / read_s:,.0f} events/s")
        from siyu.analytics import service as analytics

        stores: dict[str, Store] = {}
        for engine in args.engines.split(","):
            store: Store = (
                DuckDBStore(work / "analytics.duckdb")
                if engine == "duckdb"
                else ChDBStore(work / "chdb")
            )
            t = time.perf_counter()
            with db.session_scope() as session:
                taken = analytics.sync_store(session, store).events
            load_s = time.perf_counter() - t
            rate = taken / load_s
            print(
                f"load [{engine}]: {taken:,} events in {load_s:.1f} s = {rate:,.0f} events/s"
                f" (target ≥ 100,000; {load_s / read_s:.2f}× the bare read)"
            )
            if isinstance(store, DuckDBStore):
                print(f"  store file: {store.path.stat().st_size / 1e6:,.0f} MB")
            stores[engine] = store
        db.dispose()

        # b. queries
        _pg_copy_table(url)
        qs = _queries(ws)
        totals: dict[str, dict[str, float]] = {}
        for name, (template, params) in qs.items():
            pg_s = _pg_run(url, queries.render(template, params, "postgres"))
            line = [f"{name:18} postgres {pg_s:7.3f} s"]
            group = name.split(".")[0]
            totals.setdefault(group, {}).setdefault("postgres", 0.0)
            totals[group]["postgres"] += pg_s
            for engine, store in stores.items():
                store.budget_s = 600
                sql = queries.render(template, params, store.dialect)
                t = time.perf_counter()
                store.read(sql)
                s = time.perf_counter() - t
                totals[group].setdefault(engine, 0.0)
                totals[group][engine] += s
                line.append(f"{engine} {s:7.3f} s ({s / pg_s:.3f})")
            print("  ".join(line))
        # the index as the API serves it: its six queries on one opening of the store
        first = END - timedelta(days=DAYS - 1)
        for engine, store in stores.items():
            t = time.perf_counter()
            analytics.operations_index(store, ws, first, END)
            totals["index"][engine] = time.perf_counter() - t
        targets = {"index": 1.0, "funnel": 2.0, "retention": 2.0}
        for group, by in totals.items():
            parts = [f"{group:10} postgres {by['postgres']:.3f} s"]
            for engine in stores:
                parts.append(
                    f"{engine} {by[engine]:.3f} s (target < {targets[group]:.0f} s;"
                    f" ratio {by[engine] / by['postgres']:.3f}, target ≤ 0.2)"
                )
            print("TOTAL " + "  ".join(parts))
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(f"peak memory of this process: {peak:,.0f} MB (target < 2,048)")
    finally:
        with psycopg.connect(f"{PG_SERVER}/postgres", autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{PG_DB}" WITH (FORCE)')
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
