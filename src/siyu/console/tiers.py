"""The console's 分层 page: members per lifecycle tier over time (a stacked chart), last
month's flows between tiers (a table and a Sankey chart), the RFM cells, and the workspace's
tier policy (editable by `audience.manage`)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import timedelta
from typing import Annotated, Any, ClassVar, Literal

from fastapi import APIRouter, Request
from pydantic import Field
from starlette.responses import RedirectResponse, Response

from siyu.audience import errors as audience_errors
from siyu.audience import service as audience
from siyu.audience.enums import RfmCell, Tier
from siyu.audience.schemas import TierCountsRead, TierFlowRead, TierPolicyIn
from siyu.console.forms import ConsoleForm, Posted, form_again, parse_form
from siyu.console.i18n import Translator
from siyu.console.web import ConsoleRoute, render, translator
from siyu.core import clock
from siyu.core.db import Database
from siyu.core.errors import ErrorCode, SiyuError
from siyu.core.http import DatabaseDep
from siyu.security.auth import require
from siyu.security.enums import Permission
from siyu.security.schemas import Principal

router = APIRouter(include_in_schema=False, route_class=ConsoleRoute)
Reader = Annotated[Principal, require(Permission.analytics_read)]
Manager = Annotated[Principal, require(Permission.audience_manage)]
COUNTS_DAYS = 90
FLOW_DAYS = 30  # "last month"
# One colour per tier, in the order of `Tier`: new, active, dormant, churned, returning.
TIER_COLOURS = ("#3370ff", "#07a35a", "#f5a623", "#9aa0a6", "#8e44ad")


def tiers_chart(tr: Translator, counts: TierCountsRead) -> dict[str, Any]:
    """The stacked bars of members per tier, day by day (a whole ECharts option)."""
    return {
        "option": {
            "color": list(TIER_COLOURS),
            "tooltip": {"trigger": "axis"},
            "legend": {"top": 0},
            "grid": {"left": 56, "right": 24, "top": 40, "bottom": 28},
            "xAxis": {"type": "category", "data": [d.isoformat() for d in counts.days]},
            "yAxis": {"type": "value", "minInterval": 1},
            "series": [
                {
                    "name": tr(f"tiers.tier.{s.tier.value}"),
                    "type": "bar",
                    "stack": "tiers",
                    "barMaxWidth": 24,
                    "data": s.counts,
                }
                for s in counts.series
            ],
        }
    }


def flows_chart(tr: Translator, flows: Sequence[TierFlowRead]) -> dict[str, Any]:
    """Last month's moves as a Sankey chart: tiers before on the left, after on the right
    (two nodes per tier, so that moves back and forth draw no cycle)."""
    nodes: dict[str, None] = {}
    links = []
    for flow in flows:
        source = (
            tr("tiers.flow.first")
            if flow.from_tier is None
            else tr("tiers.flow.before", tier=tr(f"tiers.tier.{flow.from_tier.value}"))
        )
        target = tr("tiers.flow.after", tier=tr(f"tiers.tier.{flow.to_tier.value}"))
        nodes[source] = nodes[target] = None
        links.append({"source": source, "target": target, "value": flow.members})
    return {
        "option": {
            "tooltip": {"trigger": "item"},
            "series": [
                {
                    "type": "sankey",
                    "left": 8,
                    "right": 96,
                    "emphasis": {"focus": "adjacency"},
                    "data": [{"name": n} for n in nodes],
                    "links": links,
                }
            ],
        }
    }


class TierPolicyForm(ConsoleForm):
    labels: ClassVar[Mapping[str, str]] = {
        "new_days": "tiers.policy.new_days",
        "dormant_days": "tiers.policy.dormant_days",
        "churn_days": "tiers.policy.churn_days",
        "returning_days": "tiers.policy.returning_days",
        "churn_on_unfollow": "tiers.policy.churn_on_unfollow",
        "rfm_high_score": "tiers.policy.rfm_high_score",
    }
    refused_as: ClassVar[ErrorCode] = audience_errors.INVALID_TIER_POLICY

    new_days: int = Field(default=7, ge=1, le=365)
    dormant_days: int = Field(default=30, ge=2, le=3650)
    churn_days: int = Field(default=90, ge=3, le=3650)
    returning_days: int = Field(default=30, ge=1, le=365)
    churn_on_unfollow: Literal["1", "0"] = "1"
    rfm_high_score: int = Field(default=3, ge=2, le=5)

    def to_policy(self, tr: Translator) -> TierPolicyIn:
        return self.build(
            TierPolicyIn,
            tr,
            new_days=self.new_days,
            dormant_days=self.dormant_days,
            churn_days=self.churn_days,
            returning_days=self.returning_days,
            churn_on_unfollow=self.churn_on_unfollow == "1",
            rfm_high_score=self.rfm_high_score,
        )


def _context(request: Request, db: Database, principal: Principal) -> dict[str, Any]:
    tr = translator(request)
    now = clock.now()
    with db.session_scope() as session:
        counts = audience.tier_counts(session, principal.workspace_id, COUNTS_DAYS)
        flows = audience.tier_flows(
            session, principal.workspace_id, now - timedelta(days=FLOW_DAYS), now
        )
        policy = audience.get_tier_policy(session, principal.workspace_id)
        cells = audience.rfm_cell_counts(session, principal.workspace_id)
    latest = {s.tier: (s.counts[-1] if s.counts else 0) for s in counts.series}
    return {
        "active": "tiers",
        "counts": counts,
        "latest": latest,
        "tiers": list(Tier),
        "chart": tiers_chart(tr, counts),
        "flows": flows,
        "flows_chart": flows_chart(tr, flows),
        "flow_days": FLOW_DAYS,
        "policy": policy,
        "cells": [(cell, cells.get(cell, 0)) for cell in RfmCell],
        "buyers": sum(cells.values()),
        "form": {},
        "errors": {},
        "form_error": None,
    }


@router.get("/tiers")
def tiers_page(request: Request, principal: Reader, db: DatabaseDep) -> Response:
    return render(request, "tiers.html", _context(request, db, principal))


@router.post("/tiers/policy")
def set_policy(request: Request, principal: Manager, db: DatabaseDep, posted: Posted) -> Response:
    tr = translator(request)
    try:
        policy = parse_form(posted, TierPolicyForm, tr).to_policy(tr)
        with db.session_scope() as session:
            audience.set_tier_policy(session, principal.workspace_id, policy, principal)
    except SiyuError as exc:
        return form_again(
            request,
            exc,
            _context(request, db, principal),
            form=TierPolicyForm,
            sent=posted,
            page="tiers.html",
            fragment="tiers.html",
        )
    return RedirectResponse("/tiers", status_code=303)
