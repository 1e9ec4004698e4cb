"""Sales leads' queries: settings, rules, scores, leads, claims, follow-ups, notices."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import date, datetime
from typing import Any

from sqlalchemy import Select, delete, func, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from siyu.audience.enums import OPEN_LEAD_STATUSES, LeadStatus
from siyu.audience.models import (
    Lead,
    LeadClaimDay,
    LeadFollowUp,
    LeadNotice,
    LeadRule,
    LeadScore,
    LeadSettings,
)

CHUNK = 5_000  # rows per multi-row statement


def _pg(session: Session) -> bool:
    return session.get_bind().dialect.name == "postgresql"


def _insert(session: Session, model: Any) -> Any:
    return (postgresql.insert if _pg(session) else sqlite.insert)(model)


def add(session: Session, row: Any) -> None:
    session.add(row)
    session.flush()


# --- settings and rules -----------------------------------------------------------------------


def get_settings(session: Session, workspace_id: int, *, lock: bool = False) -> LeadSettings | None:
    return session.get(LeadSettings, workspace_id, with_for_update=lock)


def list_settings(session: Session) -> Sequence[LeadSettings]:
    return session.scalars(select(LeadSettings).order_by(LeadSettings.workspace_id)).all()


def list_stale_workspaces(session: Session) -> list[int]:
    return list(
        session.scalars(
            select(LeadSettings.workspace_id)
            .where(LeadSettings.scores_stale.is_(True))
            .order_by(LeadSettings.workspace_id)
        )
    )


def mark_scores_stale(session: Session, workspace_id: int) -> None:
    """One conditional update: a row already stale is neither touched nor locked."""
    session.execute(
        update(LeadSettings)
        .where(LeadSettings.workspace_id == workspace_id, LeadSettings.scores_stale.is_(False))
        .values(scores_stale=True)
        .execution_options(synchronize_session=False)
    )


def finish_scoring(session: Session, workspace_id: int, now: datetime) -> None:
    session.execute(
        update(LeadSettings)
        .where(LeadSettings.workspace_id == workspace_id)
        .values(scores_stale=False, scored_at=now)
        .execution_options(synchronize_session=False)
    )


def list_rules(
    session: Session, workspace_id: int, *, enabled_only: bool = False
) -> Sequence[LeadRule]:
    query = select(LeadRule).where(LeadRule.workspace_id == workspace_id)
    if enabled_only:
        query = query.where(LeadRule.enabled.is_(True))
    return session.scalars(query.order_by(LeadRule.id)).all()


def get_rule(session: Session, rule_id: int) -> LeadRule | None:
    return session.get(LeadRule, rule_id)


def get_rule_by_name(session: Session, workspace_id: int, name: str) -> LeadRule | None:
    return session.scalar(
        select(LeadRule).where(LeadRule.workspace_id == workspace_id, LeadRule.name == name)
    )


def delete_rule(session: Session, rule: LeadRule) -> None:
    session.delete(rule)
    session.flush()


# --- scores -----------------------------------------------------------------------------------


def replace_scores(session: Session, workspace_id: int, rows: Sequence[dict[str, Any]]) -> None:
    """The workspace's scores become `rows` (member_id, workspace_id, score, reasons,
    scored_at): one delete, then multi-row inserts."""
    session.execute(delete(LeadScore).where(LeadScore.workspace_id == workspace_id))
    for start in range(0, len(rows), CHUNK):
        session.execute(insert(LeadScore), list(rows[start : start + CHUNK]))


def get_score(session: Session, member_id: int) -> LeadScore | None:
    return session.get(LeadScore, member_id)


def scores_at_least(session: Session, workspace_id: int, threshold: int) -> Select[Any]:
    """Members scoring at least `threshold`, without a lead yet (ids, scores, reasons)."""
    return (
        select(LeadScore.member_id, LeadScore.score, LeadScore.reasons)
        .where(
            LeadScore.workspace_id == workspace_id,
            LeadScore.score >= threshold,
            LeadScore.member_id.not_in(
                select(Lead.member_id).where(Lead.workspace_id == workspace_id)
            ),
        )
        .order_by(LeadScore.score.desc(), LeadScore.member_id)
    )


def new_lead_candidates(
    session: Session, workspace_id: int, threshold: int
) -> list[tuple[int, int, list[dict[str, Any]]]]:
    rows = session.execute(scores_at_least(session, workspace_id, threshold))
    return [(int(m), int(s), list(r or [])) for m, s, r in rows]


def refresh_open_lead_scores(session: Session, workspace_id: int, now: datetime) -> None:
    """Open leads carry their member's latest score and reasons (one statement)."""
    latest = select(LeadScore.score).where(LeadScore.member_id == Lead.member_id).scalar_subquery()
    reasons = (
        select(LeadScore.reasons).where(LeadScore.member_id == Lead.member_id).scalar_subquery()
    )
    session.execute(
        update(Lead)
        .where(
            Lead.workspace_id == workspace_id,
            Lead.status.in_(OPEN_LEAD_STATUSES),
            Lead.member_id.in_(select(LeadScore.member_id)),
            Lead.score != latest,
        )
        .values(score=latest, reasons=reasons, updated_at=now)
        .execution_options(synchronize_session=False)
    )


