"""Jobs of the WeChat border: process accepted pushes, send late replies, requeue lost jobs."""

from __future__ import annotations

import threading
import time
from collections.abc import Collection
from typing import Any

from huey import crontab
from huey.api import Task
from huey.exceptions import RetryTask

from siyu.core import clock, jobs
from siyu.core.config import current_settings
from siyu.core.db import Database, get_database
from siyu.core.errors import SiyuError
from siyu.core.jobs import job, queue
from siyu.core.logging import get_logger
from siyu.identity import service as identity
from siyu.identity.schemas import PersonRef
from siyu.wechat import inbox
from siyu.wechat.gateway import (
    SystemBusy,
    TokenInvalid,
    UserStateError,
    WeChatError,
    WeChatUnavailable,
)
from siyu.wechat.schemas import CustomMessage
from siyu.wechat.tokens import shared_gateway
from siyu.workspaces import service as workspaces

log = get_logger(__name__)


class PushesFailed(Exception):
    """Some pushes of a batch could not be processed; the task is retried for them."""


@job("wechat.process_pushes", retries=3, retry_delay=5, context=True)
def process_pushes(
    push_ids: list[int], answer_late: list[int] | None = None, task: Task | None = None
) -> None:
    """Process the pushes stored together (`push_ids`), then any others still waiting, oldest
    first, until none is left: the table of stored pushes, not the queue, says what is to do,
    so a job lost with a killed worker or a lost queue costs nothing once any job runs.

    Pushes go in batches, each in one transaction; a batch that fails is done again one push
    a transaction, so that one failing push holds up no other. This job retries its own
    failed pushes and, on its last try, marks them failed for operators; a waiting push that
    fails here is passed over for a while (`BACKOFF`), and set aside after `ATTEMPTS` tries.
    """
    db = get_database()
    late = set(answer_late or ())
    failed: list[int] = []
    if push_ids:
        for start in range(0, len(push_ids), inbox.BATCH_SIZE):
            chunk = push_ids[start : start + inbox.BATCH_SIZE]
            failed += _claim_and_process(db, chunk, late, ())[1]
    _drain(db, set(failed))
    if not failed:
        return
    if task is None or not task.retries:  # the last try: leave the pushes marked for operators
        with db.session_scope() as session:
            for push_id in failed:
                inbox.mark_failed(session, push_id)
    raise PushesFailed(f"{len(failed)} of {len(push_ids)} pushes failed: {failed[:10]}")


BACKOFF_S = 30.0  # a push that failed in a drain is passed over this long by this process
ATTEMPTS = 4  # tries of a waiting push by the drains of one process before it is set aside
_failing: dict[int, tuple[float, int]] = {}  # push id -> (passed over until, tries)
_failing_lock = threading.Lock()


def _drain(db: Database, own_failed: set[int]) -> None:
    """Claim and process waiting pushes, oldest first, until none is left (but those failing)."""
    while True:
        now = time.monotonic()
        with _failing_lock:
            for push_id in [p for p, (until, _) in _failing.items() if until <= now]:
                if _failing[push_id][1] < ATTEMPTS:
                    del _failing[push_id]  # its next try is due (its count is kept below)
            skip = own_failed | set(_failing)
        claimed, failed = _claim_and_process(db, None, set(), skip)
        for push_id in failed:
            with _failing_lock:
                tries = _failing.get(push_id, (0.0, 0))[1] + 1
                _failing[push_id] = (time.monotonic() + BACKOFF_S, tries)
            if tries >= ATTEMPTS:
                with db.session_scope() as session:
                    inbox.mark_failed(session, push_id)
        if not claimed:
            return


def _claim_and_process(
    db: Database, ids: list[int] | None, late: set[int], skip: Collection[int]
) -> tuple[list[int], list[int]]:
    """One batch: (the pushes claimed, those of them that failed)."""
    claimed: list[inbox.Claimed] = []
    try:
        with db.session_scope() as session:
            claimed = inbox.claim(session, ids=ids, skip=skip)
            inbox.process_claimed(session, claimed, late)
    except Exception:
        if not claimed:
            raise  # the claim itself failed (the database is away): the job is retried
        log.warning("push_batch_failed", count=len(claimed), exc_info=True)
    else:
        return [c.id for c in claimed], []
    failed = []
    for row in claimed:
        try:
            with db.session_scope() as session:
                inbox.process(session, row.id, answer_late=row.id in late)
        except Exception:
            log.exception("push_processing_failed", push_id=row.id)
            failed.append(row.id)
    return [c.id for c in claimed], failed


