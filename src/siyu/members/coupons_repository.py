"""Coupons' and the points mall's queries: templates, coupons, redemptions, items, exchanges,
fulfilment. Stock is taken by conditional UPDATEs, never read and written back."""

from __future__ import annotations

import random
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import case, func, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from siyu.members.enums import CouponStatus, FulfilmentStatus, TemplateStatus
from siyu.members.models import (
    Coupon,
    CouponRedemption,
    CouponStockBucket,
    CouponTemplate,
    MallExchange,
    MallFulfilment,
    MallItem,
)

# --- templates -----------------------------------------------------------------------------


def add_template(session: Session, template: CouponTemplate) -> CouponTemplate:
    session.add(template)
    session.flush()
    return template


def get_template(session: Session, workspace_id: int, template_id: int) -> CouponTemplate | None:
    template = session.get(CouponTemplate, template_id)
    return template if template is not None and template.workspace_id == workspace_id else None


def get_template_by_name(session: Session, workspace_id: int, name: str) -> CouponTemplate | None:
    return session.scalar(
        select(CouponTemplate).where(
            CouponTemplate.workspace_id == workspace_id, CouponTemplate.name == name
        )
    )


def claim_keywords_among(
    session: Session, workspace_ids: Sequence[int], texts: Sequence[str]
) -> set[tuple[int, str]]:
    """Which of `texts` are a live template's claim keyword, by workspace (one read a batch)."""
    rows = session.execute(
        select(CouponTemplate.workspace_id, CouponTemplate.oa_keyword).where(
            CouponTemplate.workspace_id.in_(list(set(workspace_ids))),
            CouponTemplate.oa_keyword.in_(list(set(texts))),
            CouponTemplate.status != TemplateStatus.ended,
        )
    )
    return {(int(ws), str(keyword)) for ws, keyword in rows}


def get_template_by_keyword(
    session: Session, workspace_id: int, keyword: str
) -> CouponTemplate | None:
    return session.scalar(
        select(CouponTemplate)
        .where(
            CouponTemplate.workspace_id == workspace_id,
            CouponTemplate.oa_keyword == keyword,
            CouponTemplate.status != TemplateStatus.ended,
        )
        .order_by(CouponTemplate.id)
        .limit(1)
    )


def list_templates(
    session: Session,
    workspace_id: int,
    *,
    statuses: Sequence[TemplateStatus] | None = None,
    mp_claimable: bool | None = None,
    new_member_gift: bool | None = None,
) -> list[CouponTemplate]:
    query = select(CouponTemplate).where(CouponTemplate.workspace_id == workspace_id)
    if statuses is not None:
        query = query.where(CouponTemplate.status.in_(list(statuses)))
    if mp_claimable is not None:
        query = query.where(CouponTemplate.mp_claimable.is_(mp_claimable))
    if new_member_gift is not None:
        query = query.where(CouponTemplate.new_member_gift.is_(new_member_gift))
    return list(session.scalars(query.order_by(CouponTemplate.id)))


STOCK_BUCKETS = 64


def add_stock_buckets(session: Session, template_id: int, stock: int) -> int:
    """The template's stock split over buckets (as evenly as it goes); how many."""
    count = max(1, min(STOCK_BUCKETS, stock))
    share, extra = divmod(stock, count)
    session.execute(
        insert(CouponStockBucket),
        [
            {"template_id": template_id, "bucket": b, "stock": share + (b < extra), "issued": 0}
            for b in range(count)
        ],
    )
    return count


def _take_from_bucket(session: Session, template_id: int, bucket: int) -> bool:
    result = session.execute(
        update(CouponStockBucket)
        .where(
            CouponStockBucket.template_id == template_id,
            CouponStockBucket.bucket == bucket,
            CouponStockBucket.issued < CouponStockBucket.stock,
        )
        .values(issued=CouponStockBucket.issued + 1)
        .returning(CouponStockBucket.bucket)
    )
    return result.first() is not None


def take_template_stock(session: Session, template_id: int, buckets: int) -> bool:
    """One coupon off the template's stock, if any is left: from a bucket picked at random,
    else from any bucket with some left. Each try is one conditional UPDATE (its row locked
    until commit: callers take the stock last, after their inserts). Buckets only ever fill,
    so when none of those seen with some left gives one, none is left."""
    first = random.randrange(buckets)  # noqa: S311 - spreads the load, guards nothing
    if _take_from_bucket(session, template_id, first):
        return True
    left = session.scalars(
        select(CouponStockBucket.bucket).where(
            CouponStockBucket.template_id == template_id,
            CouponStockBucket.issued < CouponStockBucket.stock,
        )
    ).all()
    return any(_take_from_bucket(session, template_id, b) for b in random.sample(left, len(left)))


