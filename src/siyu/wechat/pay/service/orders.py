"""Orders: opened once per thing paid for, their jsapi call, and paid once (pay.paid)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from siyu.core import clock
from siyu.core.clock import BEIJING
from siyu.core.events import DomainEvent, bus
from siyu.identity import service as identity
from siyu.wechat.pay import errors, repository
from siyu.wechat.pay.client import MerchantKeys
from siyu.wechat.pay.enums import OrderStatus
from siyu.wechat.pay.models import PayOrder
from siyu.wechat.pay.schemas import OrderRead
from siyu.wechat.pay.service.common import (
    NOTIFICATIONS,
    QUERY_AFTER,
    MerchantRef,
    PayRefused,
    current_member,
    out_no,
    success_time,
)
from siyu.wechat.pay.service.merchants import merchant_keys, workspace_merchant
from siyu.workspaces import service as workspaces
from siyu.workspaces.enums import AppKind
from siyu.workspaces.schemas import AppRead

PREPAY_TTL = timedelta(hours=2)  # a prepay_id lives 2 h (fact sheet §5)
PREPAY_MARGIN = timedelta(minutes=5)  # ask again rather than hand out one about to die


@dataclass(frozen=True, slots=True)
class OrderPaid(DomainEvent):
    """An order became paid (published once, inside the transaction that marks it paid)."""

    workspace_id: int
    order_id: int
    member_id: int
    reference: str
    amount: int
    paid_at: datetime


def _order_read(order: PayOrder) -> OrderRead:
    return OrderRead.model_validate(order)


def _openid_of(session: Session, app: AppRead, member_id: int) -> str:
    member = identity.get_member(session, app.workspace_id, member_id)
    for ident in member.identities:
        if ident.kind == "openid" and ident.appid == app.appid and ident.value:
            return ident.value
    raise errors.MEMBER_WITHOUT_OPENID(
        f"member {member.number} has no openid in {app.appid}: they must log in there first",
        number=member.number,
        appid=app.appid,
    )


def open_order(
    session: Session,
    workspace_id: int,
    *,
    appid: str,
    member_id: int,
    amount: int,
    description: str,
    reference: str,
    order_minutes: int,
    mchid: str | None = None,
    openid: str | None = None,
) -> OrderRead:
    """The member's open order for `reference`, or a new one.

    Asking again before the order expires returns it (WeChat then answers the same
    prepay_id); after it expired a new order with a new out_trade_no is made. A paid reference
    is refused (`pay.order_paid`), and so is asking again with another amount or description.
    """
    if amount <= 0:
        raise errors.INVALID_AMOUNT("amounts are positive integers of fen")
    app = workspaces.get_app_by_appid(session, appid, workspace_id)
    if app.kind != AppKind.mp:
        raise errors.NOT_MINI_PROGRAM(f"app {appid} is not a Mini Program", appid=appid)
    merchant = workspace_merchant(session, workspace_id, mchid)
    openid = openid or _openid_of(session, app, member_id)
    now = clock.now()
    for _try in range(3):
        latest = repository.latest_order_for_update(session, merchant.id, reference)
        if latest is not None:
            if latest.status == OrderStatus.paid:
                raise errors.ORDER_PAID(
                    f"{reference} is paid already (order {latest.out_trade_no})"
                )
            if latest.status == OrderStatus.pending and latest.time_expire > now + PREPAY_MARGIN:
                if (latest.amount, latest.description, latest.member_id) != (
                    amount,
                    description,
                    member_id,
                ):
                    raise errors.ORDER_CHANGED(
                        f"{reference} has an open order with another amount, description or "
                        "member; it must expire first",
                        reference=reference,
                    )
                return _order_read(latest)
        order = PayOrder(
            workspace_id=workspace_id,
            merchant_id=merchant.id,
            app_id=app.id,
            member_id=member_id,
            openid=openid,
            out_trade_no=out_no("SY"),
            reference=reference,
            attempt=0 if latest is None else latest.attempt + 1,
            description=description,
            amount=amount,
            status=OrderStatus.pending,
            time_expire=now + timedelta(minutes=order_minutes),
            created_at=now,
            updated_at=now,
        )
        try:
            with session.begin_nested():
                session.add(order)
                session.flush()
        except IntegrityError:  # a concurrent request made this attempt: read it
            continue
        return _order_read(order)
    raise errors.ORDER_CONTENTION("too many concurrent requests for this order; retry")


def get_order(session: Session, workspace_id: int, order_id: int) -> OrderRead:
    order = session.get(PayOrder, order_id)
    if order is None or order.workspace_id != workspace_id:
        raise errors.ORDER_NOT_FOUND(f"no order {order_id}")
    return _order_read(order)


def find_order(session: Session, workspace_id: int, out_trade_no: str) -> OrderRead:
    order = repository.find_order(session, workspace_id, out_trade_no)
    if order is None:
        raise errors.ORDER_NOT_FOUND(f"no order {out_trade_no}")
    return _order_read(order)


def list_orders(
    session: Session,
    workspace_id: int,
    *,
    member_ids: Sequence[int] | None = None,
    status: OrderStatus | None = None,
    reference_prefix: str | None = None,
    limit: int = 100,
    offset: int = 0,
) -> list[OrderRead]:
    """Orders, newest first; `reference_prefix` selects what they paid for ("activity:21d:")."""
    orders = repository.list_orders(
        session,
        workspace_id,
        member_ids=member_ids,
        status=status,
        reference_prefix=reference_prefix,
        limit=limit,
        offset=offset,
    )
    return [_order_read(o) for o in orders]


@dataclass(frozen=True)
class PrepayCall:
    """What to send to /v3/pay/transactions/jsapi (the same every time for one order)."""

    order_id: int
    keys: MerchantKeys
    out_trade_no: str
    description: str
    amount: int
    openid: str
    time_expire: str


def payment_call(
    session: Session, workspace_id: int, order_id: int, *, member_id: int | None = None
) -> tuple[PrepayCall, str | None]:
    """The jsapi call of an order, and its prepay_id if one is still fresh (no call needed)."""
    order = session.get(PayOrder, order_id)
    if order is None or order.workspace_id != workspace_id:
        raise errors.ORDER_NOT_FOUND(f"no order {order_id}")
    if member_id is not None and order.member_id != member_id:
        raise errors.NOT_YOUR_ORDER("this order belongs to another member")
    now = clock.now()
    if order.status == OrderStatus.paid:
        raise errors.ORDER_PAID(f"order {order.out_trade_no} is paid already")
    if order.status == OrderStatus.closed or order.time_expire <= now:
        raise errors.ORDER_CLOSED(f"order {order.out_trade_no} expired; open a new one")
    app = workspaces.get_apps_by_id(session, [order.app_id])[order.app_id]
    call = PrepayCall(
        order_id=order.id,
        keys=merchant_keys(session, order.merchant_id, app.appid),
        out_trade_no=order.out_trade_no,
        description=order.description,
        amount=order.amount,
        openid=order.openid,
        time_expire=order.time_expire.astimezone(BEIJING).isoformat(timespec="seconds"),
    )
    fresh = order.prepay_expires_at is not None and order.prepay_expires_at > now + PREPAY_MARGIN
    return call, order.prepay_id if fresh else None


def record_prepay(session: Session, order_id: int, prepay_id: str, issued_at: datetime) -> None:
    order = session.get(PayOrder, order_id)
    assert order is not None
    if order.prepay_id != prepay_id:
        order.prepay_id = prepay_id
        order.prepay_expires_at = issued_at + PREPAY_TTL
    order.updated_at = clock.now()
    session.flush()


def order_paid_elsewhere(session: Session, order_id: int) -> None:
    """WeChat answered ORDERPAID: the notification is on its way; query soon."""
    order = session.get(PayOrder, order_id)
    if order is not None:
        order.updated_at = clock.now() - QUERY_AFTER
        session.flush()


def apply_transaction(
    session: Session, merchant: MerchantRef, data: Mapping[str, Any], *, source: str
) -> str:
    """A paid transaction (notification or query): mark the order paid once, emit pay.paid."""
    out_trade_no = str(data.get("out_trade_no", ""))
    order = repository.order_by_out_trade_no_for_update(session, merchant.id, out_trade_no)
    if order is None:
        raise PayRefused(
            errors.UNKNOWN_ORDER, f"no order {out_trade_no!r}", out_trade_no=out_trade_no
        )
    if data.get("trade_state") != "SUCCESS":
        return "ignored"
    amount = data.get("amount")
    total = amount.get("total") if isinstance(amount, dict) else None
    if total != order.amount:
        raise PayRefused(
            errors.AMOUNT_MISMATCH,
            f"paid {total} fen for an order of {order.amount} fen",
            out_trade_no=out_trade_no,
        )
    payer = data.get("payer")
    openid = payer.get("openid") if isinstance(payer, dict) else None
    if openid is not None and openid != order.openid:
        raise PayRefused(
            errors.PAYER_MISMATCH, "paid by another openid than ordered", out_trade_no=out_trade_no
        )
    transaction_id = str(data.get("transaction_id", ""))
    if order.status == OrderStatus.paid:
        if order.transaction_id != transaction_id:
            raise PayRefused(
                errors.TRANSACTION_MISMATCH,
                "the order is paid by another transaction",
                out_trade_no=out_trade_no,
            )
        NOTIFICATIONS.labels("duplicate").inc()
        return "duplicate"
    # An order closed here but paid at WeChat's last moment is still paid: money came in.
    paid_at = success_time(data)
    order.status, order.transaction_id, order.paid_at = OrderStatus.paid, transaction_id, paid_at
    order.closed_at = None
    order.updated_at = clock.now()
    member_id = current_member(session, order.workspace_id, order.member_id)
    identity.record_event(
        session,
        order.workspace_id,
        member_id,
        "pay.paid",
        paid_at,
        app_id=order.app_id,
        props={
            "out_trade_no": order.out_trade_no,
            "transaction_id": transaction_id,
            "amount": order.amount,
            "description": order.description,
            "reference": order.reference,
            "source": source,
        },
    )
    session.flush()
    bus.publish(
        session,
        OrderPaid(order.workspace_id, order.id, member_id, order.reference, order.amount, paid_at),
    )
    NOTIFICATIONS.labels("processed").inc()
    return "processed"


REPLAY_PLACED_BEFORE = timedelta(minutes=1)


def date_replayed_orders(session: Session, workspace_id: int) -> int:
    """Orders WeChat says were paid before siyu placed them: the sandbox replaying past days
    (the simulated week of `make run`) pays at its simulated time while siyu places the order
    at its own now. The demo dates each as placed a minute before its payment; how many."""
    rows = repository.orders_paid_before_placed(session, workspace_id)
    for order in rows:
        assert order.paid_at is not None  # the query's condition
        order.created_at = order.paid_at - REPLAY_PLACED_BEFORE
    session.flush()
    return len(rows)
