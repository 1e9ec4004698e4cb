"""Queries over pay's tables: merchants, orders, refunds, refused notifications, reconciliations.

Functions that lock (`..._for_update`) are for the rules that must see a row alone until commit:
an order paid once, a refund applied once, an order's refund room counted once.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, cast

from sqlalchemy import Table, bindparam, func, insert, or_, select, update
from sqlalchemy.orm import Session

from siyu.wechat.pay.enums import OrderStatus, RefundStatus
from siyu.wechat.pay.models import (
    PayMerchant,
    PayNotificationLog,
    PayOrder,
    PayReconciliation,
    PayRefund,
)

ID_CHUNK = 5000  # ids per IN list: well below every backend's parameter limit

# --- merchants ---------------------------------------------------------------------------


def merchant_id_by_mchid(session: Session, mchid: str) -> int | None:
    return session.scalar(select(PayMerchant.id).where(PayMerchant.mchid == mchid))


def get_merchant_by_mchid(session: Session, mchid: str) -> PayMerchant | None:
    return session.scalar(select(PayMerchant).where(PayMerchant.mchid == mchid))


def list_merchants(session: Session, workspace_id: int | None = None) -> list[PayMerchant]:
    query = select(PayMerchant).order_by(PayMerchant.id)
    if workspace_id is not None:
        query = query.where(PayMerchant.workspace_id == workspace_id)
    return list(session.scalars(query))


def first_workspace_merchant(
    session: Session, workspace_id: int, mchid: str | None
) -> PayMerchant | None:
    """The workspace's merchant `mchid`, or its first one when `mchid` is None."""
    query = select(PayMerchant).where(PayMerchant.workspace_id == workspace_id)
    if mchid is not None:
        query = query.where(PayMerchant.mchid == mchid)
    return session.scalars(query.order_by(PayMerchant.id)).first()


# --- orders ------------------------------------------------------------------------------


def latest_order_for_update(session: Session, merchant_id: int, reference: str) -> PayOrder | None:
    """The last attempt at an order for `reference`, locked."""
    return session.scalars(
        select(PayOrder)
        .where(PayOrder.merchant_id == merchant_id, PayOrder.reference == reference)
        .order_by(PayOrder.attempt.desc())
        .limit(1)
        .with_for_update()
    ).first()


def find_order(session: Session, workspace_id: int, out_trade_no: str) -> PayOrder | None:
    return session.scalars(
        select(PayOrder).where(
            PayOrder.workspace_id == workspace_id, PayOrder.out_trade_no == out_trade_no
        )
    ).first()


def list_orders(
    session: Session,
    workspace_id: int,
    *,
    member_ids: Sequence[int] | None,
    status: OrderStatus | None,
    reference_prefix: str | None,
    limit: int,
    offset: int,
) -> list[PayOrder]:
    """Orders, newest first."""
    query = select(PayOrder).where(PayOrder.workspace_id == workspace_id)
    if member_ids is not None:
        query = query.where(PayOrder.member_id.in_(member_ids))
    if reference_prefix:
        query = query.where(PayOrder.reference.startswith(reference_prefix, autoescape=True))
    if status is not None:
        query = query.where(PayOrder.status == status)
    query = query.order_by(PayOrder.created_at.desc(), PayOrder.id.desc()).limit(limit)
    return list(session.scalars(query.offset(offset)))


def orders_paid_before_placed(session: Session, workspace_id: int) -> Sequence[PayOrder]:
    return session.scalars(
        select(PayOrder)
        .where(
            PayOrder.workspace_id == workspace_id,
            PayOrder.paid_at.is_not(None),
            PayOrder.paid_at < PayOrder.created_at,
        )
        .with_for_update()
    ).all()


def order_for_update(session: Session, order_id: int) -> PayOrder | None:
    return session.scalars(
        select(PayOrder).where(PayOrder.id == order_id).with_for_update()
    ).first()


def order_by_out_trade_no_for_update(
    session: Session, merchant_id: int, out_trade_no: str
) -> PayOrder | None:
    return session.scalars(
        select(PayOrder)
        .where(PayOrder.merchant_id == merchant_id, PayOrder.out_trade_no == out_trade_no)
        .with_for_update()
    ).first()


