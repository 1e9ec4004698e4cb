"""Audience's jobs, registered by name: segment refreshes (one, and each minute the stale
ones), lead scoring and sweeps, and the nightly lifecycle tiers and RFM."""

from __future__ import annotations

from huey import crontab

from siyu.audience import service
from siyu.core.db import get_database
from siyu.core.errors import SiyuError
from siyu.core.jobs import job
from siyu.core.logging import get_logger
from siyu.workspaces import service as workspaces

log = get_logger(__name__)


@job("audience.refresh_segment")
def refresh_segment(segment_id: int) -> None:
    """Refresh one segment (after its creation or a change of its definition)."""
    try:
        with get_database().session_scope() as session:
            service.refresh_segment(session, segment_id, actor="system:audience")
    except SiyuError as exc:  # deleted since, or its definition names what is gone
        log.warning("segment_refresh_refused", segment_id=segment_id, code=exc.code)


@job("audience.refresh_segments", periodic=crontab(minute="*"))
def refresh_segments() -> None:
    """Each due segment in its own transaction: one that fails (a definition referring to an
    app since removed) is logged and does not hold back the others."""
    db = get_database()
    with db.session_scope() as session:
        due = service.due_segments(session)
    for segment_id in due:
        try:
            with db.session_scope() as session:
                service.refresh_segment(session, segment_id, actor="system:audience")
        except SiyuError as exc:
            log.warning("segment_refresh_refused", segment_id=segment_id, code=exc.code)


# --- sales leads (线索) ----------------------------------------------------------------------


def _each_workspace(workspace_ids: list[int], run: str) -> None:
    db = get_database()
    for workspace_id in workspace_ids:
        try:
            with db.session_scope() as session:
                if run == "score":
                    service.leads.score_workspace(session, workspace_id, actor="system:audience")
                else:
                    service.leads.sweep_workspace(session, workspace_id)
        except SiyuError as exc:  # a rule naming a segment since deleted: logged, others go on
            log.warning("leads_refused", workspace_id=workspace_id, run=run, code=exc.code)


@job("audience.score_leads", periodic=crontab(minute="*"))
def score_leads() -> None:
    """Each minute, the workspaces whose events changed since their last scoring."""
    with get_database().session_scope() as session:
        due = service.leads.stale_workspaces(session)
    _each_workspace(due, "score")


@job("audience.score_leads_nightly", periodic=crontab(minute="30", hour="19"))
def score_leads_nightly() -> None:
    """03:30 in Beijing: every workspace (decay and silence move scores without events)."""
    with get_database().session_scope() as session:
        due = service.leads.scored_workspaces(session)
    _each_workspace(due, "score")


@job("audience.sweep_leads", periodic=crontab(minute="5"))
def sweep_leads() -> None:
    """Hourly: reminders, reclaim warnings a day ahead, and leads back to the pool."""
    with get_database().session_scope() as session:
        due = service.leads.swept_workspaces(session)
    _each_workspace(due, "sweep")


# --- lifecycle tiers and RFM ------------------------------------------------------------------

# 19:10 UTC is 03:10 in Beijing: after the day's last pushes, before anyone reads the console.
NIGHTLY = crontab(hour="19", minute="10")


def _workspaces(workspace_id: int | None) -> list[int]:
    if workspace_id is not None:
        return [workspace_id]
    with get_database().session_scope() as session:
        return [w.id for w in workspaces.list_workspaces(session)]


@job("audience.compute_tiers", periodic=NIGHTLY)
def compute_tiers(workspace_id: int | None = None) -> None:
    """Every member's lifecycle tier (nightly, and after a policy change): one transaction
    per workspace."""
    for ws in _workspaces(workspace_id):
        with get_database().session_scope() as session:
            report = service.compute_tiers(session, ws)
        log.info(
            "audience_tiers_computed", workspace_id=ws, members=report.members, moved=report.moved
        )


@job("audience.compute_rfm", periodic=NIGHTLY)
def compute_rfm(workspace_id: int | None = None) -> None:
    """Every buyer's RFM scores and cell (nightly): one transaction per workspace."""
    for ws in _workspaces(workspace_id):
        with get_database().session_scope() as session:
            report = service.compute_rfm(session, ws)
        log.info("audience_rfm_computed", workspace_id=ws, buyers=report.buyers)


@job("audience.sync_oa_tag")
def sync_oa_tag(sync_id: int) -> None:
    """Run or resume an OA tag sync to its end. A refusal is kept on the sync (its report
    names it) and logged; the operator starts it again, which resumes where it stopped."""
    try:
        service.sync_oa_tag(get_database(), sync_id)
    except SiyuError as exc:
        log.warning("audience_oa_tag_sync_refused", sync=sync_id, code=exc.code)
