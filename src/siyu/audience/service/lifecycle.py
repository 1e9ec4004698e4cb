"""Lifecycle tiers (生命周期分层): the workspace's policy, the nightly computation of every
member's tier in a few set-based statements, the move to 回流 the moment a dormant or churned
member acts again (a bus subscriber), and the figures the console draws (tiers per day, flows).

Every move is a row of `member_tier_changes` and a `member.tier_changed` event on the member's
timeline (props: from, to, cause); computing twice moves nobody twice.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import Select
from sqlalchemy.orm import Session

from siyu.audience import errors
from siyu.audience import lifecycle_repository as repository
from siyu.audience.enums import Tier, TierCause
from siyu.audience.models import TierPolicy
from siyu.audience.schemas import (
    MemberTierRead,
    TierCountsRead,
    TierFlowRead,
    TierMoveRead,
    TierPolicyIn,
    TierPolicyRead,
    TierRunReport,
    TierSeries,
)
from siyu.core import clock
from siyu.core.clock import BEIJING
from siyu.core.jobs import enqueue
from siyu.identity import service as identity
from siyu.security import service as security
from siyu.security.schemas import Principal

TIER_CHANGED = repository.TIER_CHANGED
COUNTS_DAYS_MAX = 366
ANALYZE_AFTER = 10_000  # moves in one run: the table's statistics are refreshed after them


# --- policy -----------------------------------------------------------------------------------


def get_tier_policy(session: Session, workspace_id: int) -> TierPolicyRead:
    row = repository.get_policy_row(session, workspace_id)
    if row is None or not row.rules:
        return TierPolicyRead(updated_at=row.updated_at if row else None)
    return TierPolicyRead(
        **TierPolicyIn.model_validate(row.rules).model_dump(), updated_at=row.updated_at
    )


def _check(policy: TierPolicyIn) -> None:
    if not policy.new_days < policy.dormant_days:
        raise errors.INVALID_TIER_POLICY(
            "new_days must be less than dormant_days",
            reason=f"新客天数（{policy.new_days}）必须小于沉睡天数（{policy.dormant_days}）。",
        )
    if not policy.dormant_days < policy.churn_days:
        raise errors.INVALID_TIER_POLICY(
            "dormant_days must be less than churn_days",
            reason=f"沉睡天数（{policy.dormant_days}）必须小于流失天数（{policy.churn_days}）。",
        )


def set_tier_policy(
    session: Session, workspace_id: int, policy: TierPolicyIn, actor: Principal | str
) -> TierPolicyRead:
    """Store the workspace's thresholds and recompute its tiers (a job) by them."""
    _check(policy)
    current = get_tier_policy(session, workspace_id)
    if (
        TierPolicyIn.model_validate(current.model_dump(include=set(TierPolicyIn.model_fields)))
        == policy
    ):
        return current  # the same thresholds again: nothing to store, audit or recompute
    now = clock.now()
    stored = policy.model_dump(mode="json")
    row = repository.get_policy_row(session, workspace_id, lock=True)
    if row is None:
        row = repository.add_policy_row(
            session, TierPolicy(workspace_id=workspace_id, rules=stored, updated_at=now)
        )
    else:
        row.rules, row.updated_at = stored, now
        session.flush()
    security.record_audit(
        session,
        actor,
        "audience.tier_policy_set",
        workspace_id=workspace_id,
        target_type="audience_tier_policy",
        target_id=workspace_id,
        detail=stored,
    )
    enqueue(session, "audience.compute_tiers", workspace_id)
    return TierPolicyRead(**stored, updated_at=now)


# --- computing --------------------------------------------------------------------------------


def _computed(
    policy: TierPolicyIn, workspace_id: int, now: datetime, member_ids: Sequence[int] | None = None
) -> Select[Any]:
    return repository.computed_tiers(
        workspace_id,
        new_after=now - timedelta(days=policy.new_days),
        dormant_before=now - timedelta(days=policy.dormant_days),
        churn_before=now - timedelta(days=policy.churn_days),
        returning_after=now - timedelta(days=policy.returning_days),
        churn_on_unfollow=policy.churn_on_unfollow,
        member_ids=member_ids,
    )


def _lock_workspace(session: Session, workspace_id: int) -> TierPolicyIn:
    """The workspace's policy, its row locked: two runs for one workspace take turns."""
    row = repository.get_policy_row(session, workspace_id, lock=True)
    if row is None:
        row = repository.add_policy_row(
            session, TierPolicy(workspace_id=workspace_id, rules={}, updated_at=clock.now())
        )
        row = repository.get_policy_row(session, workspace_id, lock=True)
    return TierPolicyIn.model_validate(row.rules if row and row.rules else {})


def _record_moves(
    session: Session,
    workspace_id: int,
    moves: Sequence[tuple[int, str | None, str]],
    cause: TierCause,
    now: datetime,
) -> None:
    identity.record_events(
        session,
        [
            identity.NewEvent(
                workspace_id,
                member_id,
                TIER_CHANGED,
                now,
                props={"from": from_tier, "to": to_tier, "cause": cause.value},
            )
            for member_id, from_tier, to_tier in moves
        ],
    )


