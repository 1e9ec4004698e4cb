"""Members' tables. Points: a ledger of entries (each with a unique source key), the lots that
earning made (spent and expired first-to-expire-first), one account per member holding the
balance (never negative: spends are `UPDATE … WHERE balance >= n`), and per-day tallies for the
rules' caps. Sign-ins, one per member and Beijing day. Levels and the workspace's policy."""

from __future__ import annotations

import enum
from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    CheckConstraint,
    Enum,
    ForeignKey,
    Index,
    String,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from siyu.core.crypto import EncryptedText
from siyu.core.db import Base, BigId, IdPK
from siyu.core.privacy import Erasure
from siyu.members.enums import (
    CouponKind,
    CouponSource,
    CouponStatus,
    EarnTrigger,
    EntryKind,
    ExpiryMode,
    FulfilmentStatus,
    MallItemKind,
    TemplateStatus,
)


def _enum(cls: type[enum.StrEnum]) -> Enum:
    return Enum(cls, native_enum=False, length=32, validate_strings=True)


class PointsPolicy(Base):
    """A workspace's settings for points, sign-in and levels (one row, made on first use)."""

    __tablename__ = "points_policies"
    __erasure__ = Erasure.none("workspace settings, no member's data")

    workspace_id: Mapped[int] = mapped_column(BigId, ForeignKey("workspaces.id"), primary_key=True)
    expiry_mode: Mapped[ExpiryMode] = mapped_column(_enum(ExpiryMode))
    expiry_months: Mapped[int]
    expiry_fixed_day: Mapped[str | None] = mapped_column(String(5))  # "MM-DD", Beijing
    reminder_days: Mapped[int]
    reminder_template: Mapped[str | None] = mapped_column(String(64))
    signin_points: Mapped[int]
    streak_bonuses: Mapped[dict[str, Any]]  # {"7": 20}: day of the streak → bonus points
    level_period_months: Mapped[int]  # 1, 3, 6 or 12: calendar periods, Beijing
    level_notice_days: Mapped[int]
    level_notice_template: Mapped[str | None] = mapped_column(String(64))
    updated_at: Mapped[datetime]


class PointsRule(Base):
    __tablename__ = "points_rules"
    __erasure__ = Erasure.none("earning rules, no member's data")
    __table_args__ = (UniqueConstraint("workspace_id", "trigger"),)

    id: Mapped[IdPK]
    workspace_id: Mapped[int] = mapped_column(BigId, ForeignKey("workspaces.id"))
    trigger: Mapped[EarnTrigger] = mapped_column(_enum(EarnTrigger))
    points: Mapped[int]  # per event, or per yuan for payments
    growth: Mapped[int]  # growth value (成长值), the same way
    daily_cap: Mapped[int | None]  # points a member may earn by this rule per Beijing day
    member_cap: Mapped[int | None]  # points a member may earn by this rule in all
    active: Mapped[bool]
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class PointsAccount(Base):
    __tablename__ = "points_accounts"
    __erasure__ = Erasure.keep(member=("member_id",), reason="balances by member id")
    __table_args__ = (
        CheckConstraint("balance >= 0", name="balance"),
        Index("ix_points_accounts_workspace_level", "workspace_id", "level_rank"),
    )

    id: Mapped[IdPK]
    workspace_id: Mapped[int] = mapped_column(BigId, ForeignKey("workspaces.id"))
    member_id: Mapped[int] = mapped_column(BigId, ForeignKey("members.id"), unique=True)
    balance: Mapped[int]
    earned: Mapped[int]  # lifetime points earned (after clawbacks)
    growth: Mapped[int]  # lifetime growth value
    period_growth: Mapped[int]  # growth value of the current level period
    period_start: Mapped[date]  # the first day of the period period_growth counts
    level_rank: Mapped[int]  # 0 = no level
    level_changed_at: Mapped[datetime | None]
    updated_at: Mapped[datetime]


