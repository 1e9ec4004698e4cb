"""Audience's pydantic models in and out."""

from __future__ import annotations

from datetime import date, datetime

from pydantic import BaseModel, ConfigDict, Field

from siyu.audience.enums import RfmCell, Tier, TierCause

# --- lifecycle tiers and RFM ------------------------------------------------------------------


class TierPolicyIn(BaseModel):
    """A workspace's tier thresholds, in days, and the RFM split; the defaults are the
    policy of a workspace that never set one."""

    model_config = ConfigDict(extra="forbid")

    new_days: int = Field(default=7, ge=1, le=365, description="新客: joined at most this long ago")
    dormant_days: int = Field(
        default=30, ge=2, le=3650, description="沉睡: no activity for at least this long"
    )
    churn_days: int = Field(
        default=90, ge=3, le=3650, description="流失: no activity for longer than this"
    )
    returning_days: int = Field(
        default=30, ge=1, le=365, description="回流 lasts this long, then the member is 活跃"
    )
    churn_on_unfollow: bool = Field(
        default=True, description="流失 as well: unfollowed every OA and silent in the MP since"
    )
    rfm_high_score: int = Field(
        default=3, ge=2, le=5, description="an R, F or M score at least this is 高"
    )


class TierPolicyRead(TierPolicyIn):
    updated_at: datetime | None = None


class MemberTierRead(BaseModel):
    member_number: int
    tier: Tier
    since: datetime | None
    # False when the member has no stored tier yet (joined since the last computation): the
    # tier shown is computed for this answer and `since` is empty.
    stored: bool


class MemberRfmRead(BaseModel):
    member_number: int
    buyer: bool
    last_paid_at: datetime | None = None
    recency_days: int | None = None
    frequency: int = 0
    monetary: int = 0  # fen, paid minus refunded
    r: int | None = None
    f: int | None = None
    m: int | None = None
    cell: RfmCell | None = None
    computed_at: datetime | None = None


class TierSeries(BaseModel):
    tier: Tier
    counts: list[int]


class TierCountsRead(BaseModel):
    """Members per tier at the end of each day's computation (Beijing dates)."""

    days: list[date]
    series: list[TierSeries]


class TierFlowRead(BaseModel):
    """Moves from one tier to another in a period (`from_tier` empty: first tier given)."""

    from_tier: Tier | None
    to_tier: Tier
    members: int


class TierMoveRead(BaseModel):
    from_tier: Tier | None
    to_tier: Tier
    cause: TierCause
    changed_at: datetime


class TierRunReport(BaseModel):
    workspace_id: int
    members: int
    moved: int
    by_tier: dict[Tier, int]


class RfmRunReport(BaseModel):
    workspace_id: int
    buyers: int
    by_cell: dict[RfmCell, int]
