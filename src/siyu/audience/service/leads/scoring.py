"""Scoring (线索评分): rules give points per event (decayed by age), for a condition (a tag,
an attribute) or for silence; a member whose score reaches the threshold becomes a lead, with
the reasons it scored. Set-based: one grouped query per rule, one write of the scores, one
insert of the new leads. Run by a job each minute for workspaces whose events changed (the
bus marks them) and nightly for all (decay and silence move scores without events)."""

from __future__ import annotations

import math
from collections import defaultdict
from datetime import datetime, timedelta
from typing import Any

from pydantic import ValidationError
from sqlalchemy import (
    ColumnElement,
    Float,
    Select,
    case,
    cast,
    func,
    literal,
    not_,
    select,
    union_all,
)
from sqlalchemy.orm import Session

from siyu.audience import compiler, errors, repository
from siyu.audience import leads_repository as repo
from siyu.audience.enums import LeadRuleKind
from siyu.audience.models import LeadRule
from siyu.audience.schemas import (
    LeadRuleIn,
    LeadRuleRead,
    MemberScore,
    ScoreReason,
    ScoringResult,
)
from siyu.audience.service.leads import assignment
from siyu.audience.service.leads.common import Actor, actor_name, ensure_settings
from siyu.core import clock
from siyu.identity import service as identity
from siyu.identity.enums import MemberStatus
from siyu.security import service as security
from siyu.security.schemas import Principal

DEFAULT_EVENT_DAYS = 365
MAX_HALVINGS = 24  # older than 24 half-lives an event counts for nothing (< 1/16,000,000)
# Events siyu records about its own doings are no sign of life (a segment entered).
OWN_EVENTS = ("segment.",)


def _context(session: Session, workspace_id: int, now: datetime) -> compiler.Context:
    def find(segment_id: int) -> compiler.SegmentRef | None:
        row = repository.get_segment(session, segment_id)
        if row is None or row.workspace_id != workspace_id:
            return None
        return compiler.SegmentRef(row.id, row.kind, row.definition)

    return compiler.Context(
        session=session,
        workspace_id=workspace_id,
        now=now,
        member=compiler.member_column(),
        find_segment=find,
        stored_members=repository.stored_members,
    )


# --- rules ------------------------------------------------------------------------------------


def _check_rule(session: Session, workspace_id: int, data: LeadRuleIn) -> None:
    """Each kind's fields, or a 422 naming the field."""
    if data.kind == LeadRuleKind.event:
        if not data.event:
            raise errors.LEAD_RULE_INVALID("event: required", problem="event: 必填")
        try:
            compiler.EventMatch.model_validate({"event": data.event, "where": data.where})
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first["loc"])
            problem = f"{where}: {first['msg']}"
            raise errors.LEAD_RULE_INVALID(problem, problem=problem) from None
    elif data.kind == LeadRuleKind.condition:
        if not data.condition:
            raise errors.LEAD_RULE_INVALID("condition: required", problem="condition: 必填")
        compiler.members_query(
            _context(session, workspace_id, clock.now()),
            compiler.parse_definition(data.condition),
        )
    elif data.days is None:
        raise errors.LEAD_RULE_INVALID("days: required", problem="days: 必填")


def _fields(data: LeadRuleIn) -> dict[str, Any]:
    values = data.model_dump()
    values["name"] = data.name.strip()
    if data.kind != LeadRuleKind.event:
        values.update(event=None, where=[], half_life_days=None, max_points=None)
    if data.kind != LeadRuleKind.condition:
        values["condition"] = None
    return values