def issued_counts(session: Session, template_ids: Sequence[int]) -> dict[int, int]:
    rows = session.execute(
        select(CouponStockBucket.template_id, func.sum(CouponStockBucket.issued))
        .where(CouponStockBucket.template_id.in_(list(template_ids)))
        .group_by(CouponStockBucket.template_id)
    )
    return {int(t): int(n or 0) for t, n in rows}


# --- coupons -------------------------------------------------------------------------------


def _insert_ignoring_conflicts(session: Session) -> Any:
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        return postgresql.insert(Coupon).on_conflict_do_nothing()
    return sqlite.insert(Coupon).on_conflict_do_nothing()


def insert_coupon(session: Session, values: dict[str, Any]) -> int | None:
    """The new coupon's id, or None when one of its unique keys is taken (the member's nth
    coupon of the template, the code or the source key): the caller decides what that means.
    On PostgreSQL an insert that meets a concurrent one's uncommitted key waits for its
    outcome, so the answer is never a guess."""
    statement = _insert_ignoring_conflicts(session).values(**values).returning(Coupon.id)
    row = session.execute(statement).first()
    return None if row is None else int(row[0])


def count_member_coupons(session: Session, template_id: int, member_ids: Sequence[int]) -> int:
    return (
        session.scalar(
            select(func.count())
            .select_from(Coupon)
            .where(Coupon.template_id == template_id, Coupon.member_id.in_(list(member_ids)))
        )
        or 0
    )


def get_coupon(session: Session, coupon_id: int) -> Coupon | None:
    return session.get(Coupon, coupon_id)


def get_coupon_by_code(session: Session, workspace_id: int, code: str) -> Coupon | None:
    return session.scalar(
        select(Coupon).where(Coupon.code == code, Coupon.workspace_id == workspace_id)
    )


def get_coupon_by_source(session: Session, template_id: int, source_key: str) -> Coupon | None:
    return session.scalar(
        select(Coupon).where(Coupon.template_id == template_id, Coupon.source_key == source_key)
    )


def list_member_coupons(
    session: Session, member_ids: Sequence[int]
) -> list[tuple[Coupon, CouponTemplate]]:
    rows = session.execute(
        select(Coupon, CouponTemplate)
        .join(CouponTemplate, CouponTemplate.id == Coupon.template_id)
        .where(Coupon.member_id.in_(list(member_ids)))
        .order_by(Coupon.valid_until, Coupon.id)
    )
    return [(c, t) for c, t in rows]


def mark_coupon_redeemed(session: Session, coupon_id: int, now: datetime) -> bool:
    """Available → redeemed, once: of concurrent redemptions one row is updated."""
    result = session.execute(
        update(Coupon)
        .where(Coupon.id == coupon_id, Coupon.status == CouponStatus.available)
        .values(status=CouponStatus.redeemed, redeemed_at=now)
        .returning(Coupon.id)
    )
    return result.first() is not None


def return_coupon(session: Session, coupon_id: int) -> None:
    session.execute(
        update(Coupon)
        .where(Coupon.id == coupon_id)
        .values(status=CouponStatus.available, redeemed_at=None)
    )


# --- redemptions ---------------------------------------------------------------------------


def add_redemption(session: Session, redemption: CouponRedemption) -> CouponRedemption:
    session.add(redemption)
    session.flush()
    return redemption


def get_redemption_by_order(
    session: Session, workspace_id: int, order_id: str, *, for_update: bool = False
) -> CouponRedemption | None:
    query = select(CouponRedemption).where(
        CouponRedemption.workspace_id == workspace_id, CouponRedemption.order_id == order_id
    )
    if for_update:
        query = query.with_for_update()
    return session.scalar(query)


# --- the report ----------------------------------------------------------------------------


def count_coupons_by_state(
    session: Session, workspace_id: int, now: datetime, template_id: int | None = None
) -> list[tuple[int, str, int, int, int]]:
    """Per template and source: (template_id, source, issued, redeemed, expired)."""
    expired = case(
        (
            (Coupon.status == CouponStatus.available) & (Coupon.valid_until <= now),
            1,
        ),
        else_=0,
    )
    redeemed = case((Coupon.status == CouponStatus.redeemed, 1), else_=0)
    query = select(
        Coupon.template_id,
        Coupon.source,
        func.count(),
        func.coalesce(func.sum(redeemed), 0),
        func.coalesce(func.sum(expired), 0),
    ).where(Coupon.workspace_id == workspace_id)
    if template_id is not None:
        query = query.where(Coupon.template_id == template_id)
    rows = session.execute(query.group_by(Coupon.template_id, Coupon.source))
    return [(int(t), str(s), int(i), int(r), int(e)) for t, s, i, r, e in rows]


