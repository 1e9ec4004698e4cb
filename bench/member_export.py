"""Benchmark of the member list export (`GET /members.csv`, the console's download).

    .venv/bin/python bench/member_export.py                 # 50,000 members on SQLite
    .venv/bin/python bench/member_export.py --n 5000        # a quick run
    .venv/bin/python bench/member_export.py --n 20000 --pg  # on PostgreSQL

N members (an MP login each; every 10th with a phone, every 5th with a tag) are made through
`identity.service.ingest_events`, then the owner downloads the list through the application
(create_app, its HTTP interface in process), the body read as it streams. Printed:

  a. rows/s of the export beside a baseline measured in the same run: one plain query of the
     members' numbers and times written with csv.writer (no identities, tags, masking,
     paging nor HTTP), and the ratio;
  b. the export's peak Python heap (tracemalloc, a second download) beside the file's size:
     a streamed export holds a page, not the file.

Checks: every member is in the file exactly once.
"""

from __future__ import annotations

import argparse
import csv
import io
import sys
import tempfile
import time
import tracemalloc
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
from fastapi.testclient import TestClient
from sqlalchemy import select

from siyu.api.app import create_app
from siyu.core.config import Settings
from siyu.core.crypto import configure_crypto
from siyu.core.db import Database
from siyu.identity import service as identity
from siyu.identity.models import Member
from siyu.migrations import upgrade
from siyu.security import service as security
from siyu.security.enums import Role
from siyu.workspaces import service as workspaces
from siyu.workspaces.enums import AppKind
from siyu.workspaces.schemas import AppCreate

MP_APPID = "wxbe4c4bec4bec4beb"
PG_SERVER = "postgresql://postgres@127.0.0.1:5432"
PG_DB = "siyu_member_export_bench"
BATCH = 1000


def prepare(url: str, n: int) -> tuple[int, str]:
    """A migrated database with N members; the workspace and the owner's API token."""
    upgrade(url)
    db = Database(url)
    try:
        with db.session_scope() as session:
            ws = workspaces.ensure_default_workspace(session).id
            workspaces.add_app(
                session, ws, AppCreate(kind=AppKind.mp, appid=MP_APPID, name="商城小程序")
            )
            owner = security.create_operator(
                session, ws, "owner@bench.example", "a long enough password", role=Role.owner
            )
            token = security.create_api_token(session, owner.id, "bench").token
        at = (datetime.now(UTC) - timedelta(hours=1)).isoformat()
        for start in range(0, n, BATCH):
            events = []
            for i in range(start, min(n, start + BATCH)):
                event = {"event": "mp.login", "ts": at, "appid": MP_APPID, "openid": f"o{i:027d}"}
                if i % 10 == 0:
                    event["phone"] = f"138{i:08d}"
                events.append(event)
            with db.session_scope() as session:
                identity.ingest_events(session, ws, events)
        with db.session_scope() as session:
            ids = list(session.scalars(select(Member.id).where(Member.workspace_id == ws)))
            identity.tag_members(session, ws, ids[::5], "早起打卡", actor="bench")
        return ws, token
    finally:
        db.dispose()


def export(client: TestClient, token: str) -> tuple[float, int, list[int]]:
    """Seconds, bytes, and the numbers of the rows, the body read as it streams."""
    started = time.perf_counter()
    size = 0
    parts: list[str] = []
    with client.stream(
        "GET", "/members.csv", headers={"Authorization": f"Bearer {token}"}
    ) as answer:
        assert answer.status_code == 200, answer.status_code
        for chunk in answer.iter_text():
            size += len(chunk.encode())
            parts.append(chunk)
    seconds = time.perf_counter() - started
    rows = list(csv.reader(io.StringIO("".join(parts).lstrip("\ufeff"))))[1:]
    return seconds, size, [int(r[0]) for r in rows]


def baseline(db: Database, ws: int) -> float:
    """Rows/s of one query of numbers and times into csv.writer (the floor)."""
    started = time.perf_counter()
    out = io.StringIO()
    writer = csv.writer(out)
    with db.session_scope() as session:
        query = (
            select(Member.number, Member.created_at)
            .where(Member.workspace_id == ws)
            .order_by(Member.number.desc())
        )
        count = 0
        for number, created in session.execute(query):
            writer.writerow((number, created.isoformat()))
            count += 1
    return count / (time.perf_counter() - started)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=50_000)
    parser.add_argument("--pg", action="store_true")
    args = parser.parse_args()
    if args.pg:
        with psycopg.connect(f"{PG_SERVER}/postgres", autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{PG_DB}" WITH (FORCE)')
            conn.execute(f'CREATE DATABASE "{PG_DB}"')
        url = f"postgresql+psycopg://postgres@127.0.0.1:5432/{PG_DB}"
    else:
        folder = Path(tempfile.mkdtemp(prefix="siyu-export-"))
        url = f"sqlite:///{folder / 'bench.db'}"
    settings = Settings(env="development", database_url=url)
    configure_crypto(settings)
    started = time.perf_counter()
    ws, token = prepare(url, args.n)
    print(f"{args.n:,} members made in {time.perf_counter() - started:.1f}s ({url})", flush=True)
    db = Database(url)
    try:
        with TestClient(create_app(settings, db)) as client:
            seconds, size, numbers = export(client, token)
            floor = baseline(db, ws)
            rate = len(numbers) / seconds
            assert len(numbers) == args.n == len(set(numbers)), (len(numbers), args.n)
            print(
                f"[a] export: {len(numbers):,} rows, {size / 2**20:.1f} MB in {seconds:.2f}s = "
                f"{rate:,.0f} rows/s; baseline (one query into csv.writer) {floor:,.0f} rows/s; "
                f"ratio {rate / floor:.2f}",
                flush=True,
            )
            tracemalloc.start()
            _s, _size, again = export_discarding(client, token)
            _current, peak = tracemalloc.get_traced_memory()
            tracemalloc.stop()
            print(
                f"[b] peak Python heap while streaming {again:,} rows: {peak / 2**20:.1f} MB "
                f"for a {size / 2**20:.1f} MB file (ratio {peak / size:.2f})",
                flush=True,
            )
    finally:
        db.dispose()
        if args.pg:
            with psycopg.connect(f"{PG_SERVER}/postgres", autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{PG_DB}" WITH (FORCE)')
    return 0


def export_discarding(client: TestClient, token: str) -> tuple[float, int, int]:
    """The download again, each chunk dropped once counted (what the server holds is then
    what the peak shows)."""
    started = time.perf_counter()
    size = rows = 0
    with client.stream(
        "GET", "/members.csv", headers={"Authorization": f"Bearer {token}"}
    ) as answer:
        for chunk in answer.iter_text():
            size += len(chunk.encode())
            rows += chunk.count("\n")
    return time.perf_counter() - started, size, rows - 1


if __name__ == "__main__":
    sys.exit(main())