def save_rule(
    session: Session, actor: Principal, data: LeadRuleIn, rule_id: int | None = None
) -> LeadRuleRead:
    """Create (or replace) a scoring rule; scores are recomputed by the next job."""
    workspace_id = actor.workspace_id
    _check_rule(session, workspace_id, data)
    values = _fields(data)
    same = repo.get_rule_by_name(session, workspace_id, values["name"])
    if same is not None and same.id != rule_id:
        raise errors.LEAD_RULE_EXISTS(f"a rule named {values['name']!r} exists")
    now = clock.now()
    if rule_id is None:
        row = LeadRule(
            workspace_id=workspace_id, created_by=actor.actor, created_at=now, updated_at=now
        )
    else:
        found = repo.get_rule(session, rule_id)
        if found is None or found.workspace_id != workspace_id:
            raise errors.LEAD_RULE_NOT_FOUND(f"no scoring rule {rule_id}")
        row = found
    for key, value in values.items():
        setattr(row, key, value)
    row.updated_at = now
    repo.add(session, row)
    ensure_settings(session, workspace_id, actor.actor).scores_stale = True
    security.record_audit(
        session,
        actor,
        "audience.lead_rule_saved",
        target_type="lead_rule",
        target_id=row.id,
        detail={"kind": data.kind.value, "points": data.points, "created": rule_id is None},
    )
    return LeadRuleRead.model_validate(row)


def delete_rule(session: Session, actor: Principal, rule_id: int) -> None:
    row = repo.get_rule(session, rule_id)
    if row is None or row.workspace_id != actor.workspace_id:
        raise errors.LEAD_RULE_NOT_FOUND(f"no scoring rule {rule_id}")
    repo.delete_rule(session, row)
    ensure_settings(session, actor.workspace_id, actor.actor).scores_stale = True
    security.record_audit(
        session, actor, "audience.lead_rule_deleted", target_type="lead_rule", target_id=rule_id
    )


def list_rules(session: Session, workspace_id: int) -> list[LeadRuleRead]:
    return [LeadRuleRead.model_validate(r) for r in repo.list_rules(session, workspace_id)]


# --- scoring ----------------------------------------------------------------------------------


def _decay(ts: Any, now: datetime, days: int, half_life: int | None) -> ColumnElement[Any]:
    """An event's weight by its age: 1 within the first half-life, ½ in the second, …"""
    if not half_life:
        return cast(literal(1.0), Float)
    steps = min(math.ceil(days / half_life), MAX_HALVINGS)
    whens = [(ts >= now - timedelta(days=half_life * (k + 1)), 0.5**k) for k in range(steps)]
    return case(*whens, else_=0.0)


def _rule_query(ctx: compiler.Context, rule: LeadRule) -> Select[Any]:
    """(member id, weight) of the members the rule gives points to; points = weight × points."""
    events = identity.events_table()
    members = identity.members_table()
    now = ctx.now
    if rule.kind == LeadRuleKind.event:
        match = compiler.EventMatch.model_validate({"event": rule.event, "where": rule.where})
        days = rule.days or DEFAULT_EVENT_DAYS
        weight = _decay(events.c.ts, now, days, rule.half_life_days)
        return (
            select(events.c.member_id, func.sum(weight))
            .where(
                *match.filters(ctx, events),
                events.c.ts >= now - timedelta(days=days),
                events.c.ts <= now,
            )
            .group_by(events.c.member_id)
        )
    if rule.kind == LeadRuleKind.condition:
        found = compiler.members_query(ctx, compiler.parse_definition(rule.condition)).subquery()
        return select(found.c.id, cast(literal(1.0), Float))
    active = select(events.c.member_id).where(
        events.c.workspace_id == ctx.workspace_id,
        events.c.ts >= now - timedelta(days=rule.days or 1),
        *(not_(events.c.name.startswith(prefix)) for prefix in OWN_EVENTS),
    )
    return select(members.c.id, cast(literal(1.0), Float)).where(
        members.c.workspace_id == ctx.workspace_id,
        members.c.status == MemberStatus.active,
        members.c.erased_at.is_(None),
        members.c.id.not_in(active),
    )


def _points(rule: LeadRule, weight: float) -> int:
    points = round(rule.points * weight)
    if rule.max_points is not None:
        points = max(-rule.max_points, min(rule.max_points, points))
    return points