# --- leads ------------------------------------------------------------------------------------


def add_leads(session: Session, rows: Sequence[dict[str, Any]]) -> list[tuple[int, int]]:
    """Insert leads (a member with a lead already is skipped); (lead id, member id) made."""
    made: list[tuple[int, int]] = []
    for start in range(0, len(rows), CHUNK):
        statement = (
            _insert(session, Lead)
            .values(list(rows[start : start + CHUNK]))
            .on_conflict_do_nothing(index_elements=["workspace_id", "member_id"])
            .returning(Lead.id, Lead.member_id)
        )
        made.extend((int(i), int(m)) for i, m in session.execute(statement))
    return made


def get_lead(session: Session, lead_id: int, *, lock: bool = False) -> Lead | None:
    return session.get(Lead, lead_id, with_for_update=lock)


def get_lead_of_member(session: Session, workspace_id: int, member_id: int) -> Lead | None:
    return session.scalar(
        select(Lead).where(Lead.workspace_id == workspace_id, Lead.member_id == member_id)
    )


def _leads_query(
    workspace_id: int, *, owner_id: int | None, pool: bool, status: LeadStatus | None
) -> Select[Any]:
    query = select(Lead).where(Lead.workspace_id == workspace_id)
    if pool:
        query = query.where(Lead.owner_id.is_(None), Lead.status.in_(OPEN_LEAD_STATUSES))
    elif owner_id is not None:
        query = query.where(Lead.owner_id == owner_id)
    if status is not None:
        query = query.where(Lead.status == status)
    return query


def list_leads(
    session: Session,
    workspace_id: int,
    *,
    owner_id: int | None = None,
    pool: bool = False,
    status: LeadStatus | None = None,
    offset: int = 0,
    limit: int = 50,
) -> Sequence[Lead]:
    query = _leads_query(workspace_id, owner_id=owner_id, pool=pool, status=status)
    return session.scalars(
        query.order_by(Lead.score.desc(), Lead.id).offset(offset).limit(limit)
    ).all()


def count_leads(
    session: Session,
    workspace_id: int,
    *,
    owner_id: int | None = None,
    pool: bool = False,
    status: LeadStatus | None = None,
) -> int:
    query = _leads_query(workspace_id, owner_id=owner_id, pool=pool, status=status)
    return int(session.scalar(select(func.count()).select_from(query.subquery())) or 0)


def open_counts_by_owner(session: Session, workspace_id: int) -> dict[int, int]:
    rows = session.execute(
        select(Lead.owner_id, func.count())
        .where(
            Lead.workspace_id == workspace_id,
            Lead.owner_id.is_not(None),
            Lead.status.in_(OPEN_LEAD_STATUSES),
        )
        .group_by(Lead.owner_id)
    )
    return {int(o or 0): int(c) for o, c in rows}


def take_claim_slot(
    session: Session, workspace_id: int, operator_id: int, day: date, cap: int
) -> bool:
    """Count one claim for the operator's day unless the cap is reached: a conditional update
    of one row, so that concurrent claims queue on its lock and never pass the cap."""
    session.execute(
        _insert(session, LeadClaimDay)
        .values(operator_id=operator_id, day=day, workspace_id=workspace_id, claimed=0)
        .on_conflict_do_nothing(index_elements=["operator_id", "day"])
    )
    taken = session.scalar(
        update(LeadClaimDay)
        .where(
            LeadClaimDay.operator_id == operator_id,
            LeadClaimDay.day == day,
            LeadClaimDay.claimed < cap,
        )
        .values(claimed=LeadClaimDay.claimed + 1)
        .returning(LeadClaimDay.claimed)
        .execution_options(synchronize_session=False)
    )
    return taken is not None


