"""Audience's operations; each topic is a module, re-exported here."""

from __future__ import annotations

from siyu.audience.service.lifecycle import (
    TIER_CHANGED,
    compute_tiers,
    get_tier_policy,
    member_tier,
    member_tier_moves,
    member_tier_of,
    on_activities,
    on_activity,
    set_tier_policy,
    tier_counts,
    tier_flows,
    tier_member_ids,
)
from siyu.audience.service.rfm import (
    compute_rfm,
    member_rfm,
    member_rfm_of,
    rfm_cell_counts,
    rfm_member_ids,
)

__all__: list[str] = [
    "TIER_CHANGED",
    "compute_rfm",
    "compute_tiers",
    "get_tier_policy",
    "member_rfm",
    "member_rfm_of",
    "member_tier",
    "member_tier_moves",
    "member_tier_of",
    "on_activities",
    "on_activity",
    "rfm_cell_counts",
    "rfm_member_ids",
    "set_tier_policy",
    "tier_counts",
    "tier_flows",
    "tier_member_ids",
]
