"""Lifecycle tiers' and RFM's queries: each computation is a few set-based statements over the
timeline and the members (read through identity's tables, never written), on SQLite as on
PostgreSQL; no member is loaded as an object."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Insert,
    Select,
    Table,
    and_,
    case,
    delete,
    func,
    literal,
    or_,
    select,
    text,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from siyu.audience.enums import RfmCell, Tier, TierCause
from siyu.audience.models import MemberRfm, MemberTier, MemberTierChange, TierDailyCount, TierPolicy
from siyu.core.db import UTCDateTime
from siyu.identity import service as identity
from siyu.identity.enums import MemberStatus

# What counts as a member's own activity: what they did, not what was done to them (a notice
# sent, a parcel shipped, a refund) nor siyu's own records (a tier change, a segment entered);
# leaving (oa.unsubscribe, group.leave) is not activity either. Every Mini Program event is.
ACTIVITY_EVENTS = (
    "oa.subscribe",
    "oa.scan",
    "oa.menu_click",
    "oa.message",
    "pay.paid",
    "order.created",
    "activity.enroll",
    "activity.checkin",
    "group.join",
)
MP_PREFIX = "mp."
TIER_CHANGED = "member.tier_changed"


def _table(model: type[Any]) -> Table:
    table = model.__table__
    assert isinstance(table, Table)
    return table


_M = _table(MemberTier)
_C = _table(MemberTierChange)
_R = _table(MemberRfm)
_D = _table(TierDailyCount)


def tune_for_batch(session: Session) -> None:
    """On PostgreSQL, for this transaction: memory for the per-member hash aggregates (with
    the default 4 MB the planner walks the timeline's member index instead, several times
    slower over a million members), and no JIT (its compilation costs more than it saves on
    these plans)."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SET LOCAL work_mem = '256MB'"))
        session.execute(text("SET LOCAL jit = off"))