class PointsEntry(Base):
    __tablename__ = "points_entries"
    __erasure__ = Erasure.keep(member=("member_id",), reason="a ledger of amounts by member id")
    __table_args__ = (
        UniqueConstraint("workspace_id", "source_key"),
        Index("ix_points_entries_member", "member_id", "id"),
        Index("ix_points_entries_workspace", "workspace_id", "id"),
    )

    id: Mapped[IdPK]
    workspace_id: Mapped[int] = mapped_column(BigId, ForeignKey("workspaces.id"))
    member_id: Mapped[int] = mapped_column(BigId, ForeignKey("members.id"))
    kind: Mapped[EntryKind] = mapped_column(_enum(EntryKind))
    amount: Mapped[int]  # signed: what the balance moved
    growth: Mapped[int]  # signed: what growth value moved
    trigger: Mapped[str | None] = mapped_column(String(32))
    source_key: Mapped[str] = mapped_column(String(128))
    related_key: Mapped[str | None] = mapped_column(String(128))  # clawback → the earn it undoes
    shortfall: Mapped[int]  # points a clawback could not take (the balance was short)
    reason: Mapped[str | None] = mapped_column(String(200))
    actor: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime]


class PointsLot(Base):
    __tablename__ = "points_lots"
    __erasure__ = Erasure.keep(member=("member_id",), reason="amounts by member id")
    __table_args__ = (
        Index("ix_points_lots_member", "member_id", "expires_at"),
        # Only lots still holding points: the nightly expiry never walks past spent ones.
        Index(
            "ix_points_lots_open",
            "expires_at",
            postgresql_where=text("remaining > 0"),
            sqlite_where=text("remaining > 0"),
        ),
    )

    id: Mapped[IdPK]
    workspace_id: Mapped[int] = mapped_column(BigId, ForeignKey("workspaces.id"))
    member_id: Mapped[int] = mapped_column(BigId, ForeignKey("members.id"))
    entry_id: Mapped[int] = mapped_column(BigId, ForeignKey("points_entries.id"))
    amount: Mapped[int]
    remaining: Mapped[int]
    earned_at: Mapped[datetime]
    expires_at: Mapped[datetime | None]
    reminded_at: Mapped[datetime | None]


class PointsTally(Base):
    """Points a member earned by one trigger on one Beijing day: the rules' caps read these."""

    __tablename__ = "points_tallies"
    __erasure__ = Erasure.keep(member=("member_id",), reason="counts by member id")
    __table_args__ = (UniqueConstraint("member_id", "trigger", "day"),)

    id: Mapped[IdPK]
    member_id: Mapped[int] = mapped_column(BigId, ForeignKey("members.id"))
    trigger: Mapped[str] = mapped_column(String(32))
    day: Mapped[date]
    points: Mapped[int]


class Signin(Base):
    __tablename__ = "signins"
    __erasure__ = Erasure.keep(member=("member_id",), reason="days and counts by member id")
    __table_args__ = (UniqueConstraint("member_id", "day"),)

    id: Mapped[IdPK]
    workspace_id: Mapped[int] = mapped_column(BigId, ForeignKey("workspaces.id"))
    member_id: Mapped[int] = mapped_column(BigId, ForeignKey("members.id"))
    day: Mapped[date]  # Beijing
    streak: Mapped[int]
    points: Mapped[int]
    channel: Mapped[str] = mapped_column(String(8))  # mp | oa
    created_at: Mapped[datetime]


class MemberLevel(Base):
    __tablename__ = "member_levels"
    __erasure__ = Erasure.none("level definitions, no member's data")
    __table_args__ = (UniqueConstraint("workspace_id", "rank"),)

    id: Mapped[IdPK]
    workspace_id: Mapped[int] = mapped_column(BigId, ForeignKey("workspaces.id"))
    rank: Mapped[int]  # 1, 2, 3…: higher is better
    name: Mapped[str] = mapped_column(String(32))
    threshold: Mapped[int]  # growth value of a period that reaches (and keeps) the level
    multiplier: Mapped[int]  # percent applied to points earned by rules (100 = ×1)
    member_only: Mapped[bool]  # unlocks member-only content
    coupon_pack: Mapped[str | None] = mapped_column(String(64))  # given on upgrade (coupons)
    created_at: Mapped[datetime]


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
