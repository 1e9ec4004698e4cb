"""Settlement: each member's refund by the activity's rule, shown to staff as a draft, then
confirmed once: the refunds are recorded in Pay (fixed out_refund_no) and sent by the job
`community.send_refunds`, after commit. Money never leaves twice."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from siyu.community import errors, repository
from siyu.community.enums import (
    ActivityStatus,
    EnrollmentStatus,
    LineStatus,
    RefundRule,
    SettlementStatus,
)
from siyu.community.models import Activity, Settlement
from siyu.community.schemas import ActivityRead, SettlementLineRead, SettlementRead
from siyu.community.service.common import activity_row, audit, operator_of, today
from siyu.core import clock, jobs
from siyu.security.schemas import Principal
from siyu.wechat.pay import service as pay

SETTLED_BY = "community:settlement"  # who requested the refunds, in Pay's records
SEND_REFUNDS = "community.send_refunds"
REFUND_CHUNK = 200  # refunds per job: one batch, claimed, sent concurrently, recorded at once
SETTLED = (EnrollmentStatus.enrolled, EnrollmentStatus.completed, EnrollmentStatus.failed)
VIEW_LINES = 100  # lines in the view that computing and confirming answer with


def refund_for(activity: Activity | ActivityRead, checkins: int, paid: int) -> tuple[int, str]:
    """The refund a member gets by the activity's rule, and why (never more than paid).

    The why is the settlement's 依据 column, which operators read: it is stored in Chinese."""
    deposit = min(activity.deposit, paid)
    required = activity.checkin_days_required
    rule = activity.refund_rule
    if deposit <= 0 or rule == RefundRule.none:
        return 0, "按退款规则不退"
    if rule == RefundRule.full_at_n:
        n = activity.refund_n or required
        if checkins >= n:
            return deposit, f"打卡 {checkins} 次 ≥ {n} 次：全额退押金"
        return 0, f"打卡 {checkins} 次 < {n} 次：不退"
    if rule == RefundRule.proportional:
        counted = min(checkins, required)
        return deposit * counted // required, f"打卡 {counted}/{required} 次：按比例退押金"
    steps = sorted(activity.refund_table, key=lambda s: int(s["min_days"]))
    percent = 0
    for step in steps:
        if checkins >= int(step["min_days"]):
            percent = int(step["percent"])
    return deposit * percent // 100, f"打卡 {checkins} 次：退押金的 {percent}%"


def compute_settlement(session: Session, workspace_id: int, activity_id: int) -> SettlementRead:
    """Work out each member's refund (a draft staff confirm); computing again replaces it."""
    activity = activity_row(session, workspace_id, activity_id, lock=True)
    if activity.imported:  # its money moved outside siyu: nothing here to settle
        raise errors.SETTLED_ELSEWHERE(
            f"{activity.code} is imported history, settled outside siyu", activity=activity.code
        )
    existing = repository.get_settlement(session, activity.id, lock=True)
    if existing is not None and existing.status == SettlementStatus.confirmed:
        raise errors.ALREADY_SETTLED(f"{activity.code} is settled already")
    if today() <= activity.ends_on:
        raise errors.ACTIVITY_NOT_ENDED(f"{activity.code} ends on {activity.ends_on}")
    now = clock.now()
    if existing is None:
        existing = Settlement(
            activity_id=activity.id, status=SettlementStatus.draft, computed_at=now
        )
        repository.add(session, existing)
    else:
        repository.delete_lines(session, existing.id)
    lines: list[dict[str, Any]] = []
    total_paid = total_refund = 0
    for enrollment_id, member_id, checkins, paid in repository.settled_enrollments(
        session, activity.id, SETTLED
    ):
        refund, reason = refund_for(activity, checkins, paid)
        total_paid += paid
        total_refund += refund
        lines.append(
            {
                "settlement_id": existing.id,
                "enrollment_id": enrollment_id,
                "member_id": member_id,
                "checkins": checkins,
                "paid": paid,
                "refund": refund,
                "reason": reason[:120],
                "status": LineStatus.planned if refund else LineStatus.no_refund,
            }
        )
    repository.add_lines(session, lines)
    existing.computed_at, existing.members = now, len(lines)
    existing.total_paid, existing.total_refund = total_paid, total_refund
    session.flush()
    return settlement_view(session, workspace_id, activity.id, limit=VIEW_LINES)


