"""Pay operations that talk to WeChat Pay: each step its own transaction, calls in between.

These are entrypoint helpers (routes, jobs, the CLI, community's checkout): they take the
`Database`, not a session, and commit each step. No call to WeChat Pay is made while a
transaction is open, so a SQLite write lock never waits on the network.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import date
from functools import partial
from typing import Any

from siyu.core import clock
from siyu.core.config import Settings
from siyu.core.db import Database
from siyu.core.errors import SiyuError
from siyu.core.logging import get_logger
from siyu.wechat.pay import errors
from siyu.wechat.pay.client import ClientCache, PayCallError, PayClient, PayUnavailable
from siyu.wechat.pay.schemas import PaymentParams, ReconciliationRead, RefundRead
from siyu.wechat.pay.service import merchants, orders, reconciliation, refunds

log = get_logger(__name__)
# Refund calls in flight per batch: enough to keep WeChat's 150/s with answers in ~50-100 ms.
REFUND_CONCURRENCY = 16
SWEEP_BATCH = 200  # refunds the sweep sends per claim

_clients: ClientCache | None = None


def configure_pay(settings: Settings) -> ClientCache:
    """Point the process's Pay clients at these settings' WeChat Pay host."""
    global _clients  # noqa: PLW0603 - one cache per process, like the engine
    if _clients is not None:
        _clients.close()
    _clients = ClientCache(settings.wechat_pay_api_base, settings.wechat_pay_refund_qps)
    return _clients


def clients() -> ClientCache:
    """The process's Pay clients (one per merchant and appid); jobs use these too."""
    if _clients is None:
        from siyu.core.config import get_settings

        return configure_pay(get_settings())
    return _clients


def upstream(exc: PayCallError) -> SiyuError:
    data = {"wechat_status": exc.status, "wechat_code": exc.code}
    if isinstance(exc, PayUnavailable):
        return errors.UNAVAILABLE(f"WeChat Pay cannot be reached: {exc.code}", data=data)
    return errors.UPSTREAM_REFUSED(
        f"WeChat Pay refused: {exc.code} {exc.message}", data=data, wechat_code=exc.code
    )


def payment_params(
    db: Database,
    clients: ClientCache,
    workspace_id: int,
    order_id: int,
    *,
    member_id: int | None = None,
) -> PaymentParams:
    """wx.requestPayment's parameters for an order: its prepay_id (asked of WeChat Pay when
    none is fresh; the same order asked again gets the same prepay_id) and paySign."""
    with db.session_scope() as session:
        call, prepay_id = orders.payment_call(session, workspace_id, order_id, member_id=member_id)
    client = clients.get(call.keys)
    if prepay_id is None:
        issued = clock.now()
        try:
            prepay_id = client.jsapi(
                out_trade_no=call.out_trade_no,
                description=call.description,
                amount=call.amount,
                openid=call.openid,
                time_expire=call.time_expire,
            )
        except PayCallError as exc:
            if exc.code == "ORDERPAID":
                with db.session_scope() as session:
                    orders.order_paid_elsewhere(session, order_id)
                raise errors.ORDER_PAID("WeChat Pay says this order is paid") from exc
            raise upstream(exc) from exc
        with db.session_scope() as session:
            orders.record_prepay(session, order_id, prepay_id, issued)
    params = client.payment_params(prepay_id)
    return PaymentParams.model_validate({**params, "out_trade_no": call.out_trade_no})


def submit_refund(db: Database, clients: ClientCache, refund_id: int) -> RefundRead | None:
    """Send a pending refund now (again, with the same out_refund_no), even before its next
    try is due; None if there is nothing to send (accepted, refused, or another runner holds
    it)."""
    sent = submit_refunds(db, clients, [refund_id], due_only=False)
    if not sent.sent:
        return None
    with db.session_scope() as session:
        [read] = refunds.read_refunds(session, [refund_id])
        return read


@dataclass
class RefundBatch:
    """What one batch of refund calls did: claimed (sent), and the outcomes by kind."""

    sent: int = 0
    accepted: int = 0
    retry: int = 0
    one_by_one: int = 0
    refused: int = 0


def _ask(clients: ClientCache, call: refunds.RefundCall) -> refunds.RefundOutcome:
    try:
        answer = clients.get(call.keys).refund(
            out_refund_no=call.out_refund_no,
            out_trade_no=call.out_trade_no,
            amount=call.amount,
            total=call.total,
            reason=call.reason,
        )
    except PayCallError as exc:
        log.warning("pay_refund_failed", refund_id=call.refund_id, code=exc.code, status=exc.status)
        return refunds.RefundOutcome(call, None, exc)
    except Exception as exc:  # one broken call must not hold back the batch's other outcomes
        log.exception("pay_refund_call_broken", refund_id=call.refund_id)
        # Whether WeChat got it is unknown: tried again later with the same out_refund_no.
        return refunds.RefundOutcome(call, None, PayUnavailable(0, "CLIENT", type(exc).__name__))
    return refunds.RefundOutcome(call, answer, None)


