"""Audience's staff API."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Query

from siyu.audience import service
from siyu.audience.schemas import (
    MemberRfmRead,
    MemberTierRead,
    TierCountsRead,
    TierFlowRead,
    TierPolicyIn,
    TierPolicyRead,
)
from siyu.core import clock
from siyu.core.http import DatabaseDep
from siyu.core.params import Number
from siyu.security.auth import require
from siyu.security.enums import Permission
from siyu.security.schemas import Principal

router = APIRouter(prefix="/api/audience", tags=["audience"])

# --- lifecycle tiers and RFM ------------------------------------------------------------------

MemberReader = Annotated[Principal, require(Permission.members_read)]
FigureReader = Annotated[Principal, require(Permission.analytics_read)]
TierManager = Annotated[Principal, require(Permission.audience_manage)]
Days = Annotated[int, Query(ge=1, le=366)]


@router.get("/members/{number}/tier")
def member_tier(number: Number, principal: MemberReader, db: DatabaseDep) -> MemberTierRead:
    """The member's lifecycle tier (new, active, dormant, churned, returning) and since when."""
    with db.session_scope() as session:
        return service.member_tier(session, principal, number)


@router.get("/members/{number}/rfm")
def member_rfm(number: Number, principal: MemberReader, db: DatabaseDep) -> MemberRfmRead:
    """The member's RFM figures, 1–5 scores and cell (`buyer: false` if they never paid)."""
    with db.session_scope() as session:
        return service.member_rfm(session, principal, number)


@router.get("/tiers/counts")
def tier_counts(principal: FigureReader, db: DatabaseDep, days: Days = 90) -> TierCountsRead:
    """Members per tier at each day's computation over the last `days` days."""
    with db.session_scope() as session:
        return service.tier_counts(session, principal.workspace_id, days)


@router.get("/tiers/flows")
def tier_flows(principal: FigureReader, db: DatabaseDep, days: Days = 30) -> list[TierFlowRead]:
    """Moves between tiers over the last `days` days (30: last month), most frequent first."""
    now = clock.now()
    with db.session_scope() as session:
        return service.tier_flows(session, principal.workspace_id, now - timedelta(days=days), now)


@router.get("/tiers/policy")
def get_tier_policy(principal: FigureReader, db: DatabaseDep) -> TierPolicyRead:
    with db.session_scope() as session:
        return service.get_tier_policy(session, principal.workspace_id)


@router.put("/tiers/policy")
def set_tier_policy(body: TierPolicyIn, principal: TierManager, db: DatabaseDep) -> TierPolicyRead:
    """Store the thresholds; the tiers are recomputed by them in the background."""
    with db.session_scope() as session:
        return service.set_tier_policy(session, principal.workspace_id, body, principal)