def settlement_view(
    session: Session,
    workspace_id: int,
    activity_id: int,
    *,
    limit: int = 200,
    offset: int = 0,
    problems_only: bool = False,
) -> SettlementRead:
    """The settlement with its lines and, once confirmed, Pay's state of each refund."""
    activity = activity_row(session, workspace_id, activity_id)
    settlement = repository.get_settlement(session, activity.id)
    if settlement is None:
        raise errors.settlement_not_found(f"{activity.code} has no settlement yet")
    view = SettlementRead.model_validate(settlement)
    states = pay.refund_states(session, repository.line_refund_ids(session, settlement.id))
    outcome: dict[str, int] = {}
    for status, _error in states.values():
        outcome[status] = outcome.get(status, 0) + 1
    view.outcome = outcome
    troubled = None
    if problems_only:
        troubled = [rid for rid, (s, _e) in states.items() if s not in ("succeeded", "processing")]
    lines = repository.list_lines(
        session, settlement.id, refund_ids=troubled, limit=limit, offset=offset
    )
    for line in lines:
        read = SettlementLineRead.model_validate(line)
        if line.refund_id in states:
            read.refund_status, read.refund_error = states[line.refund_id]
        view.lines.append(read)
    return view


@dataclass(frozen=True)
class Confirmed:
    settlement: SettlementRead
    refund_ids: list[int]


def confirm_settlement(
    session: Session, workspace_id: int, activity_id: int, *, actor: Principal | str
) -> Confirmed:
    """Staff confirm: each planned refund becomes a Pay refund (its out_refund_no fixed, so
    resending never pays twice), sent by jobs after commit; confirming again is refused.

    `actor` is the operator who confirms (or a label where a program does: no operator).
    """
    activity = activity_row(session, workspace_id, activity_id, lock=True)
    settlement = repository.get_settlement(session, activity.id, lock=True)
    if settlement is None:
        raise errors.NO_SETTLEMENT("compute the settlement first")
    if settlement.status == SettlementStatus.confirmed:
        raise errors.ALREADY_SETTLED(f"{activity.code} is settled already")
    lines = repository.lines_to_confirm(session, settlement.id)
    required = activity.checkin_days_required
    now = clock.now()
    # In bulk: a settlement of 20,000 members is confirmed within one request.
    for status, wanted in ((EnrollmentStatus.completed, True), (EnrollmentStatus.failed, False)):
        ids = [line[1] for line in lines if (line[4] >= required) == wanted]
        repository.set_statuses(session, ids, status, now)
    owed = [(line[0], line[3], line[2]) for line in lines if line[2] > 0 and line[3] is not None]
    made = pay.request_refunds(
        session,
        workspace_id,
        [pay.RefundAsk(order_id, refund) for _line, order_id, refund in owed],
        f"{activity.title}押金退还"[:80],
        requested_by=SETTLED_BY,
    )
    repository.mark_lines_requested(
        session,
        (
            (line_id, refund.id)
            for (line_id, _order, _amount), refund in zip(owed, made, strict=True)
        ),
    )
    refund_ids = [refund.id for refund in made]
    settlement.status, settlement.confirmed_at, settlement.confirmed_by = (
        SettlementStatus.confirmed,
        now,
        operator_of(actor),
    )
    activity.status, activity.updated_at = ActivityStatus.settled, now
    session.flush()
    view = settlement_view(session, workspace_id, activity.id, limit=VIEW_LINES)
    detail = {"refunds": len(refund_ids), "total_refund_fen": view.total_refund}
    target = ("activity", activity_id)
    audit(session, workspace_id, actor, "community.settlement_confirmed", target, detail=detail)
    for start in range(0, len(refund_ids), REFUND_CHUNK):
        jobs.enqueue(session, SEND_REFUNDS, refund_ids[start : start + REFUND_CHUNK])
    return Confirmed(view, refund_ids)
