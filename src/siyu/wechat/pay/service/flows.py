"""Pay operations that talk to WeChat Pay: each step its own transaction, calls in between.

These are entrypoint helpers (routes, jobs, the CLI, community's checkout): they take the
`Database`, not a session, and commit each step. No call to WeChat Pay is made while a
transaction is open, so a SQLite write lock never waits on the network.
"""

from __future__ import annotations

from collections.abc import Callable
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

_clients: ClientCache | None = None


def configure_pay(settings: Settings) -> ClientCache:
    """Point the process's Pay clients at these settings' WeChat Pay host."""
    global _clients  # noqa: PLW0603 - one cache per process, like the engine
    _clients = ClientCache(settings.wechat_pay_api_base)
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
    """Send a pending refund (again, with the same out_refund_no); None if nothing to send."""
    with db.session_scope() as session:
        call = refunds.refund_call(session, refund_id)
    if call is None:
        return None
    answer: dict[str, Any] | None = None
    error: PayCallError | None = None
    try:
        answer = clients.get(call.keys).refund(
            out_refund_no=call.out_refund_no,
            out_trade_no=call.out_trade_no,
            amount=call.amount,
            total=call.total,
            reason=call.reason,
        )
    except PayCallError as exc:
        error = exc
        log.warning("pay_refund_failed", refund_id=refund_id, code=exc.code, status=exc.status)
    with db.session_scope() as session:
        return refunds.record_refund_answer(session, refund_id, answer, error)


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
    for refund_id in refund_ids:
        _guard(done, partial(_send, db, clients, refund_id, done))
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


def _send(db: Database, clients: ClientCache, refund_id: int, done: Sweep) -> None:
    if submit_refund(db, clients, refund_id) is not None:
        done.refunds_sent += 1


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