def orders_for_update(session: Session, order_ids: Sequence[int]) -> dict[int, PayOrder]:
    """The orders by id, locked in id order (two batches cannot deadlock)."""
    return {
        o.id: o
        for o in session.scalars(
            select(PayOrder)
            .where(PayOrder.id.in_(order_ids))
            .order_by(PayOrder.id)
            .with_for_update()
        )
    }


def pending_orders_due(
    session: Session, now: datetime, quiet_since: datetime, limit: int
) -> list[int]:
    """Pending orders expired by `now`, or not updated since `quiet_since`, oldest first."""
    query = (
        select(PayOrder.id)
        .where(
            PayOrder.status == OrderStatus.pending,
            (PayOrder.time_expire <= now) | (PayOrder.updated_at <= quiet_since),
        )
        .order_by(PayOrder.updated_at)
        .limit(limit)
    )
    return list(session.scalars(query))


def paid_amounts(
    session: Session, merchant_id: int, start: datetime, end: datetime
) -> dict[str, int]:
    """{out_trade_no: fen} of the merchant's orders paid in [start, end)."""
    return dict(
        session.execute(
            select(PayOrder.out_trade_no, PayOrder.amount).where(
                PayOrder.merchant_id == merchant_id,
                PayOrder.status == OrderStatus.paid,
                PayOrder.paid_at >= start,
                PayOrder.paid_at < end,
            )
        ).all()
    )


# --- refunds -----------------------------------------------------------------------------


def refund_room_taken(
    session: Session, order_ids: Sequence[int], statuses: Sequence[RefundStatus]
) -> dict[int, tuple[int, int]]:
    """For each order, (how many refunds, fen in total) among refunds in `statuses`."""
    return {
        order_id: (int(count), int(total))
        for order_id, count, total in session.execute(
            select(PayRefund.order_id, func.count(), func.coalesce(func.sum(PayRefund.amount), 0))
            .where(PayRefund.order_id.in_(order_ids), PayRefund.status.in_(statuses))
            .group_by(PayRefund.order_id)
        )
    }


def get_refund_by_key(session: Session, order_id: int, key: str) -> PayRefund | None:
    """The refund of this order asked with this Idempotency-Key, if any."""
    return session.scalar(
        select(PayRefund).where(PayRefund.order_id == order_id, PayRefund.idempotency_key == key)
    )


def add_refunds(session: Session, rows: list[dict[str, Any]]) -> list[PayRefund]:
    """Insert the refunds (one statement); the rows back in the order given."""
    return list(
        session.scalars(insert(PayRefund).returning(PayRefund, sort_by_parameter_order=True), rows)
    )


def list_refunds(
    session: Session,
    workspace_id: int,
    *,
    order_ids: Sequence[int] | None,
    statuses: Sequence[RefundStatus] | None,
    limit: int,
) -> list[PayRefund]:
    """Refunds, newest first."""
    query = select(PayRefund).where(PayRefund.workspace_id == workspace_id)
    if order_ids is not None:
        query = query.where(PayRefund.order_id.in_(order_ids))
    if statuses is not None:
        query = query.where(PayRefund.status.in_(statuses))
    query = query.order_by(PayRefund.created_at.desc(), PayRefund.id.desc()).limit(limit)
    return list(session.scalars(query))


def get_refunds(session: Session, refund_ids: Sequence[int]) -> list[PayRefund]:
    ids = list(refund_ids)
    found: list[PayRefund] = []
    for start in range(0, len(ids), ID_CHUNK):
        found += session.scalars(
            select(PayRefund).where(PayRefund.id.in_(ids[start : start + ID_CHUNK]))
        )
    return found


def refund_for_update(session: Session, refund_id: int) -> PayRefund | None:
    return session.scalars(
        select(PayRefund).where(PayRefund.id == refund_id).with_for_update()
    ).first()


def refund_by_number_for_update(
    session: Session, merchant_id: int, out_refund_no: str
) -> PayRefund | None:
    return session.scalars(
        select(PayRefund)
        .where(PayRefund.merchant_id == merchant_id, PayRefund.out_refund_no == out_refund_no)
        .with_for_update()
    ).first()


