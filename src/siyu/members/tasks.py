"""Members' jobs, registered by name: the nightly expiry of points, the reminders before it,
and the level periods' re-qualification with its advance notices."""

from __future__ import annotations

from typing import Any

from huey import crontab

from siyu.core.config import current_settings
from siyu.core.db import get_database
from siyu.core.errors import SiyuError
from siyu.core.jobs import job
from siyu.core.logging import get_logger
from siyu.members import service
from siyu.wechat.schemas import CustomMessage
from siyu.wechat.service import (
    ConnectFailed,
    QuotaExceeded,
    SystemBusy,
    WeChatError,
    shared_gateway,
)
from siyu.workspaces import service as workspaces

log = get_logger(__name__)

EXPIRY_BATCH = 2000


# 16:05 UTC is 00:05 in Beijing: lots expire at the end of a Beijing day.
@job("members.expire_points", periodic=crontab(minute="5", hour="16"))
def expire_points() -> None:
    """Every lot due by now, a batch of members a transaction, until none is left."""
    db = get_database()
    members = points = 0
    while True:
        with db.session_scope() as session:
            run = service.expire_due(session, limit=EXPIRY_BATCH)
        if not run.members:
            break
        members += run.members
        points += run.points
    log.info("points_expired", members=members, points=points)


# 02:00 UTC is 10:00 in Beijing: reminders leave in the daytime, not at midnight.
@job("members.daily_reminders", periodic=crontab(minute="0", hour="2"))
def daily_reminders() -> None:
    """Points about to expire, and members whose level is at risk, are told (reach)."""
    db = get_database()
    with db.session_scope() as session:
        workspaces = service.policy_workspaces(session)
    for workspace_id in workspaces:
        with db.session_scope() as session:
            told = service.remind_expiring(session, workspace_id)
            at_risk = service.notify_at_risk(session, workspace_id)
        log.info("points_reminders", workspace_id=workspace_id, expiry=told, level=at_risk)


@job("members.requalify_levels", periodic=crontab(minute="10", hour="16"))
def requalify_levels() -> None:
    """Level periods that ended are closed (each account once a period)."""
    db = get_database()
    with db.session_scope() as session:
        workspaces = service.policy_workspaces(session)
    for workspace_id in workspaces:
        with db.session_scope() as session:
            done = service.requalify(session, workspace_id)
        log.info("levels_requalified", workspace_id=workspace_id, accounts=done)


log = get_logger(__name__)


@job("members.send_reply", retries=3, retry_delay=10)
def send_reply(app_id: int, message: dict[str, Any]) -> None:
    """A keyword claim's outcome, through the Official Account's customer-service API."""
    db = get_database()
    with db.session_scope() as session:
        appid = workspaces.get_apps_by_id(session, [app_id])[app_id].appid
    outbound = CustomMessage.model_validate(message)
    try:
        shared_gateway(current_settings(), db).send_custom_message(appid, outbound)
    except (SystemBusy, QuotaExceeded, ConnectFailed):
        raise  # WeChat did not take it: Huey's retries try again
    except (WeChatError, SiyuError) as exc:
        log.warning("members_reply_failed", appid=appid, error=str(exc)[:200])
