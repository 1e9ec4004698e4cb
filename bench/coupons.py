"""Benchmark of coupon claims under contention: many clients claim one template at once.

    .venv/bin/python bench/coupons.py                               # 100,000 claims, stock 60,000
    .venv/bin/python bench/coupons.py --claims 10000 --stock 6000   # a quick run

1. A PostgreSQL database (`siyu_coupons_bench`, created and dropped here) is migrated; one
   workspace, `--claims` members (one claim each: the per-member limit is 1) and one 满减
   template with `--stock` coupons are made.
2. Baseline, in the same run and harness: `--clients` clients (threads spread over
   `--processes` processes) each commit one-row INSERT transactions, `--claims` in all: what
   this machine's PostgreSQL does with a bare write transaction per request.
3. The same clients claim, each claim `siyu.members.service.claim_in_mp` in its own
   transaction, as the Mini Program's route does: the member's coupon under its unique key,
   then the stock taken by one conditional UPDATE of the template's row (the hot row).
4. Checked: exactly `--stock` coupons issued (and the template's counter says so), no member
   holds two, every other claim refused with `members.out_of_stock`.

Prints claims/s (target ≥ 1,000 on PostgreSQL), the baseline's transactions/s and the ratio.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import sys
import threading
import time
from collections import Counter
from typing import Any

PG_SERVER = "postgresql://postgres@127.0.0.1:5432"
PG_DB = "siyu_coupons_bench"
TARGET = 1_000.0


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


def _worker(
    url: str,
    mode: str,
    workspace_id: int,
    template_id: int,
    members: list[int],
    threads: int,
    start: Any,
    out: Any,
) -> None:
    """One process of clients: `threads` threads take the next member of `members` until none
    is left; puts (outcome counts, seconds) on `out`."""
    import logging

    import structlog
    from sqlalchemy import text

    from siyu.core.db import Database
    from siyu.core.errors import SiyuError
    from siyu.members import service

    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.ERROR))
    db = Database(url)
    db.engine.pool._pool.maxsize = threads + 2  # type: ignore[attr-defined]
    lock = threading.Lock()
    queue = iter(members)
    outcomes: Counter[str] = Counter()

    def next_member() -> int | None:
        with lock:
            return next(queue, None)

    def client() -> None:
        mine: Counter[str] = Counter()
        while (member_id := next_member()) is not None:
            if mode == "baseline":
                with db.session_scope() as session:
                    session.execute(
                        text("INSERT INTO bench_baseline (member_id) VALUES (:m)"),
                        {"m": member_id},
                    )
                mine["ok"] += 1
                continue
            try:
                with db.session_scope() as session:
                    service.claim_in_mp(session, workspace_id, member_id, template_id)
                mine["issued"] += 1
            except SiyuError as exc:
                mine[exc.code] += 1
        with lock:
            outcomes.update(mine)

    pool = [threading.Thread(target=client) for _ in range(threads)]
    start.wait()
    t0 = time.perf_counter()
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    out.put((dict(outcomes), time.perf_counter() - t0))
    db.dispose()


def run(
    url: str, mode: str, ws: int, template_id: int, members: list[int], clients: int, procs: int
) -> tuple[Counter[str], float]:
    ctx = multiprocessing.get_context("spawn")
    start = ctx.Barrier(procs + 1)
    out = ctx.Queue()
    shares = [members[i::procs] for i in range(procs)]
    threads = [clients // procs + (1 if i < clients % procs else 0) for i in range(procs)]
    workers = [
        ctx.Process(
            target=_worker, args=(url, mode, ws, template_id, shares[i], threads[i], start, out)
        )
        for i in range(procs)
    ]
    for w in workers:
        w.start()
    start.wait()
    t0 = time.perf_counter()
    results = [out.get() for _ in workers]
    elapsed = time.perf_counter() - t0
    for w in workers:
        w.join()
    total: Counter[str] = Counter()
    for outcome, _seconds in results:
        total.update(outcome)
    return total, elapsed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--claims", type=int, default=100_000)
    parser.add_argument("--stock", type=int, default=60_000)
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--processes", type=int, default=2, help="processes the clients share")
    parser.add_argument("--keep", action="store_true", help="keep the database afterwards")
    args = parser.parse_args()

    import logging

    import structlog
    from sqlalchemy import func, select, text

    from siyu.core.config import Settings
    from siyu.core.crypto import configure_crypto
    from siyu.core.db import Database
    from siyu.members import service
    from siyu.members.enums import CouponKind
    from siyu.members.models import Coupon, CouponStockBucket
    from siyu.members.schemas import TemplateCreate
    from siyu.migrations import upgrade
    from siyu.workspaces import service as workspaces

    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.ERROR))
    url = recreate_db()
    os.environ.update({"SIYU_ENV": "development", "SIYU_DATABASE_URL": url})
    configure_crypto(Settings(_env_file=None))  # type: ignore[call-arg]
    upgrade(url)
    db = Database(url)
    with db.session_scope() as session:
        ws = workspaces.create_workspace(session, "压测品牌").id
        session.execute(
            text(
                "INSERT INTO members (workspace_id, number, status, attributes, created_at) "
                "SELECT :ws, g, 'active', '{}', now() FROM generate_series(1, :n) g"
            ),
            {"ws": ws, "n": args.claims},
        )
        session.execute(
            text("CREATE TABLE bench_baseline (id bigserial primary key, member_id bigint)")
        )
        template_id = service.create_template(
            session,
            ws,
            TemplateCreate(
                name="满100减20",
                kind=CouponKind.amount_off,
                threshold=10_000,
                amount_off=2_000,
                valid_days=30,
                stock=args.stock,
            ),
            actor="bench",
        ).id
        members = list(session.scalars(text("SELECT id FROM members ORDER BY id")))
    print(
        f"{args.claims:,} claims of a stock of {args.stock:,} by {args.clients} clients "
        f"in {args.processes} processes (PostgreSQL)"
    )
    base, base_s = run(url, "baseline", ws, template_id, members, args.clients, args.processes)
    base_rate = base["ok"] / base_s
    print(
        f"baseline: {base['ok']:,} one-row write transactions in {base_s:.1f} s "
        f"= {base_rate:,.0f}/s"
    )
    got, claim_s = run(url, "claims", ws, template_id, members, args.clients, args.processes)
    rate = args.claims / claim_s
    print(f"claims:   {args.claims:,} in {claim_s:.1f} s = {rate:,.0f}/s ({dict(got)})")
    print(f"ratio to the baseline: {rate / base_rate:.2f}")
    with db.session_scope() as session:
        coupons = session.scalar(select(func.count()).select_from(Coupon)) or 0
        issued = session.scalar(select(func.sum(CouponStockBucket.issued)))
        doubled = session.scalar(
            select(func.count()).select_from(
                select(Coupon.member_id)
                .group_by(Coupon.member_id)
                .having(func.count() > 1)
                .subquery()
            )
        )
    db.dispose()
    problems = []
    expected = min(args.stock, args.claims)
    if (coupons, issued, got["issued"]) != (expected, expected, expected):
        problems.append(
            f"issued {coupons} coupons (counter {issued}, answered {got['issued']}), not {expected}"
        )
    if doubled:
        problems.append(f"{doubled} members hold two coupons")
    if got["members.out_of_stock"] != args.claims - expected:
        problems.append(
            f"{got['members.out_of_stock']} refused for stock, not {args.claims - expected}"
        )
    if rate < TARGET:
        problems.append(f"{rate:,.0f} claims/s is below the target of {TARGET:,.0f}/s")
    exact = not any("issued" in p or "two" in p or "refused" in p for p in problems)
    print(f"exactly {expected:,} issued, none twice: {'yes' if exact else 'NO'}")
    if not args.keep:
        drop_db()
    for problem in problems:
        print(f"PROBLEM: {problem}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
