"""Jobs of the WeChat border: process accepted pushes, send late replies, requeue lost jobs.

Jobs that call WeChat run on the WeChat lane (`lane=WECHAT_LANE`, core.jobs): threads of their
own, so that WeChat busy or unreachable never holds the threads that process pushes.
"""

from __future__ import annotations

from typing import Any

from huey import crontab
from huey.api import Task

from siyu.core import clock
from siyu.core.config import current_settings
from siyu.core.db import get_database
from siyu.core.errors import SiyuError
from siyu.core.jobs import WECHAT_LANE, job
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
    """Process pushes stored together, each in its own transaction.

    One failing push does not hold up the others; a retry skips those already processed, and
    after the last one the failing pushes are set aside with their error (`inbox.set_aside`).
    """
    db = get_database()
    late = set(answer_late or ())
    failed: dict[int, str] = {}
    for push_id in push_ids:
        try:
            with db.session_scope() as session:
                inbox.process(session, push_id, answer_late=push_id in late)
        except Exception as exc:
            log.exception("push_processing_failed", push_id=push_id)
            failed[push_id] = inbox.describe(exc)
    if not failed:
        return
    if task is None or not task.retries:  # the last try: set them aside for operators
        with db.session_scope() as session:
            inbox.set_aside(session, failed)
        return
    retry = list(failed)
    raise PushesFailed(f"{len(retry)} of {len(push_ids)} pushes failed: {retry[:10]}")


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


@job("wechat.requeue_stale_pushes", periodic=crontab(minute="*"))
def requeue_stale_pushes() -> None:
    with get_database().session_scope() as session:
        inbox.requeue_stale(session)