def claimed_on(session: Session, operator_id: int, day: date) -> int:
    row = session.get(LeadClaimDay, (operator_id, day))
    return row.claimed if row is not None else 0


def take_lead(
    session: Session, workspace_id: int, lead_id: int, operator_id: int, now: datetime
) -> bool:
    """Give a pool lead to the operator, if it is still in the pool (one conditional update)."""
    taken = session.scalar(
        update(Lead)
        .where(
            Lead.id == lead_id,
            Lead.workspace_id == workspace_id,
            Lead.owner_id.is_(None),
            Lead.status.in_(OPEN_LEAD_STATUSES),
        )
        .values(
            owner_id=operator_id, assigned_at=now, warned_at=None, reminded_at=None, updated_at=now
        )
        .returning(Lead.id)
        .execution_options(synchronize_session=False)
    )
    return taken is not None


def win_lead(
    session: Session, workspace_id: int, member_id: int, order_id: int, now: datetime
) -> tuple[int, int | None] | None:
    """The member's open lead won by an order (a won or lost one stays): (id, owner) or None."""
    row = session.execute(
        update(Lead)
        .where(
            Lead.workspace_id == workspace_id,
            Lead.member_id == member_id,
            Lead.status.in_(OPEN_LEAD_STATUSES),
        )
        .values(
            status=LeadStatus.won, won_at=now, won_order_id=order_id, closed_at=now, updated_at=now
        )
        .returning(Lead.id, Lead.owner_id)
        .execution_options(synchronize_session=False)
    ).first()
    return None if row is None else (int(row[0]), None if row[1] is None else int(row[1]))


def reload(session: Session, row: Any) -> None:
    session.refresh(row)


# --- follow-ups and notices -------------------------------------------------------------------


def list_follow_ups(session: Session, lead_id: int) -> Sequence[LeadFollowUp]:
    return session.scalars(
        select(LeadFollowUp)
        .where(LeadFollowUp.lead_id == lead_id)
        .order_by(LeadFollowUp.created_at.desc(), LeadFollowUp.id.desc())
    ).all()


def owned_open_leads(session: Session, workspace_id: int) -> Sequence[Lead]:
    """Open leads that have an owner (what the sweep looks at), locked (SKIP LOCKED on
    PostgreSQL: a lead being claimed or followed up now is looked at next time)."""
    query = (
        select(Lead)
        .where(
            Lead.workspace_id == workspace_id,
            Lead.owner_id.is_not(None),
            Lead.status.in_(OPEN_LEAD_STATUSES),
        )
        .order_by(Lead.id)
    )
    if _pg(session):
        query = query.with_for_update(skip_locked=True)
    return session.scalars(query).all()


def add_notices(session: Session, rows: Iterable[dict[str, Any]]) -> int:
    """Insert notices; one already given (same lead, kind and due time) is skipped."""
    values = list(rows)
    if not values:
        return 0
    made = session.scalars(
        _insert(session, LeadNotice)
        .values(values)
        .on_conflict_do_nothing(index_elements=["lead_id", "kind", "due_at"])
        .returning(LeadNotice.id)
    ).all()
    return len(made)


def list_notices(
    session: Session, workspace_id: int, operator_id: int, *, limit: int = 50
) -> Sequence[LeadNotice]:
    return session.scalars(
        select(LeadNotice)
        .where(LeadNotice.workspace_id == workspace_id, LeadNotice.operator_id == operator_id)
        .order_by(LeadNotice.created_at.desc(), LeadNotice.id.desc())
        .limit(limit)
    ).all()


def report_rows(
    session: Session, workspace_id: int
) -> list[tuple[int, datetime | None, datetime | None, LeadStatus]]:
    """(owner, assigned_at, first_contact_at, status) of every owned lead."""
    rows = session.execute(
        select(Lead.owner_id, Lead.assigned_at, Lead.first_contact_at, Lead.status).where(
            Lead.workspace_id == workspace_id, Lead.owner_id.is_not(None)
        )
    )
    return [(int(o or 0), a, f, LeadStatus(s)) for o, a, f, s in rows]
