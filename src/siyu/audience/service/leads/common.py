"""What the leads modules share: the workspace's policy (defaults until saved), who may see
and work a lead, and a lead as the API shows it."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy.orm import Session

from siyu.audience import errors
from siyu.audience import leads_repository as repo
from siyu.audience.enums import OPEN_LEAD_STATUSES, AssignmentMode
from siyu.audience.models import Lead, LeadSettings
from siyu.audience.schemas import LeadRead, ScoreReason
from siyu.core import clock
from siyu.identity import service as identity
from siyu.security import service as security
from siyu.security.enums import Permission
from siyu.security.schemas import Principal

Actor = Principal | str


def actor_name(actor: Actor) -> str:
    return actor.actor if isinstance(actor, Principal) else actor


def default_settings(workspace_id: int, actor: str) -> LeadSettings:
    return LeadSettings(
        workspace_id=workspace_id,
        threshold=30,
        daily_claim_cap=20,
        reclaim_days=7,
        assignment=AssignmentMode.pool,
        assignees=[],
        capacity=0,
        segment_routes=[],
        won_references=[],
        won_min_amount=0,
        last_assignee_id=None,
        scores_stale=True,
        scored_at=None,
        updated_by=actor,
        updated_at=clock.now(),
    )


def settings_of(session: Session, workspace_id: int) -> LeadSettings:
    """The saved policy, or the defaults (not stored) when none was saved."""
    return repo.get_settings(session, workspace_id) or default_settings(workspace_id, "")


def ensure_settings(
    session: Session, workspace_id: int, actor: str, *, lock: bool = False
) -> LeadSettings:
    row = repo.get_settings(session, workspace_id, lock=lock)
    if row is None:
        row = default_settings(workspace_id, actor)
        repo.add(session, row)
    return row


def manages(principal: Principal) -> bool:
    return security.allows(principal.role, Permission.leads_manage)


def _lead(session: Session, workspace_id: int, lead_id: int, *, lock: bool) -> Lead:
    lead = repo.get_lead(session, lead_id, lock=lock)
    if lead is None or lead.workspace_id != workspace_id:
        raise errors.LEAD_NOT_FOUND(f"no lead {lead_id}")
    return lead


def visible_lead(session: Session, principal: Principal, lead_id: int) -> Lead:
    """A lead this operator may open: any with `leads.manage`; else their own or one in the
    pool. Another salesperson's lead is refused with `lead_not_yours`."""
    lead = _lead(session, principal.workspace_id, lead_id, lock=False)
    if manages(principal) or lead.owner_id == principal.operator_id:
        return lead
    if lead.owner_id is None and lead.status in OPEN_LEAD_STATUSES:
        return lead
    raise errors.LEAD_NOT_YOURS(f"lead {lead_id} belongs to another salesperson")


def worked_lead(session: Session, principal: Principal, lead_id: int) -> Lead:
    """A lead this operator may follow up and move (locked): their own, or any for a manager."""
    lead = _lead(session, principal.workspace_id, lead_id, lock=True)
    if manages(principal) or (lead.owner_id is not None and lead.owner_id == principal.operator_id):
        return lead
    raise errors.LEAD_NOT_YOURS(f"lead {lead_id} is not yours: claim it first")


def present(session: Session, leads: Sequence[Lead], *, names: bool = False) -> list[LeadRead]:
    """Leads with their members' numbers (and display names, for one lead's page) and their
    owners' names."""
    if not leads:
        return []
    workspace_id = leads[0].workspace_id
    operators = {o.id: o.name for o in security.list_operators(session, workspace_id)}
    numbers = identity.numbers_of(session, workspace_id, [lead.member_id for lead in leads])
    out: list[LeadRead] = []
    for lead in leads:
        read = LeadRead.model_validate(lead)
        read.reasons = [ScoreReason.model_validate(r) for r in lead.reasons or []]
        read.number = numbers.get(lead.member_id, 0)
        read.owner_name = operators.get(lead.owner_id) if lead.owner_id else None
        if names:
            read.display_name = identity.get_member(
                session, workspace_id, lead.member_id
            ).display_name
        out.append(read)
    return out
