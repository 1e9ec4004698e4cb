"""Members' enums that other domains may use."""

from __future__ import annotations

import enum


class ExpiryMode(enum.StrEnum):
    """How long earned points live: N months after the day they were earned, until a fixed
    day of the year (the next one after the day they were earned), or forever."""

    rolling = "rolling"
    fixed = "fixed"
    never = "never"


class EarnTrigger(enum.StrEnum):
    """What a points rule earns on (one rule per trigger and workspace)."""

    pay_paid = "pay_paid"  # per yuan paid (`OrderPaid`); taken back by its refunds
    oa_follow = "oa_follow"  # a first follow of the Official Account
    phone_bound = "phone_bound"  # binding a phone in the Mini Program
    checkin = "checkin"  # a community check-in accepted
    activity_completed = "activity_completed"  # a community activity completed
    signin = "signin"  # daily sign-in (the policy sets its points and streak bonuses)
    invite_qualified = "invite_qualified"  # an invitation whose invitee did the qualifying act


class EntryKind(enum.StrEnum):
    """A line of the points ledger."""

    earn = "earn"
    spend = "spend"
    expire = "expire"
    clawback = "clawback"  # a refund takes back what its payment earned
    adjust = "adjust"  # staff, with a reason (audited)


class LevelChange(enum.StrEnum):
    upgrade = "upgrade"
    requalify = "requalify"  # dropped one level at the end of a period


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
