"""Members' tables.

Coupons: a template (what the coupon is worth, how long it lives, how many exist and how many
one member may hold), the coupons issued from it, and their redemptions against orders. The
points mall: items with a points price and a stock, the exchanges, and the fulfilment of gifts
(the recipient's name, phone and address encrypted at rest). Money is integer fen.
"""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import Enum, ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from siyu.core.crypto import EncryptedText
from siyu.core.db import Base, BigId, IdPK
from siyu.core.privacy import Erasure
from siyu.members.enums import (
    CouponKind,
    CouponSource,
    CouponStatus,
    FulfilmentStatus,
    MallItemKind,
    TemplateStatus,
)


def _enum(cls: type[enum.StrEnum]) -> Enum:
    return Enum(cls, native_enum=False, length=32, validate_strings=True)


class CouponTemplate(Base):
    __tablename__ = "coupon_templates"
    __erasure__ = Erasure.none("campaign definitions, no member's data")
    __table_args__ = (UniqueConstraint("workspace_id", "name"),)

    id: Mapped[IdPK]
    workspace_id: Mapped[int] = mapped_column(BigId, ForeignKey("workspaces.id"))
    name: Mapped[str] = mapped_column(String(64))
    kind: Mapped[CouponKind] = mapped_column(_enum(CouponKind))
    threshold: Mapped[int] = mapped_column(default=0)  # fen: the least order it applies to
    amount_off: Mapped[int | None]  # fen (amount_off)
    percent_off: Mapped[int | None]  # 1-99 (percent_off)
    cap: Mapped[int | None]  # fen: the most a percent_off coupon takes off
    gift_name: Mapped[str | None] = mapped_column(String(64))
    # Validity: a window (valid_from..valid_until), or valid_days from the claim.
    valid_from: Mapped[datetime | None]
    valid_until: Mapped[datetime | None]
    valid_days: Mapped[int | None]
    stock: Mapped[int]
    # The stock is split over this many rows of `coupon_stock_buckets` (see there).
    stock_buckets: Mapped[int] = mapped_column(default=1)
    per_member_limit: Mapped[int] = mapped_column(default=1)
    status: Mapped[TemplateStatus] = mapped_column(_enum(TemplateStatus))
    mp_claimable: Mapped[bool] = mapped_column(default=True)
    oa_keyword: Mapped[str | None] = mapped_column(String(32))
    new_member_gift: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class CouponStockBucket(Base):
    """A share of a template's stock, taken by `UPDATE … SET issued = issued + 1 WHERE issued <
    stock` of one bucket. One row for the whole stock would serialise every claim of a template
    on its lock, held until the claim's commit is flushed to disk: on a loaded machine a few
    dozen claims a second (bench/coupons.py). Claims spread over the buckets hold different
    locks; the buckets' stocks add up to the template's, so exactly that many are issued."""

    __tablename__ = "coupon_stock_buckets"
    __erasure__ = Erasure.none("stock counters, no member's data")

    template_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("coupon_templates.id"), primary_key=True
    )
    bucket: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    stock: Mapped[int]
    issued: Mapped[int] = mapped_column(default=0)


class Coupon(Base):
    __tablename__ = "coupons"
    __erasure__ = Erasure.keep(
        member=("member_id",), reason="ids and amounts only: the template's report counts them"
    )
    __table_args__ = (
        # A member's nth coupon of a template exists once: the per-member limit holds by this
        # key under concurrent claims, never by a count checked before an insert.
        UniqueConstraint("template_id", "member_id", "nth"),
        UniqueConstraint("code"),
        # An issue by a named source (a push, a mall exchange) happens once.
        UniqueConstraint("template_id", "source_key"),
        Index("ix_coupons_member", "member_id", "status"),
    )

    id: Mapped[IdPK]
    workspace_id: Mapped[int] = mapped_column(BigId, ForeignKey("workspaces.id"))
    template_id: Mapped[int] = mapped_column(BigId, ForeignKey("coupon_templates.id"))
    member_id: Mapped[int] = mapped_column(BigId, ForeignKey("members.id"))
    nth: Mapped[int]
    code: Mapped[str] = mapped_column(String(24))
    source: Mapped[CouponSource] = mapped_column(_enum(CouponSource))
    source_key: Mapped[str | None] = mapped_column(String(128))
    status: Mapped[CouponStatus] = mapped_column(_enum(CouponStatus))
    claimed_at: Mapped[datetime]
    valid_from: Mapped[datetime]
    valid_until: Mapped[datetime]
    redeemed_at: Mapped[datetime | None]