def sum_discounts(
    session: Session, workspace_id: int, template_id: int | None = None
) -> dict[int, int]:
    query = select(CouponRedemption.template_id, func.sum(CouponRedemption.discount)).where(
        CouponRedemption.workspace_id == workspace_id, CouponRedemption.refunded_at.is_(None)
    )
    if template_id is not None:
        query = query.where(CouponRedemption.template_id == template_id)
    rows = session.execute(query.group_by(CouponRedemption.template_id))
    return {int(t): int(s or 0) for t, s in rows}


# --- the points mall -----------------------------------------------------------------------


def add_item(session: Session, item: MallItem) -> MallItem:
    session.add(item)
    session.flush()
    return item


def get_item(session: Session, workspace_id: int, item_id: int) -> MallItem | None:
    item = session.get(MallItem, item_id)
    return item if item is not None and item.workspace_id == workspace_id else None


def get_item_by_name(session: Session, workspace_id: int, name: str) -> MallItem | None:
    return session.scalar(
        select(MallItem).where(MallItem.workspace_id == workspace_id, MallItem.name == name)
    )


def list_items(
    session: Session, workspace_id: int, *, active: bool | None = None
) -> list[MallItem]:
    query = select(MallItem).where(MallItem.workspace_id == workspace_id)
    if active is not None:
        query = query.where(MallItem.active.is_(active))
    return list(session.scalars(query.order_by(MallItem.id)))


def take_item_stock(session: Session, item_id: int) -> bool:
    result = session.execute(
        update(MallItem)
        .where(MallItem.id == item_id, MallItem.exchanged < MallItem.stock)
        .values(exchanged=MallItem.exchanged + 1)
        .returning(MallItem.id)
    )
    return result.first() is not None


def get_exchange_by_key(session: Session, member_id: int, request_key: str) -> MallExchange | None:
    return session.scalar(
        select(MallExchange).where(
            MallExchange.member_id == member_id, MallExchange.request_key == request_key
        )
    )


def insert_exchange(session: Session, values: dict[str, Any]) -> int:
    row = session.execute(insert(MallExchange).values(**values).returning(MallExchange.id)).one()
    return int(row[0])


def add_fulfilment(session: Session, fulfilment: MallFulfilment) -> MallFulfilment:
    session.add(fulfilment)
    session.flush()
    return fulfilment


def get_fulfilment(
    session: Session, workspace_id: int, fulfilment_id: int
) -> MallFulfilment | None:
    row = session.get(MallFulfilment, fulfilment_id)
    return row if row is not None and row.workspace_id == workspace_id else None


def get_fulfilment_of_exchange(session: Session, exchange_id: int) -> MallFulfilment | None:
    return session.scalar(select(MallFulfilment).where(MallFulfilment.exchange_id == exchange_id))


def list_fulfilments(
    session: Session, workspace_id: int, *, status: FulfilmentStatus | None = None, limit: int = 200
) -> list[tuple[MallFulfilment, str]]:
    query = (
        select(MallFulfilment, MallItem.name)
        .join(MallExchange, MallExchange.id == MallFulfilment.exchange_id)
        .join(MallItem, MallItem.id == MallExchange.item_id)
        .where(MallFulfilment.workspace_id == workspace_id)
    )
    if status is not None:
        query = query.where(MallFulfilment.status == status)
    rows = session.execute(query.order_by(MallFulfilment.id.desc()).limit(limit))
    return [(f, str(n)) for f, n in rows]


def item_name_of_exchange(session: Session, exchange_id: int) -> str:
    return str(
        session.scalar(
            select(MallItem.name)
            .join(MallExchange, MallExchange.item_id == MallItem.id)
            .where(MallExchange.id == exchange_id)
        )
    )


def ship_fulfilment(
    session: Session, fulfilment_id: int, tracking: str | None, now: datetime
) -> bool:
    result = session.execute(
        update(MallFulfilment)
        .where(
            MallFulfilment.id == fulfilment_id, MallFulfilment.status == FulfilmentStatus.pending
        )
        .values(status=FulfilmentStatus.shipped, tracking=tracking, shipped_at=now)
        .returning(MallFulfilment.id)
    )
    return result.first() is not None
