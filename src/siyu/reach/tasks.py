"""Reach jobs: deliver a send (never twice), look again at held sends, advance broadcasts."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from typing import Any

from huey import crontab

from siyu.core.config import current_settings
from siyu.core.db import get_database
from siyu.core.errors import SiyuError
from siyu.core.jobs import enqueue_now, job, on_queue_lost
from siyu.core.logging import get_logger
from siyu.reach import service
from siyu.wechat.schemas import CustomMessage, SubscribeMessage, TemplateMessage
from siyu.wechat.service import (
    ConnectFailed,
    Gateway,
    QuotaExceeded,
    SystemBusy,
    UserStateError,
    WeChatError,
    WeChatUnavailable,
    shared_gateway,
)

log = get_logger(__name__)
BACKOFF_S = 30
MAX_BACKOFF_S = 3600
# Calls to WeChat in flight at once per delivery batch. WeChat documents daily quotas for
# these sends (template 100,000, customer service 500,000, subscribe 10-30 million a day;
# fact sheet §2.4, §2.5, §3) and answers 45009 beyond them, but no per-second rate: a
# question on its forum about the template send's per-second limit was answered that none
# applies within the operating rules
# (developers.weixin.qq.com/community/develop/doc/0002aeb26fcaa8c6ee4dc21a351000). So the
# bound is ours: enough calls in flight to hide WeChat's latency, no more than the gateway's
# connection pool keeps alive (`siyu.wechat.gateway.POOL_CONNECTIONS`).
CONCURRENCY = 16


def _backoff(attempt: int) -> int:
    return int(min(BACKOFF_S * 2 ** (attempt - 1), MAX_BACKOFF_S))


def _call(gateway: Gateway, out: service.Outbound) -> int | None:
    if out.channel == "oa_template":
        message = TemplateMessage(
            touser=out.openid,
            template_id=out.template_id,
            data=out.values,
            url=out.url,
            # WeChat sends a (touser, client_msg_id) pair once: a retry cannot duplicate it.
            client_msg_id=f"siyu-send-{out.send_id}",
        )
        return gateway.send_template_message(out.appid, message)
    if out.channel == "mp_subscribe":
        subscribe = SubscribeMessage(
            touser=out.openid, template_id=out.template_id, data=out.values, page=out.page
        )
        return gateway.send_subscribe_message(out.appid, subscribe)
    gateway.send_custom_message(out.appid, CustomMessage.text(out.openid, out.text))
    return None


def _may_retry(out: service.Outbound, exc: WeChatError) -> bool:
    """Whether another try cannot make a second message: WeChat said it did not send (-1,
    45009), the request never left, or the channel de-duplicates (client_msg_id)."""
    if isinstance(exc, SystemBusy | QuotaExceeded | ConnectFailed):
        return True
    return out.channel == "oa_template" and isinstance(exc, WeChatUnavailable)


@job("reach.deliver")
def deliver(send_id: int) -> None:
    """Send one queued notice (a retry, or a send queued before batches): a batch of one."""
    deliver_sends([send_id])


@job("reach.deliver_batch")
def deliver_batch(send_ids: list[int]) -> None:
    """Send a batch of queued notices: claimed in one transaction, sent concurrently outside
    any, recorded in a third. A job run twice finds its sends claimed and sends nothing."""
    deliver_sends(send_ids)


def deliver_sends(send_ids: list[int]) -> None:
    db = get_database()
    with db.session_scope() as session:
        claimed = service.claim_batch(session, send_ids)
    if not claimed:
        return
    outcomes = call_concurrently(shared_gateway(current_settings(), db), claimed)
    with db.session_scope() as session:
        again = service.record_outcomes(session, outcomes)
    for attempt, ids in again.items():
        deliver_batch.schedule((ids,), delay=_backoff(attempt))


def call_concurrently(
    gateway: Gateway, claimed: list[service.Outbound], concurrency: int = CONCURRENCY
) -> service.Outcomes:
    """Call WeChat for each claimed send, `concurrency` calls at a time. Sends to one user go
    one after another (WeChat refuses concurrent sends to the same user with 43108, fact
    sheet §14); after a 45009 (the app's quota for the day is spent, §2.4, §2.5, §3) the
    batch's other sends of that app are not tried: they go back to the queue."""
    outcomes = service.Outcomes()
    exhausted: set[str] = set()
    lock = threading.Lock()

    def run(group: list[service.Outbound]) -> None:
        for out in group:
            with lock:
                spent = out.appid in exhausted
            if spent:
                with lock:
                    outcomes.retry[out.send_id] = 45009
                continue
            _attempt(gateway, out, outcomes, lock, exhausted)

    by_user: dict[tuple[str, str], list[service.Outbound]] = {}
    for out in claimed:
        by_user.setdefault((out.appid, out.openid), []).append(out)
    groups = list(by_user.values())
    if len(groups) == 1 or concurrency <= 1:
        for group in groups:
            run(group)
        return outcomes
    list(_pool(concurrency).map(run, groups))
    return outcomes


def _attempt(
    gateway: Gateway,
    out: service.Outbound,
    outcomes: service.Outcomes,
    lock: threading.Lock,
    exhausted: set[str],
) -> None:
    """One call, its outcome written into `outcomes` (sent, to retry, or refused)."""
    try:
        msgid = _call(gateway, out)
    except SiyuError as exc:  # the app has no AppSecret here: nothing can be sent
        with lock:
            outcomes.refused[out.send_id] = (0, exc.code)
        return
    except WeChatError as exc:
        if _may_retry(out, exc):
            with lock:
                outcomes.retry[out.send_id] = exc.errcode
                if isinstance(exc, QuotaExceeded):
                    exhausted.add(out.appid)
            return
        reason = "refused" if isinstance(exc, UserStateError) else "error"
        if isinstance(exc, WeChatUnavailable):
            reason = "outcome_unknown"  # the request may have arrived: never sent twice
        log.warning("reach_send_refused", send_id=out.send_id, errcode=exc.errcode)
        with lock:
            outcomes.refused[out.send_id] = (exc.errcode, reason)
        return
    with lock:
        outcomes.sent[out.send_id] = None if msgid is None else str(msgid)


_pools: dict[int, ThreadPoolExecutor] = {}
_pools_lock = threading.Lock()


def _pool(size: int) -> ThreadPoolExecutor:
    """One pool of calling threads per process and size, reused by every batch."""
    with _pools_lock:
        pool = _pools.get(size)
        if pool is None:
            pool = _pools[size] = ThreadPoolExecutor(size, thread_name_prefix="reach-send")
        return pool


@job("reach.deliver_mass")
def deliver_mass(broadcast_id: int, send_ids: list[int], text: str) -> None:
    """One OA mass call for a batch of a broadcast. Its clientmsgid is fixed by the batch, so
    a retry that WeChat already honoured answers 45065: sent, not sent twice."""
    _deliver_mass(deliver_mass, broadcast_id, send_ids, text, to_all=False)


@job("reach.deliver_mass_all")
def deliver_mass_all(
    broadcast_id: int, send_ids: list[int], text: str, tag_id: int | None = None
) -> None:
    """A subscription account's broadcast: one `sendall` to all its followers, or to one OA
    tag's (`tag_id`). Its clientmsgid is the broadcast's, so a retry that WeChat already
    honoured answers 45065: not twice."""
    _deliver_mass(deliver_mass_all, broadcast_id, send_ids, text, to_all=True, tag_id=tag_id)


def _deliver_mass(
    task: Any,
    broadcast_id: int,
    send_ids: list[int],
    text: str,
    *,
    to_all: bool,
    tag_id: int | None = None,
) -> None:
    db = get_database()
    with db.session_scope() as session:
        appid, claimed = service.claim_mass(session, send_ids)
    if not claimed:
        return
    ids = [send_id for send_id, _openid in claimed]
    gateway = shared_gateway(current_settings(), db)
    try:
        if to_all:
            msg_id = gateway.send_mass_to_all(
                appid, "text", {"content": text}, tag_id=tag_id,
                clientmsgid=f"siyu-b{broadcast_id}",
            )  # fmt: skip
        else:
            openids = [openid for _send_id, openid in claimed]
            msg_id = gateway.send_mass_message(
                appid, openids, "text", {"content": text},
                clientmsgid=f"siyu-b{broadcast_id}-{min(ids)}",
            )  # fmt: skip
    except WeChatError as exc:
        if exc.errcode != 45065:  # 45065: this very call went out before
            transient = isinstance(exc, SystemBusy | QuotaExceeded | ConnectFailed)
            with db.session_scope() as session:
                for send_id in ids:
                    if transient:
                        service.record_retry(session, send_id, exc.errcode)
                    else:
                        service.record_refused(session, send_id, exc.errcode, "refused")
            if transient:
                args = (broadcast_id, send_ids, text) if tag_id is None else (
                    broadcast_id, send_ids, text, tag_id,
                )  # fmt: skip
                task.schedule(args, delay=BACKOFF_S)
            return
        msg_id = None
    with db.session_scope() as session:
        for send_id in ids:
            service.record_sent(session, send_id, msg_id)


@job("reach.sweep_stuck_sends", periodic=crontab(minute="*/5"))
def sweep_stuck_sends() -> None:
    """What a dead worker left: interrupted sends marked, lost jobs enqueued again."""
    with get_database().session_scope() as session:
        lost = service.sweep_stuck_sends(session)
    for start in range(0, len(lost), service.DELIVERY_BATCH):
        deliver_batch(lost[start : start + service.DELIVERY_BATCH])


QUEUE_LOST_SWEEP = 100_000  # ids only: every send a lost queue could have held, in one pass


@job("reach.redeliver_queued")
def redeliver_queued() -> None:
    """After the queue was lost: every queued send delivered again, whatever its age."""
    with get_database().session_scope() as session:
        lost = service.sweep_stuck_sends(session, QUEUE_LOST_SWEEP, lost_after=timedelta(0))
    for start in range(0, len(lost), service.DELIVERY_BATCH):
        enqueue_now("reach.deliver_batch", lost[start : start + service.DELIVERY_BATCH])
    log.warning("reach_queued_sends_requeued", sends=len(lost))


@on_queue_lost("reach.redeliver_queued")
def _redeliver_after_queue_lost() -> None:
    enqueue_now("reach.redeliver_queued")


@job("reach.retry_held")
def retry_held(member_id: int) -> None:
    with get_database().session_scope() as session:
        service.retry_held(session, service.held_of_member(session, member_id))


@job("reach.sweep_held", periodic=crontab(minute="*"))
def sweep_held() -> None:
    """Held sends whose hold ended (quiet hours over, expiry reached) get another look."""
    with get_database().session_scope() as session:
        service.retry_held(session, service.held_due(session))


@job("reach.start_broadcast")
def start_broadcast(broadcast_id: int) -> None:
    """A broadcast sent now: its first batch without waiting for the minute tick."""
    with get_database().session_scope() as session:
        service.start_broadcast(session, broadcast_id)


@job("reach.run_broadcasts", periodic=crontab(minute="*"))
def run_broadcasts() -> None:
    """Each minute, every running broadcast notifies its next `per_minute` members."""
    db = get_database()
    with db.session_scope() as session:
        due = service.due_broadcasts(session)
    for broadcast_id in due:
        with db.session_scope() as session:
            service.advance_broadcast(session, broadcast_id)
