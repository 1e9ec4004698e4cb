"""Analytics's staff API: the operations index, funnels and retention, answered by the store.
The analyst role sees aggregates only (cells of fewer than 5 members blanked, no member lists).
"""

from __future__ import annotations

from datetime import date
from typing import Annotated

from fastapi import APIRouter, Query

from siyu.analytics import service
from siyu.analytics.schemas import (
    FunnelQuery,
    FunnelReport,
    IndexReport,
    RetentionQuery,
    RetentionReport,
)
from siyu.security.auth import require
from siyu.security.enums import Permission
from siyu.security.schemas import Principal

router = APIRouter(prefix="/api/analytics", tags=["analytics"])

Analyst = Annotated[Principal, require(Permission.analytics_read)]


@router.get("/index")
def operations_index(
    principal: Analyst,
    start: Annotated[date, Query(alias="from", description="first Beijing day")],
    end: Annotated[date, Query(alias="to", description="last Beijing day")],
) -> IndexReport:
    """运营指数: new members, DAU/WAU/MAU by app, dwell, menu clicks, article opens, active
    hours and periods, and the monitoring ratios; each metric's definition is in the answer."""
    return service.operations_index(
        service.store(), principal.workspace_id, start, end, actor=principal
    )


@router.post("/funnels")
def funnel(principal: Analyst, query: FunnelQuery) -> FunnelReport:
    """Members at each step of a funnel (2–20 steps) within the window from step 1."""
    return service.funnel(service.store(), principal.workspace_id, query, actor=principal)


@router.post("/retention")
def retention(principal: Analyst, query: RetentionQuery) -> RetentionReport:
    """Cohorts and how many of each came back, period by period."""
    return service.retention(service.store(), principal.workspace_id, query, actor=principal)
