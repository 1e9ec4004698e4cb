"""Who reach can reach now, as SQL: selectables of member ids from the ledger and the subscribe
credits, for queries that nest them (`member.id IN (…)`, audience's segments). Read-only."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Select, select

from siyu.reach import policy as policies
from siyu.reach.models import ReachCredit, ReachLedger


def follower_ids(workspace_id: int, app_id: int | None = None) -> Select[Any]:
    """Members following the Official Account `app_id` now (any of the workspace's without)."""
    query = select(ReachLedger.member_id).where(
        ReachLedger.workspace_id == workspace_id, ReachLedger.following.is_(True)
    )
    return query if app_id is None else query.where(ReachLedger.app_id == app_id)


def window_open_ids(workspace_id: int, now: datetime, app_id: int | None = None) -> Select[Any]:
    """Members whose customer-service window is open at `now` with a message left: as `decide`
    judges it (48 hours less the margin, at most WINDOW_QUOTA messages)."""
    query = select(ReachLedger.member_id).where(
        ReachLedger.workspace_id == workspace_id,
        ReachLedger.window_opened_at > now - policies.WINDOW + policies.WINDOW_MARGIN,
        ReachLedger.window_used < policies.WINDOW_QUOTA,
    )
    return query if app_id is None else query.where(ReachLedger.app_id == app_id)


def credit_ids(template_id: str, app_id: int | None = None) -> Select[Any]:
    """Members holding at least one unused one-time subscribe credit for `template_id` (the
    credit rows name no workspace: the caller narrows to its members)."""
    query = select(ReachCredit.member_id).where(
        ReachCredit.template_id == template_id, ReachCredit.granted > ReachCredit.used
    )
    return query if app_id is None else query.where(ReachCredit.app_id == app_id)