def order_of_refund_for_update(session: Session, order_id: int) -> PayOrder:
    """A refund's order, locked (it exists: refunds refer to it)."""
    return session.scalars(select(PayOrder).where(PayOrder.id == order_id).with_for_update()).one()


@dataclass(frozen=True)
class ClaimedRefund:
    """A pending refund a runner now holds, with what its call needs from its order."""

    id: int
    workspace_id: int
    merchant_id: int
    out_refund_no: str
    amount: int
    reason: str
    attempts: int
    order_id: int
    out_trade_no: str
    total: int
    app_id: int
    reference: str


def claim_refunds(
    session: Session,
    refund_ids: Sequence[int],
    now: datetime,
    until: datetime,
    *,
    due_only: bool,
) -> list[ClaimedRefund]:
    """Hold the pending refunds among `refund_ids` that no other runner holds (and, with
    `due_only`, whose next try is due) until `until`: rows another transaction is claiming
    are skipped, not waited for (PostgreSQL's SKIP LOCKED; SQLite's writers take turns)."""
    claimable = [
        PayRefund.status == RefundStatus.pending,
        or_(PayRefund.claimed_until.is_(None), PayRefund.claimed_until <= now),
    ]
    if due_only:
        claimable.append(or_(PayRefund.next_attempt_at.is_(None), PayRefund.next_attempt_at <= now))
    found: list[ClaimedRefund] = []
    ids = sorted(set(refund_ids))
    for start in range(0, len(ids), ID_CHUNK):
        rows = session.execute(
            select(
                PayRefund.id,
                PayRefund.workspace_id,
                PayRefund.merchant_id,
                PayRefund.out_refund_no,
                PayRefund.amount,
                PayRefund.reason,
                PayRefund.attempts,
                PayOrder.id,
                PayOrder.out_trade_no,
                PayOrder.amount,
                PayOrder.app_id,
                PayOrder.reference,
            )
            .join(PayOrder, PayOrder.id == PayRefund.order_id)
            .where(PayRefund.id.in_(ids[start : start + ID_CHUNK]), *claimable)
            .order_by(PayRefund.id)
            .with_for_update(of=PayRefund, skip_locked=True)
        ).all()
        found += [ClaimedRefund(*cast(tuple[Any, ...], row)) for row in rows]
    claimed = [row.id for row in found]
    for start in range(0, len(claimed), ID_CHUNK):
        session.execute(
            update(PayRefund)
            .where(PayRefund.id.in_(claimed[start : start + ID_CHUNK]))
            .values(claimed_until=until)
            .execution_options(synchronize_session=False)
        )
    return found


_REFUNDS = cast(Table, PayRefund.__table__)
# One statement per batch for each common outcome; `status = pending` keeps an outcome that a
# notification or a query applied meanwhile (the runner's answer is then older news).
_ACCEPTED = (
    update(_REFUNDS)
    .where(_REFUNDS.c.id == bindparam("b_id"), _REFUNDS.c.status == RefundStatus.pending)
    .values(
        status=RefundStatus.processing,
        refund_id=bindparam("b_refund_id"),
        attempts=_REFUNDS.c.attempts + 1,
        next_attempt_at=None,
        claimed_until=None,
        updated_at=bindparam("b_now"),
    )
)
_RETRY = (
    update(_REFUNDS)
    .where(_REFUNDS.c.id == bindparam("b_id"), _REFUNDS.c.status == RefundStatus.pending)
    .values(
        attempts=_REFUNDS.c.attempts + 1,
        last_error=bindparam("b_error"),
        next_attempt_at=bindparam("b_next"),
        claimed_until=None,
        updated_at=bindparam("b_now"),
    )
)


def mark_refunds_accepted(session: Session, rows: Sequence[dict[str, Any]]) -> None:
    """WeChat accepted these refunds (PROCESSING): rows of b_id, b_refund_id, b_now."""
    if rows:
        session.execute(_ACCEPTED, list(rows))


def mark_refunds_retry(session: Session, rows: Sequence[dict[str, Any]]) -> None:
    """These refunds' calls failed for now: rows of b_id, b_error, b_next, b_now."""
    if rows:
        session.execute(_RETRY, list(rows))