def analyze_tiers(session: Session) -> None:
    """Fresh statistics after many moves (a first run): with the empty table's, PostgreSQL
    plans the next run's joins on member_tiers as if it held a few hundred rows."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("ANALYZE member_tiers"))


def _ts(value: datetime) -> ColumnElement[Any]:
    return literal(value, UTCDateTime())


# --- policy -----------------------------------------------------------------------------------


def get_policy_row(session: Session, workspace_id: int, *, lock: bool = False) -> TierPolicy | None:
    query = select(TierPolicy).where(TierPolicy.workspace_id == workspace_id)
    if lock:
        query = query.with_for_update()
    return session.scalars(query).one_or_none()


def add_policy_row(session: Session, row: TierPolicy) -> TierPolicy:
    session.add(row)
    session.flush()
    return row


# --- the tiers computed ------------------------------------------------------------------------


def computed_tiers(
    workspace_id: int,
    *,
    new_after: datetime,
    dormant_before: datetime,
    churn_before: datetime,
    returning_after: datetime,
    churn_on_unfollow: bool,
    member_ids: Collection[int] | None = None,
) -> Select[Any]:
    """(member_id, tier, old_tier, old_since) of every current member of the workspace: one
    pass over its activity grouped by member, one over its follows and unfollows grouped by
    member and app, joined to the members and their stored tiers. `member_ids` narrows it to
    a few members (a profile asked before any run)."""
    events = identity.events_table()
    members = identity.members_table()
    mine = [events.c.workspace_id == workspace_id]
    if member_ids is not None:
        mine.append(events.c.member_id.in_(list(member_ids)))
    is_mp = events.c.name.startswith(MP_PREFIX)
    activity = (
        select(
            events.c.member_id,
            func.max(events.c.ts).label("last_active"),
            func.max(events.c.ts).filter(is_mp).label("last_mp"),
        )
        .where(*mine, or_(events.c.name.in_(ACTIVITY_EVENTS), is_mp))
        .group_by(events.c.member_id)
        .subquery("activity")
    )
    per_app = (
        select(
            events.c.member_id,
            func.max(events.c.ts).filter(events.c.name == "oa.subscribe").label("last_sub"),
            func.max(events.c.ts).filter(events.c.name == "oa.unsubscribe").label("last_unsub"),
        )
        .where(*mine, events.c.name.in_(("oa.subscribe", "oa.unsubscribe")))
        .group_by(events.c.member_id, events.c.app_id)
        .subquery("per_app")
    )
    # An app the member left: the last unfollow is after the last follow. `gone` is 1 when
    # every OA they ever followed or left is such an app.
    left = case(
        (
            and_(
                per_app.c.last_unsub.is_not(None),
                or_(per_app.c.last_sub.is_(None), per_app.c.last_unsub > per_app.c.last_sub),
            ),
            1,
        ),
        else_=0,
    )
    follows = (
        select(
            per_app.c.member_id,
            func.max(per_app.c.last_unsub).label("left_at"),
            func.min(left).label("gone"),
        )
        .group_by(per_app.c.member_id)
        .subquery("follows")
    )
    last_seen = func.coalesce(activity.c.last_active, members.c.created_at, type_=UTCDateTime())
    unfollowed = and_(
        literal(churn_on_unfollow),
        follows.c.gone == 1,
        or_(activity.c.last_mp.is_(None), activity.c.last_mp <= follows.c.left_at),
    )
    came_back = (Tier.dormant.value, Tier.churned.value)
    tier = case(
        (or_(last_seen < _ts(churn_before), unfollowed), Tier.churned.value),
        (last_seen <= _ts(dormant_before), Tier.dormant.value),
        (members.c.created_at >= _ts(new_after), Tier.new.value),
        (_M.c.tier.in_(came_back), Tier.returning.value),
        (
            and_(_M.c.tier == Tier.returning.value, _M.c.since >= _ts(returning_after)),
            Tier.returning.value,
        ),
        else_=Tier.active.value,
    ).label("tier")
    query = (
        select(
            members.c.id.label("member_id"),
            tier,
            _M.c.tier.label("old_tier"),
            _M.c.since.label("old_since"),
        )
        .select_from(members)
        .outerjoin(activity, activity.c.member_id == members.c.id)
        .outerjoin(follows, follows.c.member_id == members.c.id)
        .outerjoin(_M, _M.c.member_id == members.c.id)
        .where(*_current_members(members, workspace_id))
    )
    if member_ids is not None:
        query = query.where(members.c.id.in_(list(member_ids)))
    return query


def _current_members(members: Table, workspace_id: int) -> list[ColumnElement[bool]]:
    return [
        members.c.workspace_id == workspace_id,
        members.c.status == MemberStatus.active,
        members.c.erased_at.is_(None),
    ]


def last_change_id(session: Session) -> int:
    return int(session.scalar(select(func.max(MemberTierChange.id))) or 0)


def add_daily_changes(
    session: Session, workspace_id: int, computed: Select[Any], now: datetime
) -> None:
    """Record every member whose computed tier differs from the stored one (or who has none)
    as a change of this run: one INSERT … SELECT."""
    changed = computed.subquery("computed")
    moved = select(
        literal(workspace_id),
        changed.c.member_id,
        changed.c.old_tier,
        changed.c.tier,
        literal(TierCause.daily.value),
        _ts(now),
    ).where(or_(changed.c.old_tier.is_(None), changed.c.old_tier != changed.c.tier))
    session.execute(
        _C.insert().from_select(
            ["workspace_id", "member_id", "from_tier", "to_tier", "cause", "changed_at"], moved
        )
    )


def _upsert(session: Session) -> Any:
    return postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert


def apply_changes(session: Session, workspace_id: int, after_id: int, cause: TierCause) -> None:
    """Set the stored tiers to the changes recorded after `after_id` (this run's): one upsert."""
    source = select(_C.c.member_id, _C.c.workspace_id, _C.c.to_tier, _C.c.changed_at).where(
        _C.c.workspace_id == workspace_id, _C.c.id > after_id, _C.c.cause == cause.value
    )
    insert: Any = _upsert(session)(_M).from_select(
        ["member_id", "workspace_id", "tier", "since"], source
    )
    statement: Insert = insert.on_conflict_do_update(
        index_elements=[_M.c.member_id],
        set_={
            "tier": insert.excluded.tier,
            "since": insert.excluded.since,
            "workspace_id": insert.excluded.workspace_id,
        },
    )
    session.execute(statement)


def list_changes_after(
    session: Session, workspace_id: int, after_id: int, cause: TierCause
) -> list[tuple[int, str | None, str]]:
    rows = session.execute(
        select(_C.c.member_id, _C.c.from_tier, _C.c.to_tier)
        .where(_C.c.workspace_id == workspace_id, _C.c.id > after_id, _C.c.cause == cause.value)
        .order_by(_C.c.id)
    )
    return [(int(m), None if f is None else str(f), str(t)) for m, f, t in rows]


def delete_tiers_of_departed(session: Session, workspace_id: int) -> None:
    """Members merged into another or erased since the last run keep no tier."""
    members = identity.members_table()
    gone = select(members.c.id).where(
        members.c.workspace_id == workspace_id,
        or_(members.c.status != MemberStatus.active, members.c.erased_at.is_not(None)),
    )
    session.execute(delete(_M).where(_M.c.workspace_id == workspace_id, _M.c.member_id.in_(gone)))


def list_came_back(session: Session, member_ids: Collection[int]) -> list[tuple[int, int, str]]:
    """(member_id, workspace_id, tier) of these members whose tier is dormant or churned."""
    rows = session.execute(
        select(_M.c.member_id, _M.c.workspace_id, _M.c.tier).where(
            _M.c.member_id.in_(list(member_ids)),
            _M.c.tier.in_((Tier.dormant.value, Tier.churned.value)),
        )
    )
    return [(int(m), int(w), str(t)) for m, w, t in rows]


def add_event_changes(
    session: Session, moves: Sequence[tuple[int, int, str]], to_tier: Tier, now: datetime
) -> None:
    session.execute(
        _C.insert(),
        [
            {
                "workspace_id": workspace_id,
                "member_id": member_id,
                "from_tier": from_tier,
                "to_tier": to_tier.value,
                "cause": TierCause.event.value,
                "changed_at": now,
            }
            for member_id, workspace_id, from_tier in moves
        ],
    )


def set_tiers(session: Session, member_ids: Collection[int], tier: Tier, since: datetime) -> None:
    session.execute(
        update(_M).where(_M.c.member_id.in_(list(member_ids))).values(tier=tier.value, since=since)
    )


def count_tiers(session: Session, workspace_id: int) -> dict[str, int]:
    rows = session.execute(
        select(_M.c.tier, func.count()).where(_M.c.workspace_id == workspace_id).group_by(_M.c.tier)
    )
    return {str(t): int(n) for t, n in rows}


def set_daily_counts(session: Session, workspace_id: int, day: date) -> None:
    """Today's counts per tier, replaced by the day's latest run."""
    session.execute(
        delete(TierDailyCount).where(
            TierDailyCount.workspace_id == workspace_id, TierDailyCount.day == day
        )
    )
    counts = (
        select(literal(workspace_id), literal(day), _M.c.tier, func.count())
        .where(_M.c.workspace_id == workspace_id)
        .group_by(_M.c.tier)
    )
    session.execute(_D.insert().from_select(["workspace_id", "day", "tier", "members"], counts))


def list_daily_counts(
    session: Session, workspace_id: int, since: date
) -> list[tuple[date, str, int]]:
    table = _D
    rows = session.execute(
        select(table.c.day, table.c.tier, table.c.members)
        .where(table.c.workspace_id == workspace_id, table.c.day >= since)
        .order_by(table.c.day)
    )
    return [(d, str(t), int(n)) for d, t, n in rows]


def list_flows(
    session: Session, workspace_id: int, since: datetime, until: datetime
) -> list[tuple[str | None, str, int]]:
    rows = session.execute(
        select(_C.c.from_tier, _C.c.to_tier, func.count())
        .where(
            _C.c.workspace_id == workspace_id,
            _C.c.changed_at >= _ts(since),
            _C.c.changed_at <= _ts(until),
        )
        .group_by(_C.c.from_tier, _C.c.to_tier)
        .order_by(func.count().desc())
    )
    return [(f, str(t), int(n)) for f, t, n in rows]


def get_member_tier(session: Session, member_id: int) -> MemberTier | None:
    return session.get(MemberTier, member_id)


def list_member_moves(session: Session, member_id: int, limit: int) -> list[MemberTierChange]:
    return list(
        session.scalars(
            select(MemberTierChange)
            .where(MemberTierChange.member_id == member_id)
            .order_by(MemberTierChange.changed_at.desc(), MemberTierChange.id.desc())
            .limit(limit)
        )
    )


def tier_member_ids(workspace_id: int, tiers: Collection[Tier]) -> Select[int]:
    return select(_M.c.member_id).where(
        _M.c.workspace_id == workspace_id, _M.c.tier.in_(list(tiers))
    )


# --- RFM ----------------------------------------------------------------------------------------


def _cell(r: Any, f: Any, m: Any, high: int) -> ColumnElement[Any]:
    rh, fh, mh = r >= high, f >= high, m >= high
    return case(
        (and_(rh, fh, mh), RfmCell.important_value.name),
        (and_(fh, mh), RfmCell.important_recall.name),
        (and_(rh, mh), RfmCell.important_develop.name),
        (mh, RfmCell.important_retain.name),
        (and_(rh, fh), RfmCell.potential.name),
        (rh, RfmCell.newcomer.name),
        (fh, RfmCell.maintain.name),
        else_=RfmCell.lost.name,
    )


def replace_rfm(session: Session, workspace_id: int, now: datetime, high: int) -> None:
    """Every buyer's RFM of the workspace, replaced in two statements: the net of `pay.paid`
    and `pay.refunded` per member, scored by NTILE(5) within the workspace; members tied on a
    figure share the lowest score NTILE gave any of them (NTILE alone would split a tie
    across two scores by row order)."""
    events = identity.events_table()
    members = identity.members_table()
    paid = events.c.name == "pay.paid"
    amount = func.coalesce(events.c.props["amount"].as_integer(), 0)
    figures = (
        select(
            events.c.member_id,
            func.max(case((paid, events.c.ts))).label("last_paid_at"),
            func.sum(case((paid, 1), else_=0)).label("frequency"),
            func.coalesce(func.sum(case((paid, amount), else_=-amount)), 0).label("monetary"),
        )
        .select_from(events)
        .join(members, members.c.id == events.c.member_id)
        .where(
            events.c.workspace_id == workspace_id,
            events.c.name.in_(("pay.paid", "pay.refunded")),
            *_current_members(members, workspace_id),
        )
        .group_by(events.c.member_id)
        .having(func.sum(case((paid, 1), else_=0)) > 0)
        .subquery("figures")
    )
    bucketed = select(
        figures,
        func.ntile(5).over(order_by=(figures.c.last_paid_at, figures.c.member_id)).label("r0"),
        func.ntile(5).over(order_by=(figures.c.frequency, figures.c.member_id)).label("f0"),
        func.ntile(5).over(order_by=(figures.c.monetary, figures.c.member_id)).label("m0"),
    ).subquery("bucketed")
    tied = select(
        bucketed.c.member_id,
        bucketed.c.last_paid_at,
        bucketed.c.frequency,
        bucketed.c.monetary,
        func.min(bucketed.c.r0).over(partition_by=bucketed.c.last_paid_at).label("r"),
        func.min(bucketed.c.f0).over(partition_by=bucketed.c.frequency).label("f"),
        func.min(bucketed.c.m0).over(partition_by=bucketed.c.monetary).label("m"),
    ).subquery("tied")
    rows = select(
        tied.c.member_id,
        literal(workspace_id),
        tied.c.last_paid_at,
        tied.c.frequency,
        tied.c.monetary,
        tied.c.r,
        tied.c.f,
        tied.c.m,
        _cell(tied.c.r, tied.c.f, tied.c.m, high),
        _ts(now),
    )
    session.execute(delete(_R).where(_R.c.workspace_id == workspace_id))
    session.execute(
        _R.insert().from_select(
            [
                "member_id",
                "workspace_id",
                "last_paid_at",
                "frequency",
                "monetary",
                "r",
                "f",
                "m",
                "cell",
                "computed_at",
            ],
            rows,
        )
    )


def count_cells(session: Session, workspace_id: int) -> dict[RfmCell, int]:
    rows = session.execute(
        select(_R.c.cell, func.count()).where(_R.c.workspace_id == workspace_id).group_by(_R.c.cell)
    )
    return {RfmCell(c): int(n) for c, n in rows}


def get_member_rfm(session: Session, member_id: int) -> MemberRfm | None:
    return session.get(MemberRfm, member_id)


def rfm_member_ids(workspace_id: int, cells: Collection[RfmCell]) -> Select[int]:
    return select(_R.c.member_id).where(
        _R.c.workspace_id == workspace_id, _R.c.cell.in_(list(cells))
    )
