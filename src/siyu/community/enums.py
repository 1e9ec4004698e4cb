"""Community's public enums: states of activities, enrollments, check-ins, settlements and
groups, and the rules an activity is defined by. Other domains and the console use these."""

from __future__ import annotations

import enum


class ActivityStatus(enum.StrEnum):
    draft = "draft"  # being edited: nobody can enroll
    open = "open"  # enrollment open
    closed = "closed"  # enrollment closed; check-ins go on until the end
    settled = "settled"  # refunds decided and sent


class RefundRule(enum.StrEnum):
    full_at_n = "full_at_n"  # the whole deposit back at N accepted check-ins or more
    proportional = "proportional"  # deposit × min(check-ins, required) / required
    none = "none"
    table = "table"  # [{"min_days": n, "percent": p}, …]: the highest step reached


class Evidence(enum.StrEnum):
    text = "text"
    image = "image"
    either = "either"  # text or image (or both)
    both = "both"  # text and image


class EnrollmentStatus(enum.StrEnum):
    pending_payment = "pending_payment"
    waitlisted = "waitlisted"
    enrolled = "enrolled"
    completed = "completed"
    failed = "failed"
    refunded = "refunded"


class CheckinStatus(enum.StrEnum):
    accepted = "accepted"
    rejected = "rejected"


class SettlementStatus(enum.StrEnum):
    draft = "draft"  # computed, shown to staff; computing again replaces it
    confirmed = "confirmed"  # refunds requested through Pay: never again


class LineStatus(enum.StrEnum):
    no_refund = "no_refund"
    planned = "planned"
    requested = "requested"  # a Pay refund exists (its own state says how it went)


class GroupState(enum.StrEnum):
    active = "active"
    continuing = "continuing"  # kept after its activity for the next one
    archived = "archived"
    dissolved = "dissolved"


__all__ = [
    "ActivityStatus",
    "CheckinStatus",
    "EnrollmentStatus",
    "Evidence",
    "GroupState",
    "LineStatus",
    "RefundRule",
    "SettlementStatus",
]
