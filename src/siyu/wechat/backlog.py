"""The push inbox's health for operators: the backlog (`/metrics`, the overview), and the work
set aside (pushes that failed all their tries, UnionIDs WeChat did not give) with retries."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta

from sqlalchemy.orm import Session

from siyu.core import clock
from siyu.security import service as security
from siyu.security.schemas import Principal
from siyu.wechat import inbox, repository, unionid
from siyu.wechat.schemas import PendingUnionid, PushBacklog, SetAside, SetAsidePush
from siyu.workspaces import service as workspaces

LISTED = 200


def push_backlog(session: Session, minutes: int = 5) -> PushBacklog:
    """Every workspace's pushes: how many wait, since when, how many were processed lately.
    (The backlog is the process's, not a workspace's: workers serve them all.)"""
    now = clock.now()
    oldest = repository.oldest_waiting_push(session)
    return PushBacklog(
        waiting=repository.count_waiting_pushes(session),
        oldest_age_seconds=None if oldest is None else max((now - oldest).total_seconds(), 0.0),
        processed_last_minutes=repository.count_processed_since(
            session, now - timedelta(minutes=minutes)
        ),
        minutes=minutes,
    )


def set_aside_work(session: Session, workspace_id: int) -> SetAside:
    """The workspace's pushes set aside and its UnionID fetches not answered, newest first."""
    apps = {a.id: a.appid for a in workspaces.list_apps(session, workspace_id)}
    pushes = [
        SetAsidePush(
            id=p.id,
            appid=apps[p.app_id],
            msg_type=p.msg_type,
            event=p.event,
            received_at=p.received_at,
            failed_at=p.failed_at,
            error=p.error,
        )
        for p in repository.list_failed_pushes(session, list(apps), LISTED)
    ]
    fetches = [
        PendingUnionid(
            id=f.id,
            appid=apps[f.app_id],
            attempts=f.attempts,
            last_error=f.last_error,
            failed_at=f.failed_at,
            next_attempt_at=f.next_attempt_at,
        )
        for f in repository.list_unionid_fetches(session, list(apps), LISTED)
    ]
    return SetAside(
        pushes=pushes,
        pushes_total=repository.count_failed_pushes(session, list(apps)),
        unionids=fetches,
    )


def retry_pushes(session: Session, actor: Principal, push_ids: Sequence[int]) -> list[int]:
    """Queue set-aside pushes of the actor's workspace again; those queued (a second click on
    the same button finds them waiting already, queues nothing and records nothing)."""
    apps = {a.id for a in workspaces.list_apps(session, actor.workspace_id)}
    wanted = set(push_ids)
    listed = repository.list_failed_pushes(session, list(apps), LISTED)
    mine = [p.id for p in listed if p.id in wanted]
    again = inbox.requeue(session, mine)
    if again:
        security.record_audit(
            session,
            actor,
            "wechat.pushes_retried",
            workspace_id=actor.workspace_id,
            target_type="push",
            target_id=again[0] if len(again) == 1 else None,
            detail={"push_ids": again[:100], "count": len(again)},
        )
    return again


def retry_unionid(session: Session, actor: Principal, fetch_id: int) -> bool:
    """Ask WeChat again now for a UnionID fetch that was given up, its attempts counted
    afresh; False if it is not the workspace's, not given up (it retries by itself), or no
    longer there: a second click finds it queued and does nothing."""
    row = repository.get_unionid_fetch_by_id(session, fetch_id)
    apps = {a.id for a in workspaces.list_apps(session, actor.workspace_id)}
    if row is None or row.app_id not in apps or row.next_attempt_at is not None:
        return False
    unionid.requeue_now(session, row)
    security.record_audit(
        session,
        actor,
        "wechat.unionid_retried",
        workspace_id=actor.workspace_id,
        target_type="unionid_fetch",
        target_id=row.id,
        detail={"attempts": row.attempts},
    )
    return True


__all__ = ["push_backlog", "retry_pushes", "retry_unionid", "set_aside_work"]