class CouponRedemption(Base):
    __tablename__ = "coupon_redemptions"
    __erasure__ = Erasure.keep(
        member=("member_id",), reason="order ids and amounts: the template's report sums them"
    )
    # Idempotent by the order: the same order redeems once, and is answered the same again.
    __table_args__ = (UniqueConstraint("workspace_id", "order_id"),)

    id: Mapped[IdPK]
    workspace_id: Mapped[int] = mapped_column(BigId, ForeignKey("workspaces.id"))
    coupon_id: Mapped[int] = mapped_column(BigId, ForeignKey("coupons.id"), index=True)
    template_id: Mapped[int] = mapped_column(BigId, ForeignKey("coupon_templates.id"), index=True)
    member_id: Mapped[int] = mapped_column(BigId, ForeignKey("members.id"))
    order_id: Mapped[str] = mapped_column(String(64))
    amount: Mapped[int]  # fen: the order before the coupon
    discount: Mapped[int]  # fen taken off
    redeemed_at: Mapped[datetime]
    refunded_at: Mapped[datetime | None]
    coupon_returned: Mapped[bool] = mapped_column(default=False)


class MallItem(Base):
    __tablename__ = "mall_items"
    __erasure__ = Erasure.none("the catalogue, no member's data")
    __table_args__ = (UniqueConstraint("workspace_id", "name"),)

    id: Mapped[IdPK]
    workspace_id: Mapped[int] = mapped_column(BigId, ForeignKey("workspaces.id"))
    name: Mapped[str] = mapped_column(String(64))
    kind: Mapped[MallItemKind] = mapped_column(_enum(MallItemKind))
    template_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("coupon_templates.id"))
    points_price: Mapped[int]
    stock: Mapped[int]
    exchanged: Mapped[int] = mapped_column(default=0)
    active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime]


class MallExchange(Base):
    __tablename__ = "mall_exchanges"
    __erasure__ = Erasure.keep(member=("member_id",), reason="ids and points only")
    # A member's request is taken once (a double tap, a retry): its key is unique.
    __table_args__ = (UniqueConstraint("member_id", "request_key"),)

    id: Mapped[IdPK]
    workspace_id: Mapped[int] = mapped_column(BigId, ForeignKey("workspaces.id"))
    item_id: Mapped[int] = mapped_column(BigId, ForeignKey("mall_items.id"), index=True)
    member_id: Mapped[int] = mapped_column(BigId, ForeignKey("members.id"))
    request_key: Mapped[str] = mapped_column(String(64))
    points: Mapped[int]
    coupon_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("coupons.id"))
    created_at: Mapped[datetime]


class MallFulfilment(Base):
    """A gift to send: who receives it and where, encrypted like identity's profile fields."""

    __tablename__ = "mall_fulfilments"
    __erasure__ = Erasure.anonymize(
        member=("member_id",), scrub={"recipient": None, "phone": None, "address": None}
    )

    id: Mapped[IdPK]
    workspace_id: Mapped[int] = mapped_column(BigId, ForeignKey("workspaces.id"), index=True)
    exchange_id: Mapped[int] = mapped_column(BigId, ForeignKey("mall_exchanges.id"), unique=True)
    member_id: Mapped[int] = mapped_column(BigId, ForeignKey("members.id"))
    recipient: Mapped[str | None] = mapped_column(EncryptedText("mall_fulfilments.recipient"))
    phone: Mapped[str | None] = mapped_column(EncryptedText("mall_fulfilments.phone"))
    address: Mapped[str | None] = mapped_column(EncryptedText("mall_fulfilments.address"))
    status: Mapped[FulfilmentStatus] = mapped_column(_enum(FulfilmentStatus))
    tracking: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime]
    shipped_at: Mapped[datetime | None]