def score_workspace(session: Session, workspace_id: int, *, actor: Actor) -> ScoringResult:
    """Score every member by the enabled rules; members reaching the threshold become leads
    (with their reasons) and are assigned by the workspace's rule. Running it twice in a row
    changes nothing the second time."""
    if repo.get_settings(session, workspace_id) is None and not repo.list_rules(
        session, workspace_id, enabled_only=True
    ):
        return ScoringResult(scored=0, leads_created=0, assigned=0)  # leads never used here
    settings = ensure_settings(session, workspace_id, actor_name(actor), lock=True)
    now = clock.now()
    ctx = _context(session, workspace_id, now)
    rules = list(repo.list_rules(session, workspace_id, enabled_only=True))
    gains = [r for r in rules if r.points > 0]
    losses = [r for r in rules if r.points < 0]
    totals: dict[int, int] = defaultdict(int)
    reasons: dict[int, list[dict[str, Any]]] = defaultdict(list)

    def apply(rule: LeadRule, query: Select[Any]) -> None:
        for member_id, weight in session.execute(query):
            points = _points(rule, float(weight or 0))
            if points:
                totals[int(member_id)] += points
                reasons[int(member_id)].append(
                    {"rule_id": rule.id, "rule": rule.name, "points": points}
                )

    queries = {rule.id: _rule_query(ctx, rule) for rule in rules}
    for rule in gains:
        apply(rule, queries[rule.id])
    if gains and losses:
        # Points taken away matter only to members who have some: a silent member with
        # nothing else is not written down at −20.
        scored = union_all(*(select(queries[r.id].subquery().c[0]) for r in gains)).subquery()
        for rule in losses:
            query = queries[rule.id]
            column = query.selected_columns[0]
            apply(rule, query.where(column.in_(select(scored.c[0]))))
    rows = [
        {
            "member_id": member_id,
            "workspace_id": workspace_id,
            "score": total,
            "reasons": sorted(reasons[member_id], key=lambda r: -abs(r["points"])),
            "scored_at": now,
        }
        for member_id, total in totals.items()
    ]
    repo.replace_scores(session, workspace_id, rows)
    repo.refresh_open_lead_scores(session, workspace_id, now)
    candidates = repo.new_lead_candidates(session, workspace_id, settings.threshold)
    made = repo.add_leads(
        session,
        [
            {
                "workspace_id": workspace_id,
                "member_id": member_id,
                "status": "new",
                "owner_id": None,
                "score": score,
                "reasons": member_reasons,
                "created_at": now,
                "updated_at": now,
            }
            for member_id, score, member_reasons in candidates
        ],
    )
    given = assignment.assign_new(session, settings, made, now)
    repo.finish_scoring(session, workspace_id, now)
    if made:
        security.record_audit(
            session,
            actor,
            "audience.leads_created",
            workspace_id=workspace_id,
            target_type="workspace",
            target_id=workspace_id,
            detail={
                "leads": len(made),
                "assigned": given,
                "threshold": settings.threshold,
                "member_ids": [m for _, m in made[:100]],
            },
        )
    return ScoringResult(scored=len(rows), leads_created=len(made), assigned=given)


def score_now(session: Session, actor: Principal) -> ScoringResult:
    """An operator scores the workspace now (`siyu leads score`, the console's button)."""
    result = score_workspace(session, actor.workspace_id, actor=actor)
    security.record_audit(
        session,
        actor,
        "audience.leads_scored",
        target_type="workspace",
        target_id=actor.workspace_id,
        detail=result.model_dump(),
    )
    return result


def stale_workspaces(session: Session) -> list[int]:
    return repo.list_stale_workspaces(session)


def scored_workspaces(session: Session) -> list[int]:
    return [s.workspace_id for s in repo.list_settings(session)]


def on_events_recorded(session: Session, event: identity.EventsRecorded) -> None:
    """New events may move scores: the workspace is scored again by the next job."""
    repo.mark_scores_stale(session, event.workspace_id)


def member_score(session: Session, workspace_id: int, number: int) -> MemberScore:
    """A member's score as of the last scoring, its reasons, and their lead if any."""
    member = identity.get_member_by_number(session, workspace_id, number)
    row = repo.get_score(session, member.id)
    lead = repo.get_lead_of_member(session, workspace_id, member.id)
    found = row if row is not None and row.workspace_id == workspace_id else None
    return MemberScore(
        member_id=member.id,
        number=member.number,
        score=found.score if found else 0,
        reasons=[ScoreReason.model_validate(r) for r in (found.reasons if found else [])],
        scored_at=found.scored_at if found else None,
        lead_id=lead.id if lead else None,
    )