def release_refunds(session: Session, refund_ids: Sequence[int]) -> None:
    """Let go of claimed refunds whose calls were not made."""
    ids = list(refund_ids)
    for start in range(0, len(ids), ID_CHUNK):
        session.execute(
            update(PayRefund)
            .where(PayRefund.id.in_(ids[start : start + ID_CHUNK]))
            .values(claimed_until=None)
            .execution_options(synchronize_session=False)
        )


def refunds_due(session: Session, now: datetime, limit: int) -> list[int]:
    """Refunds not accepted yet whose next try is due, soonest first."""
    return list(
        session.scalars(
            select(PayRefund.id)
            .where(PayRefund.status == RefundStatus.pending, PayRefund.next_attempt_at <= now)
            .order_by(PayRefund.next_attempt_at)
            .limit(limit)
        )
    )


def refunds_processing_since(
    session: Session, before: datetime, limit: int
) -> list[tuple[int, str]]:
    """Accepted refunds not updated since `before`: (refund id, out_refund_no), oldest first."""
    rows = session.execute(
        select(PayRefund.id, PayRefund.out_refund_no)
        .where(PayRefund.status == RefundStatus.processing, PayRefund.updated_at <= before)
        .order_by(PayRefund.updated_at)
        .limit(limit)
    )
    return [(rid, no) for rid, no in rows]


def refunded_amounts(
    session: Session, merchant_id: int, start: datetime, end: datetime
) -> dict[str, int]:
    """{out_refund_no: fen} of the merchant's refunds that succeeded in [start, end)."""
    return dict(
        session.execute(
            select(PayRefund.out_refund_no, PayRefund.amount).where(
                PayRefund.merchant_id == merchant_id,
                PayRefund.status == RefundStatus.succeeded,
                PayRefund.succeeded_at >= start,
                PayRefund.succeeded_at < end,
            )
        ).all()
    )


def refund_states(session: Session, refund_ids: Sequence[int]) -> dict[int, tuple[str, str | None]]:
    """Each refund's state and last error, by id."""
    found: dict[int, tuple[str, str | None]] = {}
    ids = list(refund_ids)
    for start in range(0, len(ids), ID_CHUNK):
        rows = session.execute(
            select(PayRefund.id, PayRefund.status, PayRefund.last_error).where(
                PayRefund.id.in_(ids[start : start + ID_CHUNK])
            )
        )
        found.update({rid: (str(status), error) for rid, status, error in rows})
    return found


# --- refused notifications and reconciliations ---------------------------------------------


def list_refused(session: Session, workspace_id: int, limit: int) -> list[PayNotificationLog]:
    """Refused notifications of this workspace's merchants (and of unknown merchants)."""
    mine = select(PayMerchant.id).where(PayMerchant.workspace_id == workspace_id)
    query = (
        select(PayNotificationLog)
        .where(PayNotificationLog.merchant_id.in_(mine) | PayNotificationLog.merchant_id.is_(None))
        .order_by(PayNotificationLog.received_at.desc(), PayNotificationLog.id.desc())
        .limit(limit)
    )
    return list(session.scalars(query))


def get_reconciliation(session: Session, merchant_id: int, day: date) -> PayReconciliation | None:
    return session.scalar(
        select(PayReconciliation).where(
            PayReconciliation.merchant_id == merchant_id, PayReconciliation.bill_date == day
        )
    )


def list_reconciliations(
    session: Session, workspace_id: int, limit: int
) -> list[PayReconciliation]:
    """The workspace's merchants' reconciliations, latest day first."""
    mine = select(PayMerchant.id).where(PayMerchant.workspace_id == workspace_id)
    query = (
        select(PayReconciliation)
        .where(PayReconciliation.merchant_id.in_(mine))
        .order_by(PayReconciliation.bill_date.desc())
        .limit(limit)
    )
    return list(session.scalars(query))


def count_refunds_sent_since(session: Session, since: datetime) -> int:
    """Refunds WeChat Pay accepted or settled since `since` (throughput, for operators)."""
    return int(
        session.scalar(
            select(func.count())
            .select_from(PayRefund)
            .where(
                PayRefund.status != RefundStatus.pending,
                PayRefund.updated_at >= since,
            )
        )
        or 0
    )
