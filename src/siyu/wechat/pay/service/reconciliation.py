"""Catching up with WeChat Pay: late orders and refunds asked about (the sweep's rules), and a
day's ledger compared with the merchant's trade bill."""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session

from siyu.core import clock
from siyu.core.clock import BEIJING
from siyu.core.money import parse_bill_amount
from siyu.wechat.pay import repository
from siyu.wechat.pay.client import MerchantKeys
from siyu.wechat.pay.enums import OrderStatus
from siyu.wechat.pay.models import PayMerchant, PayOrder, PayReconciliation, PayRefund
from siyu.wechat.pay.schemas import ReconciliationRead
from siyu.wechat.pay.service.common import QUERY_AFTER
from siyu.wechat.pay.service.merchants import merchant_keys
from siyu.wechat.pay.service.orders import apply_transaction
from siyu.wechat.pay.service.refunds import apply_refund_state
from siyu.workspaces import service as workspaces

# --- late orders and refunds ---------------------------------------------------------------


def orders_to_check(session: Session, limit: int = 200) -> list[int]:
    """Pending orders whose notification should have come, or whose time ran out."""
    now = clock.now()
    return repository.pending_orders_due(session, now, now - QUERY_AFTER, limit)


@dataclass(frozen=True)
class OrderCheck:
    order_id: int
    keys: MerchantKeys
    out_trade_no: str
    expired: bool
    asked_wechat: bool  # a prepay was requested: WeChat may know the order


def order_check(session: Session, order_id: int) -> OrderCheck | None:
    order = session.get(PayOrder, order_id)
    if order is None or order.status != OrderStatus.pending:
        return None
    app = workspaces.get_apps_by_id(session, [order.app_id])[order.app_id]
    return OrderCheck(
        order_id=order.id,
        keys=merchant_keys(session, order.merchant_id, app.appid),
        out_trade_no=order.out_trade_no,
        expired=order.time_expire <= clock.now(),
        asked_wechat=order.prepay_id is not None,
    )


def settle_order(session: Session, order_id: int, answer: Mapping[str, Any] | None) -> str:
    """Apply an order query's answer (None: WeChat does not know the order)."""
    order = repository.order_for_update(session, order_id)
    if order is None or order.status != OrderStatus.pending:
        return "unchanged"
    now = clock.now()
    state = answer.get("trade_state") if answer is not None else "NOTFOUND"
    if answer is not None and state in ("SUCCESS", "REFUND"):
        merchant = session.get(PayMerchant, order.merchant_id)
        assert merchant is not None
        return apply_transaction(
            session, merchant, {**answer, "trade_state": "SUCCESS"}, source="query"
        )
    if state == "CLOSED" or (order.time_expire <= now and state in ("NOTPAY", "NOTFOUND")):
        order.status, order.closed_at, order.updated_at = OrderStatus.closed, now, now
        session.flush()
        return "closed"
    order.updated_at = now
    session.flush()
    return "pending"


def refunds_due(session: Session, limit: int = 200) -> list[int]:
    return repository.refunds_due(session, clock.now(), limit)


def refunds_to_query(session: Session, limit: int = 200) -> list[tuple[int, str]]:
    """Accepted refunds without an outcome QUERY_AFTER later: (refund id, out_refund_no)."""
    return repository.refunds_processing_since(session, clock.now() - QUERY_AFTER, limit)


def refund_keys(session: Session, refund_id: int) -> MerchantKeys:
    refund = session.get(PayRefund, refund_id)
    assert refund is not None
    order = session.get(PayOrder, refund.order_id)
    assert order is not None
    app = workspaces.get_apps_by_id(session, [order.app_id])[order.app_id]
    return merchant_keys(session, refund.merchant_id, app.appid)


def apply_refund_query(session: Session, refund_id: int, answer: Mapping[str, Any]) -> str:
    refund = session.get(PayRefund, refund_id)
    assert refund is not None
    merchant = session.get(PayMerchant, refund.merchant_id)
    assert merchant is not None
    outcome = apply_refund_state(session, merchant, answer, source="query")
    refund.updated_at = clock.now()
    session.flush()
    return outcome


# --- bills ---------------------------------------------------------------------------------


def parse_trade_bill(text: str) -> tuple[dict[str, int], dict[str, int]]:
    """Payments {out_trade_no: fen} and succeeded refunds {out_refund_no: fen} of a bill."""
    rows = list(csv.reader(io.StringIO(text)))
    payments: dict[str, int] = {}
    refunds: dict[str, int] = {}
    if not rows:
        return payments, refunds
    header = rows[0]
    index = {name: i for i, name in enumerate(header)}
    for row in rows[1:]:
        if len(row) != len(header) or not row[0].startswith("`"):
            break  # the summary section starts
        value = {name: row[i].lstrip("`") for name, i in index.items()}
        if value["交易状态"] == "SUCCESS":
            payments[value["商户订单号"]] = parse_bill_amount(value["应结订单金额"])
        elif value["交易状态"] == "REFUND" and value["退款状态"] == "SUCCESS":
            refunds[value["商户退款单号"]] = parse_bill_amount(value["退款金额"])
    return payments, refunds


def day_bounds(day: date) -> tuple[datetime, datetime]:
    """A Beijing calendar day (WeChat's bills) as UTC instants."""
    start = datetime(day.year, day.month, day.day, tzinfo=BEIJING)
    return start, start + timedelta(days=1)


def reconcile(session: Session, merchant_id: int, day: date, bill: str) -> ReconciliationRead:
    """Compare the day's paid orders and succeeded refunds with the merchant's bill."""
    start, end = day_bounds(day)
    theirs_paid, theirs_refunded = parse_trade_bill(bill)
    ours_paid = repository.paid_amounts(session, merchant_id, start, end)
    ours_refunded = repository.refunded_amounts(session, merchant_id, start, end)
    differences = _differences("payment", ours_paid, theirs_paid)
    differences += _differences("refund", ours_refunded, theirs_refunded)
    row = repository.get_reconciliation(session, merchant_id, day)
    if row is None:
        row = PayReconciliation(merchant_id=merchant_id, bill_date=day)
        session.add(row)
    row.checked_at = clock.now()
    row.payments, row.refunds = len(theirs_paid), len(theirs_refunded)
    row.differences = differences
    session.flush()
    return ReconciliationRead.model_validate(row)


def _differences(kind: str, ours: dict[str, int], theirs: dict[str, int]) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    for number in sorted(ours.keys() | theirs.keys()):
        mine, bill = ours.get(number), theirs.get(number)
        if mine == bill:
            continue
        problem = (
            "missing_in_siyu" if mine is None else "missing_in_bill" if bill is None else "amount"
        )
        found.append(
            {"kind": kind, "number": number, "problem": problem, "siyu": mine, "merchant": bill}
        )
    return found


def list_reconciliations(
    session: Session, workspace_id: int, limit: int = 30
) -> list[ReconciliationRead]:
    return [
        ReconciliationRead.model_validate(r)
        for r in repository.list_reconciliations(session, workspace_id, limit)
    ]
