"""Benchmark of a community activity's settlement and review on PostgreSQL, refunds through
the sandbox's WeChat Pay, with money checks.

    .venv/bin/python bench/community.py                      # 20,000 members × 30 days
    .venv/bin/python bench/community.py --members 2000       # a quick run
    .venv/bin/python bench/community.py --qps 0              # refunds not paced (capacity)

Set-up (not timed as a figure): N sandbox users log in to the Mini Program and enroll in a
30-day activity with a 9.90 deposit (refund proportional to check-ins); each enrollment opens
a JSAPI order in siyu, asks the sandbox for its prepay_id, the simulated user pays and the
sandbox notifies siyu (served by uvicorn in this process), which confirms the enrollment.
Check-ins (each member a random 0–30 of the 30 days) are then written in bulk, in
community_checkins and as activity.checkin events on the timeline, as the API would have.

Timed:
  1. settlement computed (each member's refund by the rule), target < 10 s;
  2. confirmed: one Pay refund per member owed money (fixed out_refund_no);
  3. sent through the sandbox: the `community.send_refunds` jobs (batches of 200, 8 at a
     time as 8 worker threads would) claim their refunds, call WeChat Pay concurrently over one
     keep-alive pool at `--qps` a second (WeChat's 150 by default; 0 lifts it) and record the
     outcomes per batch; 5% answer NOT_ENOUGH first and go again through Pay's sweep (timed:
     until none is pending); then the sandbox settles them and notifies siyu (timed apart).
     Target ≥ 500/s (see the README: WeChat Pay itself
     takes 150 refund requests a second per merchant). Baseline, in the same run: the same
     number of refund calls straight through siyu's Pay client to the sandbox (the same pool,
     threads and signing; no database), as "the sandbox alone";
  4. the review (复盘), target < 2 s, and a baseline: one COUNT(*) of the events table.
Then every refund is sent once more (as a crashed job would) and the checks compare the
sandbox's refund ledger with the settlement: every refund paid once (lost: owed but not paid;
doubled: an out_refund_no paid twice), and the sandbox was asked once per refund apart from
the planned retries.
"""

from __future__ import annotations

import argparse
import logging
import os
import random
import secrets
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
PG_SERVER = "postgresql://postgres@127.0.0.1:5432"
PG_DB = f"siyu_community_bench_{secrets.token_hex(4)}"
ACTOR = "bench"  # audited as a program: the bench signs no operator in
MCHID = "1900000109"
MP_APPID = "wxbe4c4bec4bec4bec"
THREADS = 8
DAYS = 30


