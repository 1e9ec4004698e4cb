"""Audience's jobs, registered by name."""

from __future__ import annotations

from huey import crontab

from siyu.audience import service
from siyu.core.db import get_database
from siyu.core.jobs import job
from siyu.core.logging import get_logger
from siyu.workspaces import service as workspaces

log = get_logger(__name__)

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
