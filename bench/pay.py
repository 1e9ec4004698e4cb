"""Benchmark of WeChat Pay notifications and refunds through the sandbox, with money checks.

    .venv/bin/python bench/pay.py               # 10,000 payments and 10,000 refunds
    .venv/bin/python bench/pay.py --n 1000      # a quick run

The sandbox's Pay runs in this process (uvicorn in a thread, as the host wechatpayv3 calls);
two servers run beside it, each `uvicorn` with one worker:

  a. bare (the baseline): verifies the notification's signature against the platform key,
     opens the AEAD resource with the APIv3 key, answers 204, stores nothing;
  b. siyu: the real application (`siyu.api.app.create_app`) on PostgreSQL (`siyu_pay_bench`,
     created and dropped here): verify, open, lock the order, mark it paid, record pay.paid.

N orders are opened in siyu and the sandbox, and the sandbox's simulated member pays each
(paySign checked). Every payment notification is then delivered to each server twice (the
second time as WeChat's duplicate), by the sandbox's own signed deliveries over loopback
HTTP with 8 threads; notifications/s of each and the ratio siyu/bare are printed.

Then N refunds (one per order, a random part of it) are sent in batches of 200 (8 at a time)
by `pay.submit_refunds` (claimed together, called concurrently over one keep-alive pool at
`--qps` a second, WeChat's 150 by default, outcomes recorded together), with failures
injected in the sandbox: 10% answer 500 after accepting (a lost answer), 10% answer 500
before, 5% NOT_ENOUGH; siyu sends every pending refund again with its same out_refund_no
until none is pending; the sandbox settles them and notifies siyu. Baseline in the same run:
the same number of refund calls straight through siyu's Pay client (no database).

Checks, comparing siyu's ledger with the sandbox's: every payment credited once (N pay.paid
events, paid totals equal), every refund paid out once (refund counts, numbers and totals
equal, N pay.refunded events); lost and doubled are printed.
"""

from __future__ import annotations

import argparse
import logging
import os
import random
import secrets
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from fastapi import Request as HttpRequest  # module level: FastAPI resolves annotations here

HERE = Path(__file__).resolve().parent
PG_SERVER = "postgresql://postgres@127.0.0.1:5432"
PG_DB = f"siyu_pay_bench_{secrets.token_hex(4)}"
MCHID = "1900000109"
MP_APPID = "wxbe4c4bec4bec4bec"
KEY_ENV, APIV3_ENV, KEY_ID_ENV = "BENCH_PAY_PUBLIC_KEY", "BENCH_PAY_APIV3", "BENCH_PAY_KEY_ID"
THREADS = 8


# --- the servers (run by uvicorn in their own processes) --------------------------------


def siyu_app() -> Any:
    from siyu.api.app import create_app

    return create_app()


def bare_app() -> Any:
    """Verify and open a notification, as every notification endpoint must; store nothing."""
    import json

    from fastapi import FastAPI, Response

    from siyu.wechat import paycrypto

    key = paycrypto.load_public_key(os.environ[KEY_ENV])
    apiv3 = os.environ[APIV3_ENV]
    app = FastAPI()

    @app.get("/healthz")
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.post("/wechat/pay/notify/{mchid}")
    async def notify(mchid: str, request: HttpRequest) -> Response:
        body = (await request.body()).decode()
        h = request.headers
        if not paycrypto.check_response(
            key, h["wechatpay-signature"], h["wechatpay-timestamp"], h["wechatpay-nonce"], body
        ):
            return Response(status_code=401)
        resource = json.loads(body)["resource"]
        json.loads(
            paycrypto.open_sealed(
                apiv3, resource["ciphertext"], resource["associated_data"], resource["nonce"]
            )
        )
        return Response(status_code=204)

    return app


def serve(factory: str, port: int) -> None:
    import uvicorn

    uvicorn.run(
        f"pay:{factory}",
        factory=True,
        app_dir=str(HERE),
        host="127.0.0.1",
        port=port,
        workers=1,
        access_log=False,
        log_level="warning",
    )


def start_server(factory: str, port: int, env: dict[str, str]) -> subprocess.Popen[bytes]:
    import httpx

    process = subprocess.Popen([sys.executable, __file__, "--serve", factory, str(port)], env=env)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{factory} exited with {process.returncode}")
        try:
            httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).raise_for_status()
            return process
        except httpx.HTTPError:
            time.sleep(0.2)  # waiting for a server to start, not timing a result
    process.terminate()
    raise RuntimeError(f"{factory} did not start")