@contextmanager
def serve_in_thread(app: Any) -> Iterator[str]:
    import socket

    import uvicorn

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = int(sock.getsockname()[1])
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="error", access_log=False)
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.01)  # waiting for a server to start, not timing a result
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def recreate_db() -> str:
    import psycopg

    with psycopg.connect(f"{PG_SERVER}/postgres", autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{PG_DB}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{PG_DB}"')
    return f"{PG_SERVER}/{PG_DB}"


def count_refund_calls(pay: Any) -> Counter[str]:
    """The refund calls the sandbox receives, by out_refund_no (wrapping its handler)."""
    original, calls = pay.refund, Counter[str]()

    def refund(merchant: Any, body: dict[str, Any]) -> Any:
        calls[str(body.get("out_refund_no"))] += 1
        return original(merchant, body)

    pay.refund = refund
    return calls


def parallel(items: list[Any], work: Any) -> list[Any]:
    with ThreadPoolExecutor(THREADS) as pool:
        return list(pool.map(work, items))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--members", type=int, default=20_000)
    parser.add_argument("--seed", type=int, default=20261120)
    parser.add_argument("--keep", action="store_true", help="keep the database afterwards")
    parser.add_argument(
        "--qps", type=int, default=150, help="refund calls a second (WeChat's 150); 0: no pace"
    )
    args = parser.parse_args()

    import httpx
    import structlog
    from pydantic import SecretStr
    from sqlalchemy import func, insert, select, text, update

    from siyu.api.app import create_app
    from siyu.community import service, tasks
    from siyu.community.enums import CheckinStatus
    from siyu.community.models import Checkin, Enrollment
    from siyu.community.schemas import ActivityCreate, SeriesCreate, ThemeCreate
    from siyu.core import clock
    from siyu.core.clock import FrozenClock
    from siyu.core.config import Settings
    from siyu.core.crypto import configure_crypto
    from siyu.core.db import Database, install_database
    from siyu.identity.models import TimelineEvent
    from siyu.migrations import upgrade
    from siyu.sandbox.app import create_sandbox_app
    from siyu.sandbox.pay import MerchantSpec, PayWorld
    from siyu.sandbox.world import AccountSpec, SandboxWorld
    from siyu.wechat import mp, paycrypto
    from siyu.wechat.pay import service as pay_service
    from siyu.wechat.pay.models import PayOrder, PayRefund
    from siyu.wechat.pay.schemas import MerchantCreate
    from siyu.wechat.schemas import Code2Session
    from siyu.workspaces import service as workspaces
    from siyu.workspaces.enums import AppKind
    from siyu.workspaces.schemas import AppCreate

    rng = random.Random(args.seed)
    n = args.members
    url = recreate_db()
    os.environ.update(
        {
            "SIYU_ENV": "development",
            "SIYU_DATABASE_URL": url,
            "SIYU_QUEUE_PATH": str(Path("/tmp") / f"siyu-community-bench-{os.getpid()}.db"),
        }
    )
    settings = Settings(_env_file=None)  # type: ignore[call-arg]
    configure_crypto(settings)
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.ERROR))
    upgrade(url)
    db = Database(url)
    install_database(db)
    # The activity ran 2026-10-01 … 10-30 (Beijing); enrollment happened the day before.
    start = date(2026, 10, 1)
    frozen = FrozenClock(datetime(2026, 9, 30, 2, 0, tzinfo=UTC))
    world = SandboxWorld()
    world.register(AccountSpec(appid=MP_APPID, secret="s" * 32, kind="mp"))
    http = httpx.Client(timeout=30, limits=httpx.Limits(max_connections=THREADS * 2))
    pay = PayWorld(world, http, retry_scale=0)
    sandbox = create_sandbox_app(world, http=http, pay=pay)
    merchant_key = paycrypto.generate_private_key()
    apiv3, serial = secrets.token_hex(16), secrets.token_hex(20).upper()
    registered = pay.register(
        MerchantSpec(
            mchid=MCHID,
            apiv3_key=apiv3,
            merchant_public_key=paycrypto.public_pem(merchant_key),
            cert_serial_no=serial,
            appids=[MP_APPID],
        )
    )
    problems: list[str] = []
    with clock.use_clock(frozen), serve_in_thread(sandbox) as sandbox_url:
        configured = settings.model_copy(
            update={
                "wechat_pay_api_base": sandbox_url,
                "sandbox": True,
                "wechat_pay_refund_qps": args.qps,
            }
        )
        pay_service.configure_pay(configured)
        siyu = create_app(configured, db)
        # create_app set the logs to INFO (a line per call): errors only, or they drown figures.
        structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.ERROR))
        with serve_in_thread(siyu) as siyu_url:
            t0 = time.perf_counter()
            users = world.create_users(n, seed=args.seed)
            with db.session_scope() as session:
                ws = workspaces.ensure_default_workspace(session).id
                app = workspaces.add_app(
                    session, ws, AppCreate(kind=AppKind.mp, appid=MP_APPID, name="bench")
                )
                pay_service.add_merchant(
                    session,
                    ws,
                    MerchantCreate(
                        mchid=MCHID,
                        name="bench",
                        apiv3_key=apiv3,
                        private_key=paycrypto.private_pem(merchant_key),
                        cert_serial_no=serial,
                        platform_public_key=pay.platform_public_key(),
                        platform_public_key_id=registered.platform_key_id,
                    ),
                    default_notify_base=siyu_url,
                )
                theme = service.create_theme(session, ws, ThemeCreate(name="英语"), actor=ACTOR)
                series = service.create_series(
                    session, ws, SeriesCreate(theme_id=theme.id, name="30 天词汇"), actor=ACTOR
                )
                activity = service.create_activity(
                    session,
                    ws,
                    ActivityCreate(
                        series_id=series.id,
                        code="BENCH30",
                        title="30 天词汇打卡",
                        starts_on=start,
                        ends_on=start + timedelta(days=DAYS - 1),
                        deposit=990,
                        checkin_days_required=DAYS,
                        refund_rule="proportional",  # type: ignore[arg-type]
                        status="open",  # type: ignore[arg-type]
                    ),
                    actor=ACTOR,
                )

            def enroll(user: Any) -> tuple[str, int]:
                openid = world.openid(user, MP_APPID)
                with db.session_scope() as session:
                    issued = mp.open_session(
                        session,
                        app,
                        Code2Session(openid=openid, session_key=SecretStr("a" * 24)),
                        24,
                    )
                    member_id = mp.authenticate(
                        session, MP_APPID, f"Bearer {issued.token}"
                    ).member_id
                    step = service.enroll(
                        session, ws, activity.id, member_id, appid=MP_APPID, openid=openid
                    )
                assert step.order_id is not None
                params = pay_service.payment_params(db, pay_service.clients(), ws, step.order_id)
                sent = params.model_dump(by_alias=True, exclude={"out_trade_no"})
                pay.deliver(pay.pay(openid, sent))
                return openid, member_id

            parallel(users, enroll)
            with db.session_scope() as session:
                enrolled = session.scalar(
                    select(func.count())
                    .select_from(Enrollment)
                    .where(Enrollment.status == "enrolled")
                )
            print(f"{enrolled:,} of {n:,} enrolled and paid through the sandbox in "
                  f"{time.perf_counter() - t0:.0f}s", flush=True)  # fmt: skip
            if enrolled != n:
                problems.append(f"{n - (enrolled or 0)} enrollments not confirmed")

            # Check-ins in bulk: member i checked in on a random subset of the 30 days.
            t0 = time.perf_counter()
            with db.session_scope() as session:
                rows = session.execute(
                    select(Enrollment.id, Enrollment.member_id).where(
                        Enrollment.activity_id == activity.id
                    )
                ).all()
            total = 0
            for chunk_start in range(0, len(rows), 1000):
                checkins: list[dict[str, Any]] = []
                events: list[dict[str, Any]] = []
                counts: list[dict[str, Any]] = []
                for enrollment_id, member_id in rows[chunk_start : chunk_start + 1000]:
                    days = sorted(rng.sample(range(DAYS), rng.randint(0, DAYS)))
                    for d in days:
                        day = start + timedelta(days=d)
                        at = datetime(day.year, day.month, day.day, 1, 30, tzinfo=UTC)
                        checkins.append({
                            "activity_id": activity.id, "enrollment_id": enrollment_id,
                            "member_id": member_id, "day": day, "image_key": "bench.jpg",
                            "status": CheckinStatus.accepted, "submitted_at": at,
                        })  # fmt: skip
                        events.append({
                            "workspace_id": ws, "member_id": member_id,
                            "origin_member_id": member_id, "name": "activity.checkin", "ts": at,
                            "props": {"code": "BENCH30", "day": day.isoformat()},
                            "received_at": at,
                        })  # fmt: skip
                    counts.append({"id": enrollment_id, "checkins": len(days)})
                total += len(checkins)
                with db.session_scope() as session:
                    if checkins:
                        session.execute(insert(Checkin), checkins)
                        session.execute(insert(TimelineEvent), events)
                    session.execute(
                        update(Enrollment),
                        [{"id": c["id"], "checkins": c["checkins"]} for c in counts],
                    )
            with db.session_scope() as session:
                session.execute(text("ANALYZE"))
            print(f"{total:,} check-ins written in {time.perf_counter() - t0:.0f}s", flush=True)

            frozen.advance(timedelta(days=DAYS + 1))  # the activity ended yesterday
            t0 = time.perf_counter()
            with db.session_scope() as session:
                draft = service.compute_settlement(session, ws, activity.id)
            compute_s = time.perf_counter() - t0
            owed = draft.total_refund
            print(f"1. settlement computed: {draft.members:,} members, "
                  f"{owed / 100:,.2f} yuan to refund, in {compute_s:.2f}s "
                  f"(target < 10 s)", flush=True)  # fmt: skip

            t0 = time.perf_counter()
            with db.session_scope() as session:
                confirmed = service.confirm_settlement(session, ws, activity.id, actor=ACTOR)
            refund_ids = confirmed.refund_ids
            print(f"2. confirmed: {len(refund_ids):,} Pay refunds recorded in "
                  f"{time.perf_counter() - t0:.2f}s", flush=True)  # fmt: skip

            calls = count_refund_calls(pay)
            t0 = time.perf_counter()
            pay.inject("refund", "not_enough", count=max(1, len(refund_ids) // 20))
            size = service.REFUND_CHUNK
            chunks = [refund_ids[i : i + size] for i in range(0, len(refund_ids), size)]
            parallel(chunks, tasks.send_refunds.call_local)
            first_s = time.perf_counter() - t0
            for _round in range(10):
                frozen.advance(timedelta(hours=2))
                with db.session_scope() as session:
                    due = pay_service.refunds_due(session, limit=100_000)
                if not due:
                    break
                parallel(
                    [due[i : i + size] for i in range(0, len(due), size)],
                    lambda ids: pay_service.submit_refunds(db, pay_service.clients(), ids),
                )
            execute_s = time.perf_counter() - t0
            # WeChat settles them and notifies siyu (8 deliveries at a time, as bench/pay.py).
            t0 = time.perf_counter()
            notified = pay.settle_refunds()
            parallel(notified, pay.deliver)
            settle_s = time.perf_counter() - t0
            asked = sum(calls.values())
            rate = len(refund_ids) / execute_s

            # Baseline: the same number of refund calls, straight through the Pay client.
            with db.session_scope() as session:
                merchant_id = pay_service.list_merchants(session)[0].id
                keys = pay_service.merchant_keys(session, merchant_id, MP_APPID)
                sample = session.execute(
                    select(PayRefund.out_refund_no, PayRefund.amount, PayOrder.out_trade_no,
                           PayOrder.amount).join(PayOrder, PayOrder.id == PayRefund.order_id)
                ).all()  # fmt: skip
            client = pay_service.clients().get(keys)

            def bare_call(row: Any) -> None:
                client.refund(out_refund_no=row[0], amount=row[1], out_trade_no=row[2],
                              total=row[3], reason="bench")  # fmt: skip

            t0 = time.perf_counter()
            with ThreadPoolExecutor(THREADS * pay_service.REFUND_CONCURRENCY) as pool:
                list(pool.map(bare_call, sample))
            bare_s = time.perf_counter() - t0
            bare_rate = len(sample) / bare_s
            pace = f"paced at {args.qps}/s" if args.qps else "not paced"
            print(f"3. sent through the sandbox ({pace}): {len(refund_ids):,} refunds in "
                  f"{execute_s:.1f}s = {rate:,.0f}/s (first pass {first_s:.1f}s, "
                  f"{len(refund_ids) / first_s:,.0f}/s; {asked:,} calls for "
                  f"{len(refund_ids):,} refunds); sandbox alone (the same calls through the "
                  f"client, no database): {bare_rate:,.0f}/s; ratio {rate / bare_rate:.2f}, first "
                  f"pass {len(refund_ids) / first_s / bare_rate:.2f} (target ≥ 500/s); then "
                  f"{len(notified):,} REFUND.SUCCESS notifications applied in {settle_s:.1f}s "
                  f"({len(notified) / settle_s:,.0f}/s)", flush=True)  # fmt: skip

            # A crashed job runs again: every refund is sent once more (nothing is asked).
            before = sum(calls.values())
            parallel(chunks, tasks.send_refunds.call_local)
            pay.tick()
            if sum(calls.values()) != before:
                problems.append("a job run again asked WeChat Pay again")

            with db.session_scope() as session:
                t0 = time.perf_counter()
                session.scalar(select(func.count()).select_from(TimelineEvent))
                baseline_s = time.perf_counter() - t0
            t0 = time.perf_counter()
            with db.session_scope() as session:
                result = service.activity_review(session, ws, "BENCH30")
            review_s = time.perf_counter() - t0
            print(f"4. review in {review_s:.2f}s (target < 2 s); baseline COUNT(*) of events "
                  f"{baseline_s:.2f}s, ratio {review_s / max(baseline_s, 1e-6):.1f}×; "
                  f"completion {result.completion_rate:.1%}, refunded "
                  f"{result.refunded_total / 100:,.2f} yuan", flush=True)  # fmt: skip

            with pay.lock:
                ledger = pay.merchant(MCHID).ledger(pay.now())
            numbers = [r["out_refund_no"] for r in ledger["refunds"]]
            with db.session_scope() as session:
                ours = session.execute(
                    select(func.count(), func.coalesce(func.sum(PayRefund.amount), 0)).where(
                        PayRefund.status == "succeeded"
                    )
                ).one()
                refunded_members = session.scalar(
                    select(func.count())
                    .select_from(Enrollment)
                    .where(Enrollment.status == "refunded")
                )
            if len(numbers) != len(set(numbers)):
                problems.append("an out_refund_no was paid twice")
            if len(numbers) != len(refund_ids):
                problems.append(
                    f"sandbox paid {len(numbers)} refunds, settlement made {len(refund_ids)}"
                )
            if ledger["refunded_total"] != owed:
                problems.append(f"sandbox refunded {ledger['refunded_total']} fen, owed {owed}")
            if tuple(ours) != (len(refund_ids), owed):
                problems.append(
                    f"siyu's succeeded refunds {tuple(ours)} ≠ {(len(refund_ids), owed)}"
                )
            if result.refunded_total != owed or refunded_members != len(refund_ids):
                problems.append("the review or the enrollments disagree with the ledger")
            if compute_s >= 10:
                problems.append(f"settlement took {compute_s:.1f}s (target < 10 s)")
            if review_s >= 2:
                problems.append(f"review took {review_s:.1f}s (target < 2 s)")
    lost = len(refund_ids) - len(set(numbers))
    print(f"checks: sandbox ledger {len(numbers):,} refunds, {ledger['refunded_total'] / 100:,.2f} "
          f"yuan; lost: {lost}, doubled: {len(numbers) - len(set(numbers))}")  # fmt: skip
    if not args.keep:
        import psycopg

        db.dispose()
        with psycopg.connect(f"{PG_SERVER}/postgres", autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{PG_DB}" WITH (FORCE)')
    for problem in problems:
        print(f"PROBLEM: {problem}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