@job("wechat.send_late_reply", retries=3, retry_delay=10, context=True)
def send_late_reply(
    app_id: int,
    member_id: int | None,
    push_id: int | None,
    message: dict[str, Any],
    task: Task | None = None,
) -> None:
    """Say through the customer-service API what a passive reply missed its budget to say.

    WeChat unreachable: retried (the gateway already retried -1 and 45009). A refusal about
    the user (window closed 45015, its count spent 45047, unfollowed 43004…) will not change
    on retry: it is recorded as `message.failed` on the member's timeline.
    """
    db = get_database()
    with db.session_scope() as session:
        app = workspaces.get_apps_by_id(session, [app_id])[app_id]
    outbound = CustomMessage.model_validate(message)
    props: dict[str, Any] = {"channel": "customer_service", "push_id": push_id}
    try:
        shared_gateway(current_settings(), db).send_custom_message(app.appid, outbound)
        name = "message.sent"
    except WeChatUnavailable:
        if task is not None and task.retries:
            raise
        name, props = "message.failed", {**props, "errcode": -1}
    except WeChatError as exc:
        log.warning("late_reply_refused", appid=app.appid, errcode=exc.errcode)
        name, props = "message.failed", {**props, "errcode": exc.errcode}
    if member_id is None:
        return
    with db.session_scope() as session:
        identity.record_event(
            session,
            app.workspace_id,
            member_id,
            name,
            clock.now(),
            app_id=app.id,
            props={**props, "msgtype": outbound.msgtype},
        )


@job("wechat.fetch_follower_unionid", retries=3, retry_delay=30, context=True)
def fetch_follower_unionid(app_id: int, openid: str, task: Task | None = None) -> None:
    """Ask WeChat for an OA follower's UnionID and give it to the identity hub, which joins the
    follower to the member holding that UnionID (e.g. from the Mini Program's login).

    `user/info` answers a UnionID only for an account bound to an Open Platform account, and
    only for a current follower (fact sheet §2); without one there is nothing to join.
    """
    db = get_database()
    with db.session_scope() as session:
        app = workspaces.get_apps_by_id(session, [app_id])[app_id]
    try:
        info = shared_gateway(current_settings(), db).get_user_info(app.appid, openid)
    except SiyuError as exc:  # no AppSecret: this install cannot call WeChat for the app
        log.info("follower_unionid_unavailable", appid=app.appid, reason=exc.code)
        return
    except UserStateError as exc:  # 40003: not (or no longer) this account's follower
        log.info("follower_unionid_unavailable", appid=app.appid, errcode=exc.errcode)
        return
    except (WeChatUnavailable, SystemBusy, TokenInvalid) as exc:  # busy, unreachable, stale
        _retry_later(task, "follower_unionid", app.appid, exc)
        return
    if not info.unionid:
        return
    person = PersonRef(appid=app.appid, openid=openid, unionid=info.unionid)
    with db.session_scope() as session:
        identity.resolve_member(session, app, person)


def _retry_later(task: Task | None, what: str, appid: str, exc: Exception) -> None:
    """A transient WeChat failure: try again later, with a warning instead of a traceback,
    as many times as the task's retries allow."""
    if task is None or task.retries <= 0:
        log.warning(f"{what}_given_up", appid=appid, error=str(exc)[:200])
        return
    log.warning(f"{what}_retry", appid=appid, error=str(exc)[:200], retries=task.retries)
    task.retries -= 1  # RetryTask puts one back, the requeue takes one: one spent
    raise RetryTask(delay=task.retry_delay or 30) from exc


SWEEP_AGAIN_S = 30  # the minute's sweep looks again this much later: recovery within 60 s


@job("wechat.requeue_stale_pushes", periodic=crontab(minute="*"))
def requeue_stale_pushes() -> None:
    """Wake the workers for pushes whose job was lost; twice a minute (cron ticks each minute)."""
    _sweep()
    sweep_stale_pushes_again.schedule(delay=SWEEP_AGAIN_S)


@job("wechat.sweep_stale_pushes_again")
def sweep_stale_pushes_again() -> None:
    _sweep()


def _sweep() -> None:
    with get_database().session_scope() as session:
        inbox.requeue_stale(session)


@queue.on_startup("wechat.process_waiting_pushes")
def _wake_on_start() -> None:
    """A worker that starts (after a crash, say) takes the pushes left waiting at once."""
    try:
        jobs.enqueue_now("wechat.process_pushes", [])
    except Exception:  # the queue is away: the sweep will do it once it is back
        log.warning("push_wake_up_failed", exc_info=True)
