"""Sales leads (线索): scoring, the pool and its claims, follow-ups and the pipeline, the
reclaim sweep, payments that win leads, and the report per salesperson."""

from __future__ import annotations

from siyu.audience.service.leads.scoring import (
    delete_rule,
    list_rules,
    member_score,
    on_events_recorded,
    save_rule,
    score_now,
    score_workspace,
    scored_workspaces,
    stale_workspaces,
)
from siyu.audience.service.leads.sweep import on_order_paid, sweep_workspace, swept_workspaces
from siyu.audience.service.leads.work import (
    assign_lead,
    claim_lead,
    get_lead,
    get_settings,
    list_leads,
    list_notices,
    move_lead,
    record_follow_up,
    sales_report,
    save_settings,
)

__all__ = [
    "assign_lead",
    "claim_lead",
    "delete_rule",
    "get_lead",
    "get_settings",
    "list_leads",
    "list_notices",
    "list_rules",
    "member_score",
    "move_lead",
    "on_events_recorded",
    "on_order_paid",
    "record_follow_up",
    "sales_report",
    "save_rule",
    "save_settings",
    "score_now",
    "score_workspace",
    "scored_workspaces",
    "stale_workspaces",
    "sweep_workspace",
    "swept_workspaces",
]
