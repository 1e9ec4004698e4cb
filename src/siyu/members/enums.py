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