def compute_tiers(
    session: Session, workspace_id: int, *, now: datetime | None = None
) -> TierRunReport:
    """Every current member's tier by the workspace's policy: the moves recorded in one
    INSERT … SELECT, the stored tiers set from them in one upsert, their timeline events
    written in one COPY, and today's counts per tier replaced."""
    now = now or clock.now()
    policy = _lock_workspace(session, workspace_id)
    session.flush()
    repository.tune_for_batch(session)
    before = repository.last_change_id(session)
    repository.delete_tiers_of_departed(session, workspace_id)
    repository.add_daily_changes(session, workspace_id, _computed(policy, workspace_id, now), now)
    moves = repository.list_changes_after(session, workspace_id, before, TierCause.daily)
    if moves:
        repository.apply_changes(session, workspace_id, before, TierCause.daily)
        _record_moves(session, workspace_id, moves, TierCause.daily, now)
    if len(moves) >= ANALYZE_AFTER:
        repository.analyze_tiers(session)
    repository.set_daily_counts(session, workspace_id, now.astimezone(BEIJING).date())
    counts = repository.count_tiers(session, workspace_id)
    return TierRunReport(
        workspace_id=workspace_id,
        members=sum(counts.values()),
        moved=len(moves),
        by_tier={Tier(t): n for t, n in counts.items()},
    )


# --- on events ----------------------------------------------------------------------------------


def on_activities(session: Session, events: Sequence[Any]) -> None:
    """A member whose tier is dormant or churned who acts (a message, a follow, a scan, a menu
    click, a Mini Program launch, a payment) is 回流 at once: one read for the whole batch,
    and writes only for those who came back."""
    member_ids = {e.member_id for e in events if getattr(e, "member_id", None) is not None}
    if not member_ids:
        return
    came_back = repository.list_came_back(session, member_ids)
    if not came_back:
        return
    now = clock.now()
    repository.add_event_changes(session, came_back, Tier.returning, now)
    repository.set_tiers(session, [m for m, _w, _t in came_back], Tier.returning, now)
    by_workspace: dict[int, list[tuple[int, str | None, str]]] = {}
    for member_id, workspace_id, from_tier in came_back:
        by_workspace.setdefault(workspace_id, []).append(
            (member_id, from_tier, Tier.returning.value)
        )
    for workspace_id, moves in by_workspace.items():
        _record_moves(session, workspace_id, moves, TierCause.event, now)


def on_activity(session: Session, event: Any) -> None:
    """`on_activities` for one event."""
    on_activities(session, [event])


# --- reading ------------------------------------------------------------------------------------


def member_tier_of(
    session: Session, workspace_id: int, member_id: int, number: int
) -> MemberTierRead:
    """The member's stored tier, or (none stored yet) the tier computed now without storing."""
    row = repository.get_member_tier(session, member_id)
    if row is not None:
        return MemberTierRead(member_number=number, tier=row.tier, since=row.since, stored=True)
    policy = _policy(session, workspace_id)
    computed = session.execute(_computed(policy, workspace_id, clock.now(), [member_id])).first()
    tier = Tier(computed.tier) if computed is not None else Tier.new
    return MemberTierRead(member_number=number, tier=tier, since=None, stored=False)


def _policy(session: Session, workspace_id: int) -> TierPolicyIn:
    return TierPolicyIn.model_validate(
        get_tier_policy(session, workspace_id).model_dump(exclude={"updated_at"})
    )


def member_tier(session: Session, principal: Principal, number: int) -> MemberTierRead:
    """A member's tier by member number, for an operator who may see the member (audited as
    a view of the member)."""
    member = identity.view_member_by_number(session, principal, number)
    return member_tier_of(
        session, principal.workspace_id, member.merged_into_id or member.id, number
    )


def member_tier_moves(session: Session, member_id: int, limit: int = 20) -> list[TierMoveRead]:
    return [
        TierMoveRead(
            from_tier=r.from_tier, to_tier=r.to_tier, cause=r.cause, changed_at=r.changed_at
        )
        for r in repository.list_member_moves(session, member_id, limit)
    ]


def tier_counts(session: Session, workspace_id: int, days: int = 90) -> TierCountsRead:
    """Members per tier at the end of each of the last `days` days that had a computation."""
    days = min(max(days, 1), COUNTS_DAYS_MAX)
    today = clock.now().astimezone(BEIJING).date()
    rows = repository.list_daily_counts(session, workspace_id, today - timedelta(days=days - 1))
    dates: list[date] = sorted({d for d, _t, _n in rows})
    index = {d: i for i, d in enumerate(dates)}
    counts = {tier: [0] * len(dates) for tier in Tier}
    for day, tier, members in rows:
        counts[Tier(tier)][index[day]] = members
    return TierCountsRead(days=dates, series=[TierSeries(tier=t, counts=counts[t]) for t in Tier])


def tier_flows(
    session: Session, workspace_id: int, since: datetime, until: datetime
) -> list[TierFlowRead]:
    """Moves between tiers in [since, until], the most frequent first."""
    return [
        TierFlowRead(from_tier=Tier(f) if f else None, to_tier=Tier(t), members=n)
        for f, t, n in repository.list_flows(session, workspace_id, since, until)
    ]


def tier_member_ids(workspace_id: int, tier: Tier | Sequence[Tier]) -> Select[int]:
    """The member ids of a tier (or of any of several), as a selectable to embed in a query
    (segments): `select(...).where(member_id.in_(tier_member_ids(ws, Tier.dormant)))`."""
    tiers = [tier] if isinstance(tier, Tier) else list(tier)
    return repository.tier_member_ids(workspace_id, tiers)