@contextmanager
def serve_in_thread(app: Any) -> Iterator[str]:
    """The sandbox on a loopback port, in a thread of this process."""
    import uvicorn

    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.01)  # waiting for a server to start, not timing a result
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)


def stop_server(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


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


# --- the run ------------------------------------------------------------------------------


def parallel(items: list[Any], work: Any) -> list[Any]:
    with ThreadPoolExecutor(THREADS) as pool:
        return list(pool.map(work, items))


def deliver_all(pay: Any, notifications: list[Any], url: str) -> tuple[float, int]:
    """Each notification to `url` twice (the second a duplicate); seconds, failures."""
    from siyu.sandbox.pay import Notification

    copies = [
        Notification(
            **{**vars(n), "url": url, "history": [], "attempts": 0, "due_at": n.created_at}
        )
        for n in notifications
    ]
    started = time.perf_counter()
    first = parallel(copies, pay.deliver)
    second = parallel(copies, lambda n: pay.deliver(n, duplicate=True))
    seconds = time.perf_counter() - started
    failed = [h for n in copies for h in n.history if h["status"] not in (200, 204)]
    if failed:
        print(f"  {len(failed)} deliveries to {url} failed, e.g. {failed[0]}")
    return seconds, first.count(False) + second.count(False)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=10_000, help="payments, and refunds")
    parser.add_argument("--seed", type=int, default=20261120)
    parser.add_argument(
        "--qps", type=int, default=150, help="refund calls a second (WeChat's 150); 0: no pace"
    )
    parser.add_argument("--serve", nargs=2, metavar=("FACTORY", "PORT"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(args.serve[0], int(args.serve[1]))
        return 0
    if args.n < 10:
        parser.error("--n must be at least 10")

    import httpx
    import structlog
    from sqlalchemy import func, select

    from siyu.core.config import Settings
    from siyu.core.crypto import configure_crypto
    from siyu.core.db import Database, install_database
    from siyu.identity import service as identity
    from siyu.identity.models import TimelineEvent
    from siyu.identity.schemas import PersonRef
    from siyu.migrations import upgrade
    from siyu.sandbox.app import create_sandbox_app
    from siyu.sandbox.pay import MerchantSpec, PayWorld
    from siyu.sandbox.world import AccountSpec, SandboxWorld
    from siyu.wechat import paycrypto
    from siyu.wechat.pay import service
    from siyu.wechat.pay.enums import RefundStatus
    from siyu.wechat.pay.models import PayOrder, PayRefund
    from siyu.wechat.pay.schemas import MerchantCreate
    from siyu.workspaces import service as workspaces
    from siyu.workspaces.enums import AppKind
    from siyu.workspaces.schemas import AppCreate

    rng = random.Random(args.seed)
    url = recreate_db()
    siyu_port, bare_port = free_port(), free_port()
    os.environ.update(
        {
            "SIYU_ENV": "development",
            "SIYU_DATABASE_URL": url,
            "SIYU_LOG_JSON": "true",
            "SIYU_QUEUE_PATH": str(Path("/tmp") / f"siyu-pay-bench-{os.getpid()}.db"),
        }
    )
    settings = Settings(_env_file=None)  # type: ignore[call-arg]
    configure_crypto(settings)
    # This process's own logs (a line per call) would drown the figures: errors only.
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.ERROR))
    upgrade(url)
    db = Database(url)
    install_database(db)
    world = SandboxWorld()
    world.register(AccountSpec(appid=MP_APPID, secret="s" * 32, kind="mp"))
    http = httpx.Client(timeout=10, limits=httpx.Limits(max_connections=THREADS * 2))
    pay = PayWorld(world, http, retry_scale=0)
    sandbox = create_sandbox_app(world, http=http, pay=pay)
    merchant_key = paycrypto.generate_private_key()
    apiv3 = secrets.token_hex(16)
    serial = secrets.token_hex(20).upper()
    registered = pay.register(
        MerchantSpec(
            mchid=MCHID,
            apiv3_key=apiv3,
            merchant_public_key=paycrypto.public_pem(merchant_key),
            cert_serial_no=serial,
            appids=[MP_APPID],
        )
    )
    env = dict(
        os.environ,
        PYTHONPATH=f"{HERE}:{HERE.parent}",
        **{KEY_ENV: pay.platform_public_key(), APIV3_ENV: apiv3},
    )
    problems: list[str] = []
    servers: list[subprocess.Popen[bytes]] = []
    try:
        with serve_in_thread(sandbox) as sandbox_url:
            service.configure_pay(
                settings.model_copy(
                    update={"wechat_pay_api_base": sandbox_url, "wechat_pay_refund_qps": args.qps}
                )
            )
            started = time.perf_counter()
            users = world.create_users(min(args.n, 500), seed=args.seed)
            with db.session_scope() as session:
                ws = workspaces.ensure_default_workspace(session).id
                app = workspaces.add_app(
                    session, ws, AppCreate(kind=AppKind.mp, appid=MP_APPID, name="bench")
                )
                service.add_merchant(
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
                    default_notify_base=f"http://127.0.0.1:{siyu_port}",
                )
                members = [
                    (
                        world.openid(u, MP_APPID),
                        identity.resolve_member(
                            session,
                            app,
                            PersonRef(appid=MP_APPID, openid=world.openid(u, MP_APPID)),
                        ).id,
                    )
                    for u in users
                ]

            def open_and_pay(i: int) -> Any:
                openid, member_id = members[i % len(members)]
                with db.session_scope() as session:
                    order = service.open_order(
                        session, ws, appid=MP_APPID, member_id=member_id,
                        amount=rng.randrange(100, 100_000), description="押金",
                        reference=f"bench:{i}", order_minutes=120, openid=openid,
                    )  # fmt: skip
                params = service.payment_params(db, service.clients(), ws, order.id)
                sent = params.model_dump(by_alias=True, exclude={"out_trade_no"})
                return order, pay.pay(openid, sent)

            made = parallel(list(range(args.n)), open_and_pay)
            orders = [o for o, _ in made]
            notifications = [n for _, n in made]
            print(
                f"{args.n:,} orders opened (wechatpayv3 → sandbox) and paid in "
                f"{time.perf_counter() - started:.1f}s",
                flush=True,
            )

            servers.append(start_server("siyu_app", siyu_port, env))
            servers.append(start_server("bare_app", bare_port, env))
            # Warm both up with a few deliveries (their own copies; the siyu ones are real).
            deliver_all(
                pay, notifications[:20], f"http://127.0.0.1:{bare_port}/wechat/pay/notify/{MCHID}"
            )
            bare_s, bare_fail = deliver_all(
                pay, notifications, f"http://127.0.0.1:{bare_port}/wechat/pay/notify/{MCHID}"
            )
            siyu_s, siyu_fail = deliver_all(
                pay, notifications, f"http://127.0.0.1:{siyu_port}/wechat/pay/notify/{MCHID}"
            )
            deliveries = 2 * args.n
            bare_rate, siyu_rate = deliveries / bare_s, deliveries / siyu_s
            print("payment notifications, each delivered twice, 8 sender threads:")
            print(f"  bare  {bare_rate:8,.0f} notifications/s  ({deliveries:,} in {bare_s:.1f}s)")
            print(f"  siyu  {siyu_rate:8,.0f} notifications/s  ({deliveries:,} in {siyu_s:.1f}s)")
            print(f"  ratio siyu/bare {siyu_rate / bare_rate:.0%}", flush=True)
            if bare_fail or siyu_fail:
                problems.append(f"unacknowledged deliveries: bare {bare_fail}, siyu {siyu_fail}")

            # Refunds with injected failures, resent with the same out_refund_no until done.
            pay.fault_rates = {"refund": ("error_after", 0.10)}
            faults = {"error_before": 0.10, "not_enough": 0.05}
            refund_ids: list[int] = []
            with db.session_scope() as session:
                for order in orders:
                    amount = rng.randrange(1, order.amount + 1)
                    refund_ids.append(
                        service.request_refund(session, ws, order.id, amount, "bench").id
                    )
            started = time.perf_counter()
            rounds = 0
            pending = list(refund_ids)
            while pending and rounds < 20:
                rounds += 1
                for kind, rate in faults.items():
                    pay.inject("refund", kind, int(len(pending) * rate))  # type: ignore[arg-type]
                parallel(
                    [pending[i : i + 200] for i in range(0, len(pending), 200)],
                    lambda ids: service.submit_refunds(db, service.clients(), ids, due_only=False),
                )
                pay.faults.clear()
                if rounds >= 3:
                    pay.fault_rates = {}
                with db.session_scope() as session:
                    pending = list(
                        session.scalars(
                            select(PayRefund.id).where(PayRefund.status == RefundStatus.pending)
                        )
                    )
            refund_s = time.perf_counter() - started
            notified = pay.settle_refunds()
            parallel(notified, pay.deliver)
            # Baseline: the same number of refund calls straight through the client (accepted
            # refunds asked again: WeChat answers them as it did, the same work on its side).
            with db.session_scope() as session:
                keys = service.merchant_keys(
                    session, service.list_merchants(session)[0].id, MP_APPID
                )
                sample = session.execute(
                    select(PayRefund.out_refund_no, PayRefund.amount, PayOrder.out_trade_no,
                           PayOrder.amount).join(PayOrder, PayOrder.id == PayRefund.order_id)
                ).all()  # fmt: skip
            client = service.clients().get(keys)
            started = time.perf_counter()
            with ThreadPoolExecutor(THREADS * service.REFUND_CONCURRENCY) as pool:
                list(pool.map(lambda r: client.refund(out_refund_no=r[0], amount=r[1],
                     out_trade_no=r[2], total=r[3], reason="bench"), sample))  # fmt: skip
            bare_refund_s = time.perf_counter() - started
            rate, bare_rate = args.n / refund_s, len(sample) / bare_refund_s
            pace = f"paced at {args.qps}/s" if args.qps else "not paced"
            print(
                f"refunds ({pace}): {args.n:,} sent in {rounds} rounds ({refund_s:.1f}s, "
                f"{rate:,.0f}/s), {len(notified):,} refund notifications; the client alone "
                f"{bare_rate:,.0f}/s; ratio {rate / bare_rate:.2f}",
                flush=True,
            )

        # --- the money checks -------------------------------------------------------------
        ledger = pay.merchant(MCHID).ledger(pay.now())
        with db.session_scope() as session:
            paid_total = session.scalar(
                select(func.coalesce(func.sum(PayOrder.amount), 0)).where(PayOrder.status == "paid")
            )
            refunds = dict(
                session.execute(
                    select(PayRefund.out_refund_no, PayRefund.amount).where(
                        PayRefund.status == RefundStatus.succeeded
                    )
                ).all()
            )
            events = dict(
                session.execute(
                    select(TimelineEvent.name, func.count()).group_by(TimelineEvent.name)
                ).all()
            )
        theirs = {r["out_refund_no"]: r["amount"]["refund"] for r in ledger["refunds"]}
        paid_out = [r["out_refund_no"] for r in ledger["refunds"]]
        print(
            f"  lost: {args.n - len(set(paid_out))} refunds, {args.n - events.get('pay.paid', 0)}"
            f" payments; doubled: {len(paid_out) - len(set(paid_out))} refunds"
        )
        checks = {
            "pay.paid events == payments": events.get("pay.paid", 0) == args.n,
            "siyu paid total == merchant paid total": paid_total == ledger["paid_total"],
            "refunds at the merchant == refunds requested": len(ledger["refunds"]) == args.n,
            "siyu refunds == merchant refunds (numbers and amounts)": refunds == theirs,
            "siyu refunded total == merchant refunded total": sum(refunds.values())
            == ledger["refunded_total"],
            "pay.refunded events == refunds": events.get("pay.refunded", 0) == args.n,
        }
        for name, ok in checks.items():
            print(f"  {'ok' if ok else 'FAILED'}: {name}")
            if not ok:
                problems.append(name)
        print(
            f"  merchant: paid {ledger['paid_total'] / 100:,.2f}, refunded "
            f"{ledger['refunded_total'] / 100:,.2f}; zero double credits, zero double refunds"
            if not problems
            else "  money checks failed"
        )
    finally:
        for server in servers:
            stop_server(server)
        pay.stop()
        db.dispose()
        drop_db()
    for problem in problems:
        print(f"  PROBLEM: {problem}")
    print("result:", "PASS" if not problems else "FAIL")
    return 0 if not problems else 1


if __name__ == "__main__":
    threading.current_thread().name = "bench"
    sys.exit(main())
