"""Who gets a new lead: the pool (公海), round-robin over the assignees, the assignee with the
fewest open leads (below the capacity), or the salespeople routed a segment's members."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy.orm import Session

from siyu.audience import leads_repository as repo
from siyu.audience import repository
from siyu.audience.enums import AssignmentMode, LeadNoticeKind
from siyu.audience.models import LeadSettings
from siyu.security import service as security
from siyu.security.enums import Permission


def takers(session: Session, workspace_id: int) -> set[int]:
    """Operators who may take leads: active, with `leads.claim`."""
    return {
        o.id
        for o in security.list_operators(session, workspace_id)
        if o.disabled_at is None and security.allows(o.role, Permission.leads_claim)
    }


def _next_in_turn(order: Sequence[int], eligible: set[int], cursor: int | None) -> int | None:
    """The first eligible operator after `cursor` in `order`, wrapping around."""
    if not order:
        return None
    start = order.index(cursor) + 1 if cursor in order else 0
    for step in range(len(order)):
        candidate = order[(start + step) % len(order)]
        if candidate in eligible:
            return candidate
    return None


def assign_new(
    session: Session, settings: LeadSettings, made: Sequence[tuple[int, int]], now: datetime
) -> int:
    """Give the new leads `made` ((lead id, member id)) to salespeople by the workspace's
    assignment rule; those nobody can take stay in the pool. How many were given."""
    mode = AssignmentMode(settings.assignment)
    if mode == AssignmentMode.pool or not made:
        return 0
    workspace_id = settings.workspace_id
    able = takers(session, workspace_id)
    load = repo.open_counts_by_owner(session, workspace_id)
    capacity = settings.capacity

    def eligible(ids: Sequence[int]) -> set[int]:
        return {i for i in ids if i in able and (capacity == 0 or load.get(i, 0) < capacity)}

    routes = (
        [
            (
                set(repository.member_ids(session, int(r["segment_id"]))),
                [int(i) for i in r["operator_ids"]],
            )
            for r in settings.segment_routes
        ]
        if mode == AssignmentMode.segment
        else []
    )
    cursor = settings.last_assignee_id
    notices: list[dict[str, object]] = []
    given = 0
    for lead_id, member_id in made:
        pick: int | None = None
        if mode == AssignmentMode.capacity:
            free = eligible(settings.assignees)
            pick = (
                min(free, key=lambda i: (load.get(i, 0), settings.assignees.index(i)))
                if free
                else None
            )
        elif mode == AssignmentMode.round_robin:
            pick = _next_in_turn(settings.assignees, eligible(settings.assignees), cursor)
        else:
            for members, operators in routes:
                if member_id in members:
                    pick = _next_in_turn(operators, eligible(operators), cursor)
                    break
        if pick is None:
            continue
        lead = repo.get_lead(session, lead_id)
        if lead is None:
            continue
        lead.owner_id, lead.assigned_at, lead.updated_at = pick, now, now
        load[pick] = load.get(pick, 0) + 1
        cursor = pick
        given += 1
        notices.append(
            {
                "workspace_id": workspace_id,
                "operator_id": pick,
                "lead_id": lead_id,
                "member_id": member_id,
                "kind": LeadNoticeKind.assigned,
                "due_at": now,
                "created_at": now,
            }
        )
    settings.last_assignee_id = cursor
    session.flush()
    repo.add_notices(session, notices)
    return given
