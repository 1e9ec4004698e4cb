"""RFM (最近一次消费 Recency, 消费频率 Frequency, 消费金额 Monetary): every buyer of the
workspace scored 1–5 by quintiles within it, from `pay.paid` net of `pay.refunded`, and placed
in one of eight cells (README, "RFM"); recomputed nightly, shown on the profile, usable in
segments through `rfm_member_ids`."""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime

from sqlalchemy import Select
from sqlalchemy.orm import Session

from siyu.audience import lifecycle_repository as repository
from siyu.audience.enums import RfmCell
from siyu.audience.schemas import MemberRfmRead, RfmRunReport
from siyu.audience.service.lifecycle import get_tier_policy
from siyu.core import clock
from siyu.identity import service as identity
from siyu.security.schemas import Principal


def compute_rfm(
    session: Session, workspace_id: int, *, now: datetime | None = None
) -> RfmRunReport:
    """Replace the workspace's RFM rows: two statements (a DELETE, an INSERT … SELECT with
    the window functions)."""
    now = now or clock.now()
    policy = get_tier_policy(session, workspace_id)
    repository.tune_for_batch(session)
    repository.replace_rfm(session, workspace_id, now, policy.rfm_high_score)
    by_cell = repository.count_cells(session, workspace_id)
    return RfmRunReport(workspace_id=workspace_id, buyers=sum(by_cell.values()), by_cell=by_cell)


def member_rfm_of(session: Session, member_id: int, number: int) -> MemberRfmRead:
    row = repository.get_member_rfm(session, member_id)
    if row is None:
        return MemberRfmRead(member_number=number, buyer=False)
    return MemberRfmRead(
        member_number=number,
        buyer=True,
        last_paid_at=row.last_paid_at,
        recency_days=max((row.computed_at - row.last_paid_at).days, 0),
        frequency=row.frequency,
        monetary=row.monetary,
        r=row.r,
        f=row.f,
        m=row.m,
        cell=row.cell,
        computed_at=row.computed_at,
    )


def member_rfm(session: Session, principal: Principal, number: int) -> MemberRfmRead:
    """A member's RFM by member number, for an operator who may see the member (audited as a
    view of the member); a member who never paid is `buyer: false`."""
    member = identity.view_member_by_number(session, principal, number)
    return member_rfm_of(session, member.merged_into_id or member.id, number)


def rfm_member_ids(workspace_id: int, cells: Collection[RfmCell]) -> Select[int]:
    """The member ids in any of `cells`, as a selectable to embed in a query (segments)."""
    return repository.rfm_member_ids(workspace_id, cells)


def rfm_cell_counts(session: Session, workspace_id: int) -> dict[RfmCell, int]:
    """Buyers per cell, as of the last computation."""
    return repository.count_cells(session, workspace_id)
