"""Jobs of the WeChat border: process accepted pushes, send late replies, requeue lost jobs.

Jobs that call WeChat run on the WeChat lane (`lane=WECHAT_LANE`, core.jobs): threads of their
own, so that WeChat busy or unreachable never holds the threads that process pushes.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Collection
from typing import Any

from huey import crontab
from huey.api import Task

from siyu.core import clock, jobs
from siyu.core.config import current_settings
from siyu.core.db import Database, get_database
from siyu.core.errors import SiyuError
from siyu.core.jobs import WECHAT_LANE, job, on_queue_lost, queue
from siyu.core.logging import get_logger
from siyu.identity import service as identity
from siyu.identity.schemas import PersonRef
from siyu.wechat import inbox, unionid
from siyu.wechat.gateway import UserStateError, WeChatError, WeChatUnavailable
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
    failed pushes and, on its last try, sets them aside with their error; a waiting push that
    fails here is passed over for a while (`BACKOFF`), and set aside after `ATTEMPTS` tries.
    """
    db = get_database()
    late = set(answer_late or ())
    failed: dict[int, str] = {}
    if push_ids:
        for start in range(0, len(push_ids), inbox.BATCH_SIZE):
            chunk = push_ids[start : start + inbox.BATCH_SIZE]
            failed.update(_claim_and_process(db, chunk, late, ())[1])
    _drain(db, set(failed))
    if not failed:
        return
    if task is None or not task.retries:  # the last try: set them aside for operators
        with db.session_scope() as session:
            inbox.set_aside(session, failed)
        return
    retry = list(failed)
    raise PushesFailed(f"{len(retry)} of {len(push_ids)} pushes failed: {retry[:10]}")


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
        for push_id, error in failed.items():
            with _failing_lock:
                tries = _failing.get(push_id, (0.0, 0))[1] + 1
                _failing[push_id] = (time.monotonic() + BACKOFF_S, tries)
            if tries >= ATTEMPTS:
                with db.session_scope() as session:
                    inbox.set_aside(session, {push_id: error})
        if not claimed:
            return


def _claim_and_process(
    db: Database, ids: list[int] | None, late: set[int], skip: Collection[int]
) -> tuple[list[int], dict[int, str]]:
    """One batch: (the pushes claimed, those of them that failed with their error)."""
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
        return [c.id for c in claimed], {}
    failed: dict[int, str] = {}
    for row in claimed:
        try:
            with db.session_scope() as session:
                inbox.process(session, row.id, answer_late=row.id in late)
        except Exception as exc:
            log.exception("push_processing_failed", push_id=row.id)
            failed[row.id] = inbox.describe(exc)
    return [c.id for c in claimed], failed


@job("wechat.send_late_reply", retries=3, retry_delay=10, context=True, lane=WECHAT_LANE)
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


@job(unionid.FETCH_JOB, lane=WECHAT_LANE)
def fetch_follower_unionid(app_id: int, openid: str) -> None:
    """Ask WeChat for an OA follower's UnionID and give it to the identity hub, which joins the
    follower to the member holding that UnionID (e.g. from the Mini Program's login).

    `user/info` answers a UnionID only for an account bound to an Open Platform account, and
    only for a current follower (fact sheet §2); without one there is nothing to join. When
    WeChat does not answer, the fetch is remembered and asked again later (`unionid`), never
    retried here: the gateway already tried three times, and a retry waiting in the queue would
    be lost with it.
    """
    db = get_database()
    with db.session_scope() as session:
        app = workspaces.get_apps_by_id(session, [app_id])[app_id]
    try:
        info = shared_gateway(current_settings(), db).get_user_info(app.appid, openid)
    except SiyuError as exc:  # no AppSecret: this install cannot call WeChat for the app
        log.info("follower_unionid_unavailable", appid=app.appid, reason=exc.code)
        info = None
    except UserStateError as exc:  # 40003: not (or no longer) this account's follower
        log.info("follower_unionid_unavailable", appid=app.appid, errcode=exc.errcode)
        info = None
    except WeChatError as exc:  # busy (-1), unreachable, a stale token, out of quota
        with db.session_scope() as session:
            row = unionid.record_failure(session, app_id, openid, _describe(exc))
        log.warning(
            "follower_unionid_retry_later" if row.next_attempt_at else "follower_unionid_given_up",
            appid=app.appid,
            errcode=exc.errcode,
            error=str(exc)[:200],
            attempts=row.attempts,
        )
        return
    with db.session_scope() as session:
        if info is not None and info.unionid:
            person = PersonRef(appid=app.appid, openid=openid, unionid=info.unionid)
            identity.resolve_member(session, app, person)
        unionid.record_answer(session, app_id, openid)


def _describe(exc: WeChatError) -> str:
    kind = "unreachable" if isinstance(exc, WeChatUnavailable) else type(exc).__name__
    return f"{exc.errcode} {kind}: {str(exc)[:200]}"


@job("wechat.retry_unionid_fetches", periodic=crontab(minute="*"))
def retry_unionid_fetches() -> None:
    """Ask again, on the WeChat lane, for the UnionIDs whose fetch failed and is due."""
    with get_database().session_scope() as session:
        count = unionid.requeue_due(session)
    if count:
        log.info("follower_unionid_requeued", count=count)


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


@on_queue_lost("wechat.process_waiting_pushes")
def _wake_after_queue_lost() -> None:
    """Redis lost its data: the pushes stored meanwhile are taken at once, not at the sweep."""
    jobs.enqueue_now("wechat.process_pushes", [])