def submit_refunds(
    db: Database,
    clients: ClientCache,
    refund_ids: Sequence[int],
    *,
    due_only: bool = True,
    concurrency: int = REFUND_CONCURRENCY,
) -> RefundBatch:
    """Send pending refunds in three steps: claim them in one transaction (another runner's
    are skipped), call WeChat Pay for them concurrently over the shared keep-alive pool at its
    rate, then record every outcome in one transaction. A refund whose outcome is unknown
    (timeout, 5xx) waits for its next try with the same out_refund_no: money leaves once."""
    with db.session_scope() as session:
        calls = refunds.claim_refund_calls(session, refund_ids, due_only=due_only)
    done = RefundBatch(sent=len(calls))
    if not calls:
        return done
    try:
        if len(calls) == 1:
            outcomes = [_ask(clients, calls[0])]
        else:
            with ThreadPoolExecutor(min(concurrency, len(calls))) as pool:
                outcomes = list(pool.map(partial(_ask, clients), calls))
    except BaseException:
        # Nothing was recorded: let the claims go so the sweep sends them again at once.
        with db.session_scope() as session:
            refunds.release_refund_calls(session, [c.refund_id for c in calls])
        raise
    with db.session_scope() as session:
        counts = refunds.record_refund_outcomes(session, outcomes)
    done.accepted, done.retry = counts["accepted"], counts["retry"]
    done.one_by_one, done.refused = counts["one_by_one"], counts["refused"]
    return done


@dataclass
class Sweep:
    orders_checked: int = 0
    orders_paid: int = 0
    orders_closed: int = 0
    refunds_sent: int = 0
    refunds_queried: int = 0
    errors: int = 0


def sweep(db: Database, clients: ClientCache) -> Sweep:
    """The periodic pass: query late orders (pay or close them), resend due refunds, query
    refunds whose outcome is late."""
    done = Sweep()
    with db.session_scope() as session:
        order_ids = reconciliation.orders_to_check(session)
        refund_ids = reconciliation.refunds_due(session)
        late_refunds = reconciliation.refunds_to_query(session)
    for order_id in order_ids:
        _guard(done, partial(_check_order, db, clients, order_id, done))
    for start in range(0, len(refund_ids), SWEEP_BATCH):
        _guard(done, partial(_send, db, clients, refund_ids[start : start + SWEEP_BATCH], done))
    for refund_id, out_refund_no in late_refunds:
        _guard(done, partial(_query_refund, db, clients, refund_id, out_refund_no, done))
    return done


def _guard(done: Sweep, step: Callable[[], None]) -> None:
    # One order or refund that fails (WeChat unreachable, a refusal) must not stop the rest.
    try:
        step()
    except (PayCallError, SiyuError) as exc:
        done.errors += 1
        log.warning("pay_sweep_step_failed", error=str(exc))


def _check_order(db: Database, clients: ClientCache, order_id: int, done: Sweep) -> None:
    with db.session_scope() as session:
        check = reconciliation.order_check(session, order_id)
    if check is None:
        return
    done.orders_checked += 1
    client: PayClient = clients.get(check.keys)
    answer: dict[str, Any] | None = None
    if check.asked_wechat:
        try:
            answer = client.query(check.out_trade_no)
        except PayCallError as exc:
            if exc.code != "ORDER_NOT_EXIST":
                raise
    if check.expired and answer is not None and answer.get("trade_state") == "NOTPAY":
        client.close(check.out_trade_no)  # no late payment can land on it after this
        answer = {**answer, "trade_state": "CLOSED"}
    with db.session_scope() as session:
        outcome = reconciliation.settle_order(session, order_id, answer)
    done.orders_paid += outcome == "processed"
    done.orders_closed += outcome == "closed"


def _send(db: Database, clients: ClientCache, refund_ids: list[int], done: Sweep) -> None:
    done.refunds_sent += submit_refunds(db, clients, refund_ids).sent


def _query_refund(
    db: Database, clients: ClientCache, refund_id: int, out_refund_no: str, done: Sweep
) -> None:
    with db.session_scope() as session:
        keys = reconciliation.refund_keys(session, refund_id)
    answer = clients.get(keys).query_refund(out_refund_no)
    with db.session_scope() as session:
        reconciliation.apply_refund_query(session, refund_id, answer)
    done.refunds_queried += 1


def reconcile_day(
    db: Database, clients: ClientCache, merchant_id: int, day: date, appid: str = ""
) -> ReconciliationRead:
    """Fetch the merchant's trade bill of `day` (Beijing date) and compare it with siyu's."""
    with db.session_scope() as session:
        keys = merchants.merchant_keys(session, merchant_id, appid)
    try:
        bill = clients.get(keys).trade_bill(day)
    except PayCallError as exc:
        raise upstream(exc) from exc
    with db.session_scope() as session:
        return reconciliation.reconcile(session, merchant_id, day, bill)
