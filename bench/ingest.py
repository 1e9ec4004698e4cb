"""Benchmark of the event import and of first-login resolution, each against a raw baseline.

    .venv/bin/python bench/ingest.py                           # 1,000,000 events, 100,000 members
    .venv/bin/python bench/ingest.py --events 20000 --members 2000   # a quick run

Every figure is measured in this run next to its baseline, so the ratios hold on any machine:

  a. PostgreSQL import (`pipelined_import`, one transaction per chunk, exactly as `siyu import
     events` and the console's upload job run it) against a psycopg COPY of the same rows into
     a bare table with the same columns, and a binary COPY of them into a copy of `events` with
     its key and indexes (what the server alone can take on one connection);
  b. the same import into a fresh SQLite file against sqlite3 executemany into a bare table;
  c. 100,000 first logins through `identity.service.resolve_members` in batches of 1000 (a
     CRM or follower sync, `POST /api/members/resolve`), each batch committed, against plain
     executemany INSERTs of as many member rows; and 5,000 more one by one through
     `resolve_member`, as the Mini Program's login endpoint resolves each person;
  d. the import's peak memory: each import runs in a child process that does only the import
     and reports its own RSS high-water mark (`ru_maxrss`).

The PostgreSQL databases (`siyu_bench`, `siyu_bench_resolve`) are dropped at the end.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import random
import resource
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import orjson
import psycopg
from psycopg.types.json import Jsonb

from siyu.core.config import Settings
from siyu.core.crypto import configure_crypto
from siyu.core.db import Database
from siyu.migrations import upgrade
from siyu.workspaces import service as workspaces
from siyu.workspaces.enums import AppKind
from siyu.workspaces.schemas import AppCreate

MP_APPID = "wx0123456789abcdef"
OA_APPID = "wxaaaaaaaaaaaaaaaa"
PG_SERVER = "postgresql://postgres@127.0.0.1:5432"
PG_IMPORT_DB = "siyu_bench"
PG_RESOLVE_DB = "siyu_bench_resolve"
HERE = Path(__file__).resolve().parent
TARGET_PG = 50_000
TARGET_SQLITE = 30_000
TARGET_RESOLVE = 2_000
TARGET_MB = 500
RESOLVE_BATCH = 1000
BASELINE_BATCH = 5000
CST = timezone(timedelta(hours=8))

MP_EVENTS = [
    "mp.login",
    "mp.page_view",
    "mp.page_view",
    "mp.page_view",
    "mp.share",
    "mp.subscribe_accept",
    "mp.form_submit",
    "order.created",
    "order.shipped",
    "order.delivered",
    "pay.paid",
    "pay.refunded",
    "activity.enroll",
    "activity.checkin",
]
OA_EVENTS = [
    "oa.subscribe",
    "oa.unsubscribe",
    "oa.scan",
    "oa.menu_click",
    "oa.message",
    "oa.message",
    "message.sent",
    "message.failed",
    "group.join",
    "group.leave",
]
CHANNELS = [None, None, None, "poster_a", "poster_b", "moments_ad", "store_qr"]


# --- input ---------------------------------------------------------------------------------


def _wechat_id(seed: int, prefix: str, index: int) -> str:
    """A 28-character id of the base64url alphabet, like real openids and UnionIDs."""
    digest = hashlib.sha256(f"{seed}:{prefix}:{index}".encode()).digest()
    return "o" + base64.urlsafe_b64encode(digest).decode()[:27]


@dataclass(frozen=True, slots=True)
class Person:
    """One generated member: which apps they use and with which identifiers."""

    mp_openid: str | None
    oa_openid: str | None
    unionid: str | None
    phone: str | None
    unionid_from: int  # events before this second carry no UnionID (authorised later)
    phone_from: int  # events from this second may carry the phone (bound later)


def make_people(members: int, seed: int, span: int) -> list[Person]:
    """The members: ~35% MP only, ~15% OA only, ~50% with a UnionID (half of them on both apps),
    ~10% with a phone (a few phones shared by two members: those are merged on import)."""
    rng = random.Random(seed)
    people: list[Person] = []
    phones: list[str] = []
    for i in range(members):
        shape = rng.random()
        unionid = _wechat_id(seed, "union", i) if shape >= 0.5 else None
        on_mp = shape < 0.35 or shape >= 0.5
        on_oa = 0.35 <= shape < 0.5 or shape >= 0.75
        phone = None
        if rng.random() < 0.10:
            if phones and rng.random() < 0.03:
                phone = rng.choice(phones)  # the same number on a second member
            else:
                phone = f"1{rng.choice('3456789')}{rng.randrange(10**9):09d}"
                phones.append(phone)
        late_union = unionid is not None and not on_oa and rng.random() < 0.4
        people.append(
            Person(
                mp_openid=_wechat_id(seed, "mp", i) if on_mp else None,
                oa_openid=_wechat_id(seed, "oa", i) if on_oa else None,
                unionid=unionid,
                phone=phone,
                unionid_from=rng.randrange(span) if late_union else 0,
                phone_from=rng.randrange(span) if phone else span,
            )
        )
    return people


def generate(path: Path, events: int, members: int, seed: int, now: datetime) -> None:
    """`events` canonical events of `members` people over the last 300 days, in time order."""
    span = 300 * 86400
    rng = random.Random(seed + 1)
    people = make_people(members, seed, span)
    # Every member has at least one event; the rest go to members with a skew (some are busy).
    owners = list(range(members))[:events] + [
        int(members * rng.random() ** 2) for _ in range(max(events - members, 0))
    ]
    # One int per event (second in the span, then member) keeps the sort small.
    packed = sorted(rng.randrange(span) << 24 | owner for owner in owners)
    del owners
    start = now - timedelta(seconds=span)
    with path.open("wb") as fh:
        for item in packed:
            second, owner = item >> 24, item & 0xFFFFFF
            fh.write(orjson.dumps(_event(rng, people[owner], second, start)) + b"\n")


def _event(rng: random.Random, person: Person, second: int, start: datetime) -> dict[str, Any]:
    appid, openid, names = OA_APPID, person.oa_openid, OA_EVENTS
    if person.mp_openid and (person.oa_openid is None or rng.random() < 0.6):
        appid, openid, names = MP_APPID, person.mp_openid, MP_EVENTS
    name = rng.choice(names)
    ts = (start + timedelta(seconds=second, microseconds=rng.randrange(10**6))).astimezone(CST)
    event: dict[str, Any] = {"event": name, "ts": ts.isoformat(), "appid": appid, "openid": openid}
    if person.unionid and second >= person.unionid_from:
        event["unionid"] = person.unionid
    if person.phone and second >= person.phone_from and rng.random() < 0.5:
        event["phone"] = person.phone
    channel = rng.choice(CHANNELS)
    if channel:
        event["channel"] = channel
    if name.startswith(("order.", "pay.")):
        event["props"] = {
            "order_no": f"SO{rng.randrange(10**10):010d}",
            "amount_fen": rng.randrange(100, 100_000),
        }
    elif name == "mp.page_view":
        event["props"] = {
            "page": rng.choice(
                ["pages/index/index", "pages/goods/detail", "pages/cart/cart", "pages/me/me"]
            ),
            "duration_s": rng.randrange(1, 600),
        }
    elif name == "oa.message":
        event["props"] = {"text": rng.choice(["你好", "怎么退货？", "1", '"quoted"\ttab\\x'])}
    return event


# --- databases -----------------------------------------------------------------------------


def pg_url(database: str) -> str:
    return f"{PG_SERVER}/{database}"


def recreate_pg(database: str) -> None:
    with psycopg.connect(pg_url("postgres"), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{database}"')


def drop_pg(database: str) -> None:
    with psycopg.connect(pg_url("postgres"), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')


def prepare(url: str) -> int:
    """Migrate a fresh database and register the two apps; the workspace id."""
    upgrade(url)
    db = Database(url)
    try:
        with db.session_scope() as session:
            workspace_id = workspaces.ensure_default_workspace(session).id
            workspaces.add_app(
                session, workspace_id, AppCreate(kind=AppKind.mp, appid=MP_APPID, name="商城小程序")
            )
            workspaces.add_app(
                session,
                workspace_id,
                AppCreate(kind=AppKind.oa_service, appid=OA_APPID, name="服务号"),
            )
        return workspace_id
    finally:
        db.dispose()


# --- the import (child process) ------------------------------------------------------------


def child_import(url: str, path: Path, workspace_id: int) -> dict[str, Any]:
    """Import the file the way `siyu import-events` does; runs alone in its own process."""
    from siyu.identity.service.importer import chunked, pipelined_import, read_lines

    db = Database(url)
    started = time.perf_counter()
    with path.open("rb") as stream, pipelined_import(db, workspace_id) as importer:
        for chunk in chunked(read_lines(stream)):
            with db.session_scope() as session:
                importer.import_chunk(session, chunk)
    seconds = time.perf_counter() - started
    db.dispose()
    report = importer.report
    return {
        "seconds": seconds,
        "accepted": report.accepted,
        "members_created": report.members_created,
        "rejected": len(report.rejected),
        "first_rejects": [r.model_dump() for r in report.rejected[:3]],
        "maxrss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


def run_child(url: str, path: Path, workspace_id: int) -> dict[str, Any]:
    out = subprocess.run(
        [sys.executable, __file__, "--child-import", url, str(path), str(workspace_id)],
        check=True,
        capture_output=True,
        text=True,
    )
    result: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def count_rows(url: str) -> dict[str, int]:
    db = Database(url)
    try:
        with db.engine.connect() as conn:
            return {
                table: int(conn.exec_driver_sql(f"SELECT count(*) FROM {table}").scalar_one())
                for table in ("events", "members", "identities", "member_merges")
            }
    finally:
        db.dispose()


# --- baselines -----------------------------------------------------------------------------


def raw_rows(
    path: Path,
    workspace_id: int,
    members: dict[tuple[str, str], int] | None = None,
    apps: dict[str, int] | None = None,
) -> Iterator[tuple[Any, ...]]:
    """The rows the import writes, without any identity rules: the member id is looked up by
    (appid, openid) in `members` (the imported database's) or numbered per openid."""
    numbered: dict[tuple[str, str], int] = {}
    apps = apps or {MP_APPID: 1, OA_APPID: 2}
    received = datetime.now(UTC)
    with path.open("rb") as stream:
        for line in stream:
            event = orjson.loads(line)
            key = (event["appid"], event["openid"])
            member = (
                members[key] if members is not None else numbered.setdefault(key, len(numbered) + 1)
            )
            yield (
                workspace_id,
                member,
                member,
                apps[event["appid"]],
                event["event"],
                datetime.fromisoformat(event["ts"]),
                event.get("channel"),
                orjson.dumps(event.get("props", {})).decode(),
                received,
            )


def openid_owners(url: str) -> tuple[dict[tuple[str, str], int], dict[str, int]]:
    """(appid, openid) -> member id, and appid -> app id, of an imported database."""
    with psycopg.connect(url) as conn:
        members = {
            (scope, value): member
            for scope, value, member in conn.execute(
                "SELECT scope, value, member_id FROM identities WHERE kind = 'openid'"
            )
        }
        apps: dict[str, int] = dict(conn.execute("SELECT appid, id FROM apps").fetchall())
    return members, apps


BARE_COLUMNS = (
    "workspace_id bigint, member_id bigint, origin_member_id bigint, app_id bigint, "
    "name varchar(64), ts timestamptz, channel varchar(64), props jsonb, "
    "received_at timestamptz"
)
BINARY_TYPES = [
    "int8", "int8", "int8", "int8", "varchar", "timestamptz", "varchar", "jsonb", "timestamptz"
]  # fmt: skip
COLUMN_NAMES = (
    "workspace_id, member_id, origin_member_id, app_id, name, ts, channel, props, received_at"
)


def baseline_pg_copy(path: Path, workspace_id: int, like_events: bool = False) -> float:
    """Rows per second of psycopg COPY, committed per 5000 like the import: into a bare table
    (no key, index or constraint; text COPY, psycopg's default), or into a copy of `events`
    with its key and indexes (binary COPY, as the import writes), the member ids being those
    the import gave: the most any writer of these rows gets from this server, one connection."""
    url = pg_url(PG_IMPORT_DB)
    members: dict[tuple[str, str], int] | None = None
    apps: dict[str, int] | None = None
    if like_events:
        members, apps = openid_owners(url)
    with psycopg.connect(url) as conn:
        if like_events:
            conn.execute("CREATE TABLE bench_events (LIKE events INCLUDING ALL)")
            conn.execute(
                "ALTER TABLE bench_events ALTER COLUMN id SET DEFAULT nextval('events_id_seq')"
            )
        else:
            conn.execute(f"CREATE TABLE bench_events ({BARE_COLUMNS})")
        conn.commit()
        started = time.perf_counter()
        rows = raw_rows(path, workspace_id, members, apps)
        binary = " (FORMAT BINARY)" if like_events else ""
        count, done = 0, False
        while not done:
            with (
                conn.cursor() as cur,
                cur.copy(f"COPY bench_events ({COLUMN_NAMES}) FROM STDIN{binary}") as cp,
            ):
                if like_events:
                    cp.set_types(BINARY_TYPES)
                for _ in range(BASELINE_BATCH):
                    row = next(rows, None)
                    if row is None:
                        done = True
                        break
                    if like_events:  # the props are JSON text already: sent as they are
                        row = (*row[:7], Jsonb(row[7], dumps=_as_is), row[8])
                    cp.write_row(row)
                    count += 1
            conn.commit()
        seconds = time.perf_counter() - started
        conn.execute("DROP TABLE bench_events")
        conn.commit()
    return count / seconds


def _as_is(text: str) -> str:
    return text


def baseline_sqlite(path: Path, workspace_id: int, out: Path) -> float:
    """Rows per second of sqlite3 executemany into a bare table (WAL), committed per 5000."""
    file = out / "bench-baseline.sqlite"
    for suffix in ("", "-wal", "-shm"):
        Path(f"{file}{suffix}").unlink(missing_ok=True)
    conn = sqlite3.connect(file, isolation_level=None)
    try:
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        conn.execute(
            "CREATE TABLE bare_events (id INTEGER PRIMARY KEY, workspace_id INTEGER, "
            "member_id INTEGER, origin_member_id INTEGER, app_id INTEGER, "
            "name VARCHAR(64), ts DATETIME, channel VARCHAR(64), props JSON, "
            "received_at DATETIME)"
        )
        started = time.perf_counter()
        count = 0
        batch: list[tuple[Any, ...]] = []
        sql = f"INSERT INTO bare_events ({COLUMN_NAMES}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
        for row in raw_rows(path, workspace_id):
            batch.append(
                (
                    *row[:5],
                    row[5].astimezone(UTC).replace(tzinfo=None).isoformat(" "),
                    row[6],
                    row[7],
                    row[8].replace(tzinfo=None).isoformat(" "),
                )
            )
            if len(batch) >= BASELINE_BATCH:
                conn.execute("BEGIN")
                conn.executemany(sql, batch)
                conn.execute("COMMIT")
                count += len(batch)
                batch = []
        if batch:
            conn.execute("BEGIN")
            conn.executemany(sql, batch)
            conn.execute("COMMIT")
            count += len(batch)
        seconds = time.perf_counter() - started
    finally:
        conn.close()
        for suffix in ("", "-wal", "-shm"):
            Path(f"{file}{suffix}").unlink(missing_ok=True)
    return count / seconds


# --- first logins --------------------------------------------------------------------------


class AutoAnalyze:
    """ANALYZE as autovacuum would (every 10% of growth) when the server runs without it.

    Without statistics, PostgreSQL keeps the generic plan it made for a prepared statement
    while the tables were empty; for `repository.find_identities` (a row-value IN list) that
    plan scans every identity of the workspace, so each first login would cost more than the
    last. A server with autovacuum on re-plans after its ANALYZE; this one has it off.
    """

    def __init__(self, url: str) -> None:
        self.url = url
        with psycopg.connect(url) as conn:
            self.needed = conn.execute("SHOW autovacuum").fetchone() == ("off",)
        self.last = 0

    def after(self, rows: int) -> None:
        if self.needed and rows - self.last >= 50 + self.last // 10:
            with psycopg.connect(self.url, autocommit=True) as conn:
                conn.execute("ANALYZE workspaces, members, identities")
            self.last = rows


def bench_resolve(logins: int, seed: int, single: int) -> tuple[float, float, float]:
    """(resolves/s through `resolve_members` in batches of 1000, resolves/s one by one through
    `resolve_member` over the first `single` logins, member rows/s of plain executemany INSERTs).
    """
    from siyu.identity import service
    from siyu.identity.schemas import PersonRef

    recreate_pg(PG_RESOLVE_DB)
    url = pg_url(PG_RESOLVE_DB)
    workspace_id = prepare(url)
    db = Database(url)
    try:
        with db.session_scope() as session:
            app = workspaces.get_app_by_appid(session, MP_APPID)
            other = workspaces.create_workspace(session, "baseline").id
        people = [
            PersonRef(
                appid=MP_APPID,
                openid=_wechat_id(seed, "login", i),
                unionid=_wechat_id(seed, "login-union", i),
            )
            for i in range(logins)
        ]
        analyze = AutoAnalyze(url)
        elapsed = 0.0
        for first in range(0, logins, RESOLVE_BATCH):
            started = time.perf_counter()
            with db.session_scope() as session:
                service.resolve_members(session, app, people[first : first + RESOLVE_BATCH])
            elapsed += time.perf_counter() - started
            analyze.after(first + RESOLVE_BATCH)  # untimed, as autovacuum works aside
        batched = logins / elapsed
        with db.session_scope() as session:
            assert service.count_members(session, workspace_id) == logins
        # One by one, as the Mini Program's login endpoint resolves each person.
        ones = [
            PersonRef(
                appid=MP_APPID,
                openid=_wechat_id(seed, "single", i),
                unionid=_wechat_id(seed, "single-union", i),
            )
            for i in range(single)
        ]
        started = time.perf_counter()
        for first in range(0, single, RESOLVE_BATCH):
            with db.session_scope() as session:
                for person in ones[first : first + RESOLVE_BATCH]:
                    service.resolve_member(session, app, person)
        one_by_one = single / (time.perf_counter() - started)
    finally:
        db.dispose()
    # Baseline: the member rows alone, inserted by executemany in the same batches.
    now = datetime.now(UTC)
    with psycopg.connect(url) as conn:
        started = time.perf_counter()
        for first in range(0, logins, RESOLVE_BATCH):
            with conn.cursor() as cur:
                cur.executemany(
                    "INSERT INTO members (workspace_id, number, status, attributes, created_at) "
                    "VALUES (%s, %s, 'active', '{}', %s)",
                    [
                        (other, 10001 + n, now)
                        for n in range(first, min(first + RESOLVE_BATCH, logins))
                    ],
                )
            conn.commit()
        inserts = logins / (time.perf_counter() - started)
    drop_pg(PG_RESOLVE_DB)
    return batched, one_by_one, inserts


# --- main ----------------------------------------------------------------------------------


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--members", type=int, default=100_000)
    parser.add_argument(
        "--logins", type=int, default=None, help="first logins to resolve (default: --members)"
    )
    parser.add_argument("--seed", type=int, default=20240601)
    parser.add_argument("--out", type=Path, default=Path(tempfile.gettempdir()) / "siyu-bench")
    parser.add_argument("--skip", action="append", default=[], choices=["pg", "sqlite", "resolve"])
    parser.add_argument(
        "--child-import", nargs=3, metavar=("URL", "FILE", "WORKSPACE"), help=argparse.SUPPRESS
    )
    args = parser.parse_args()
    settings = Settings(env="development", database_url="sqlite://")
    configure_crypto(settings)

    if args.child_import:
        url, file, workspace = args.child_import
        print(json.dumps(child_import(url, Path(file), int(workspace))))
        return 0

    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)
    data = out / f"events-{args.events}-{args.members}-{args.seed}.jsonl"
    started = time.perf_counter()
    generate(data, args.events, args.members, args.seed, datetime.now(UTC) - timedelta(hours=1))
    size_mb = data.stat().st_size / 2**20
    print(
        f"input: {args.events:,} events of {args.members:,} members, {size_mb:.0f} MB "
        f"({data}), generated in {time.perf_counter() - started:.1f}s",
        flush=True,
    )
    rows: list[tuple[str, str, str, str, str]] = []

    try:
        if "pg" not in args.skip:
            recreate_pg(PG_IMPORT_DB)
            url = pg_url(PG_IMPORT_DB)
            workspace_id = prepare(url)
            result = run_child(url, data, workspace_id)
            rate = result["accepted"] / result["seconds"]
            counts = count_rows(url)
            base = baseline_pg_copy(data, workspace_id)
            like = baseline_pg_copy(data, workspace_id, like_events=True)
            print(
                f"[a] PostgreSQL import: {result['accepted']:,} events in "
                f"{result['seconds']:.1f}s = {rate:,.0f} events/s; baseline COPY into a bare "
                f"table {base:,.0f} rows/s (ratio {rate / base:.2f}), into a copy of events "
                f"with its key and indexes (binary) {like:,.0f} rows/s "
                f"(ratio {rate / like:.2f}); {counts}; "
                f"{result['rejected']} rejected {result['first_rejects']}; "
                f"peak RSS of the import process {result['maxrss_mb']:.0f} MB",
                flush=True,
            )
            rows.append(
                (
                    "a. import, PostgreSQL",
                    f"{rate:,.0f} events/s",
                    f"{base:,.0f} rows/s (COPY, bare table)",
                    f"{rate / base:.2f}",
                    _verdict(rate >= TARGET_PG, f">= {TARGET_PG:,}/s"),
                )
            )
            rows.append(
                (
                    "   same rows, into a copy of events",
                    "-",
                    f"{like:,.0f} rows/s (binary COPY, like events)",
                    f"{rate / like:.2f}",
                    "-",
                )
            )
            rows.append(
                (
                    "d. peak RSS, PG import",
                    f"{result['maxrss_mb']:.0f} MB",
                    "-",
                    "-",
                    _verdict(result["maxrss_mb"] < TARGET_MB, f"< {TARGET_MB} MB"),
                )
            )
            drop_pg(PG_IMPORT_DB)
        if "sqlite" not in args.skip:
            file = out / "bench-import.sqlite"
            for suffix in ("", "-wal", "-shm"):
                Path(f"{file}{suffix}").unlink(missing_ok=True)
            url = f"sqlite:///{file}"
            workspace_id = prepare(url)
            result = run_child(url, data, workspace_id)
            rate = result["accepted"] / result["seconds"]
            counts = count_rows(url)
            base = baseline_sqlite(data, workspace_id, out)
            print(
                f"[b] SQLite import: {result['accepted']:,} events in {result['seconds']:.1f}s "
                f"= {rate:,.0f} events/s; baseline executemany into a bare table "
                f"{base:,.0f} rows/s; ratio {rate / base:.2f}; {counts}; "
                f"{result['rejected']} rejected; "
                f"peak RSS of the import process {result['maxrss_mb']:.0f} MB",
                flush=True,
            )
            rows.append(
                (
                    "b. import, SQLite",
                    f"{rate:,.0f} events/s",
                    f"{base:,.0f} rows/s (executemany, bare)",
                    f"{rate / base:.2f}",
                    _verdict(rate >= TARGET_SQLITE, f">= {TARGET_SQLITE:,}/s"),
                )
            )
            rows.append(
                (
                    "d. peak RSS, SQLite import",
                    f"{result['maxrss_mb']:.0f} MB",
                    "-",
                    "-",
                    _verdict(result["maxrss_mb"] < TARGET_MB, f"< {TARGET_MB} MB"),
                )
            )
            for suffix in ("", "-wal", "-shm"):
                Path(f"{file}{suffix}").unlink(missing_ok=True)
        if "resolve" not in args.skip:
            logins = args.logins or args.members
            single = min(logins, 5000)
            resolves, one_by_one, inserts = bench_resolve(logins, args.seed, single)
            print(
                f"[c] {logins:,} first logins in batches of {RESOLVE_BATCH}: {resolves:,.0f} "
                f"resolves/s; {single:,} more one by one: {one_by_one:,.0f}/s; baseline "
                f"executemany member INSERTs {inserts:,.0f} rows/s; "
                f"ratio {resolves / inserts:.3f}",
                flush=True,
            )
            rows.append(
                (
                    "c. first logins, PostgreSQL",
                    f"{resolves:,.0f} resolves/s",
                    f"{inserts:,.0f} rows/s (member INSERTs)",
                    f"{resolves / inserts:.3f}",
                    _verdict(resolves >= TARGET_RESOLVE, f">= {TARGET_RESOLVE:,}/s"),
                )
            )
            rows.append(
                (
                    "   the same, one by one",
                    f"{one_by_one:,.0f} resolves/s",
                    "-",
                    f"{one_by_one / inserts:.3f}",
                    "-",
                )
            )
    finally:
        drop_pg(PG_IMPORT_DB)
        drop_pg(PG_RESOLVE_DB)
        data.unlink(missing_ok=True)

    header = ("measure", "result", "baseline (same run)", "ratio", "target")
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(5)]
    print()
    for row in [header, *rows]:
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)))
    return 0


def _verdict(ok: bool, target: str) -> str:
    return f"{target} {'ok' if ok else 'MISSED'}"


def _terminate(_signum: int, _frame: object) -> None:
    raise SystemExit(143)  # run the clean-up (drop the databases) on kill as on Ctrl-C


if __name__ == "__main__":
    signal.signal(signal.SIGTERM, _terminate)
    sys.exit(main())
