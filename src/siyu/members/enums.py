"""Members' enums that other domains may use."""

from __future__ import annotations

import enum


class CouponKind(enum.StrEnum):
    amount_off = "amount_off"  # 满减: `amount_off` fen off an order of at least `threshold`
    percent_off = "percent_off"  # `percent_off`% off, at most `cap` fen
    gift = "gift"  # a gift handed over at the till: nothing off the amount


class TemplateStatus(enum.StrEnum):
    active = "active"  # may be claimed and issued
    paused = "paused"  # issued coupons stay usable; no new ones
    ended = "ended"


class CouponSource(enum.StrEnum):
    mp = "mp"  # the member claimed it in the Mini Program
    oa = "oa"  # the member claimed it by a keyword or a menu button in the Official Account
    staff = "staff"
    new_member = "new_member"
    mall = "mall"  # exchanged for points


class CouponStatus(enum.StrEnum):
    available = "available"  # usable inside its validity (expired once past it)
    redeemed = "redeemed"


class CouponState(enum.StrEnum):
    """What a member sees: `available` split by the clock."""

    usable = "usable"
    not_started = "not_started"
    used = "used"
    expired = "expired"


class MallItemKind(enum.StrEnum):
    coupon = "coupon"
    gift = "gift"


class FulfilmentStatus(enum.StrEnum):
    pending = "pending"
    shipped = "shipped"


MEMBER_CLAIMS = (CouponSource.mp, CouponSource.oa)
"""The sources in which the member asked for the coupon themselves (the report's "claimed")."""
