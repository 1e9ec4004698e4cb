"""What time and payments do to leads: reminders when a next follow-up date comes, a warning
to the owner a day before a lead without follow-up goes back to the pool, the reclaim itself
(a periodic job), and a lead won by a payment (a bus subscriber of `OrderPaid`)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session

from siyu.audience import leads_repository as repo
from siyu.audience.enums import LeadNoticeKind
from siyu.audience.models import Lead
from siyu.audience.schemas import SweepResult
from siyu.core import clock
from siyu.security import service as security
from siyu.wechat.pay import service as pay

WARN_BEFORE = timedelta(days=1)


def _notice(
    lead: Lead, operator_id: int, kind: LeadNoticeKind, due: datetime, now: datetime
) -> dict[str, Any]:
    return {
        "workspace_id": lead.workspace_id,
        "operator_id": operator_id,
        "lead_id": lead.id,
        "member_id": lead.member_id,
        "kind": kind,
        "due_at": due,
        "created_at": now,
    }


def sweep_workspace(session: Session, workspace_id: int) -> SweepResult:
    """Remind, warn and reclaim the workspace's owned open leads. A lead's clock is its last
    follow-up (or when it was given); after `reclaim_days` it goes back to the pool, and its
    owner was warned a day before. Each notice once (unique by lead, kind and due time)."""
    settings = repo.get_settings(session, workspace_id)
    if settings is None:
        return SweepResult(reminded=0, warned=0, reclaimed=0)
    now = clock.now()
    keep = timedelta(days=settings.reclaim_days)
    notices: list[dict[str, Any]] = []
    reminded = warned = 0
    reclaimed: list[tuple[int, int]] = []
    for lead in repo.owned_open_leads(session, workspace_id):
        owner = lead.owner_id
        assert owner is not None
        since = lead.last_follow_up_at or lead.assigned_at or lead.created_at
        deadline = since + keep
        if now >= deadline:
            notices.append(_notice(lead, owner, LeadNoticeKind.reclaimed, deadline, now))
            lead.owner_id = None
            lead.assigned_at = lead.warned_at = lead.reminded_at = lead.next_follow_up_at = None
            lead.updated_at = now
            reclaimed.append((lead.id, owner))
            continue
        if now >= deadline - WARN_BEFORE and lead.warned_at is None:
            notices.append(_notice(lead, owner, LeadNoticeKind.reclaim_warning, deadline, now))
            lead.warned_at = now
            warned += 1
        due = lead.next_follow_up_at
        if due is not None and due <= now and lead.reminded_at is None:
            notices.append(_notice(lead, owner, LeadNoticeKind.reminder, due, now))
            lead.reminded_at = now
            reminded += 1
    session.flush()
    repo.add_notices(session, notices)
    if reclaimed:
        security.record_audit(
            session,
            "system:audience",
            "audience.leads_reclaimed",
            workspace_id=workspace_id,
            target_type="workspace",
            target_id=workspace_id,
            detail={
                "reclaim_days": settings.reclaim_days,
                "leads": [{"lead_id": i, "owner_id": o} for i, o in reclaimed[:100]],
                "count": len(reclaimed),
            },
        )
    return SweepResult(reminded=reminded, warned=warned, reclaimed=len(reclaimed))


def swept_workspaces(session: Session) -> list[int]:
    return [s.workspace_id for s in repo.list_settings(session)]


def on_order_paid(session: Session, event: pay.OrderPaid) -> None:
    """A payment of what the policy names (a reference prefix, a minimum amount) wins the
    member's open lead, once: a lead already won stays as it was (the same payment notified
    twice, or a second payment)."""
    settings = repo.get_settings(session, event.workspace_id)
    if settings is None or event.amount < settings.won_min_amount:
        return
    prefixes = settings.won_references
    if prefixes and not any(event.reference.startswith(p) for p in prefixes):
        return
    won = repo.win_lead(session, event.workspace_id, event.member_id, event.order_id, event.paid_at)
    if won is None:
        return
    lead_id, owner = won
    security.record_audit(
        session,
        "system:pay",
        "audience.lead_won",
        workspace_id=event.workspace_id,
        target_type="lead",
        target_id=lead_id,
        detail={"order_id": event.order_id, "amount": event.amount, "owner_id": owner},
    )
