"""Reach jobs: deliver a send (never twice), look again at held sends, advance broadcasts."""

from __future__ import annotations

from typing import Any

from huey import crontab

from siyu.core.config import current_settings
from siyu.core.db import get_database
from siyu.core.errors import SiyuError
from siyu.core.jobs import job
from siyu.core.logging import get_logger
from siyu.reach import service
from siyu.wechat.schemas import CustomMessage, SubscribeMessage, TemplateMessage
from siyu.wechat.service import (
    ConnectFailed,
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


def _backoff(attempt: int) -> int:
    return int(min(BACKOFF_S * 2 ** (attempt - 1), MAX_BACKOFF_S))


def _call(out: service.Outbound) -> int | None:
    gateway = shared_gateway(current_settings(), get_database())
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
    """Send one queued notice. Claimed in one transaction, sent outside any, recorded in a
    third: a job run twice finds the send claimed and sends nothing."""
    db = get_database()
    with db.session_scope() as session:
        out = service.claim(session, send_id)
    if out is None:
        return
    try:
        msgid = _call(out)
    except SiyuError as exc:  # the app has no AppSecret here: nothing can be sent
        with db.session_scope() as session:
            service.record_refused(session, send_id, 0, exc.code)
        return
    except WeChatError as exc:
        if _may_retry(out, exc):
            with db.session_scope() as session:
                again = service.record_retry(session, send_id, exc.errcode)
            if again:
                deliver.schedule((send_id,), delay=_backoff(out.attempt))
            return
        reason = "refused" if isinstance(exc, UserStateError) else "error"
        if isinstance(exc, WeChatUnavailable):
            reason = "outcome_unknown"  # the request may have arrived: never sent twice
        log.warning("reach_send_refused", send_id=send_id, errcode=exc.errcode)
        with db.session_scope() as session:
            service.record_refused(session, send_id, exc.errcode, reason)
        return
    with db.session_scope() as session:
        service.record_sent(session, send_id, msgid)


@job("reach.deliver_mass")
def deliver_mass(broadcast_id: int, send_ids: list[int], text: str) -> None:
    """One OA mass call for a batch of a broadcast. Its clientmsgid is fixed by the batch, so
    a retry that WeChat already honoured answers 45065: sent, not sent twice."""
    _deliver_mass(deliver_mass, broadcast_id, send_ids, text, to_all=False)


@job("reach.deliver_mass_all")
def deliver_mass_all(broadcast_id: int, send_ids: list[int], text: str) -> None:
    """A subscription account's broadcast: one `sendall` to all its followers. Its clientmsgid
    is the broadcast's, so a retry that WeChat already honoured answers 45065: not twice."""
    _deliver_mass(deliver_mass_all, broadcast_id, send_ids, text, to_all=True)


def _deliver_mass(
    task: Any, broadcast_id: int, send_ids: list[int], text: str, *, to_all: bool
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
                appid, "text", {"content": text}, clientmsgid=f"siyu-b{broadcast_id}"
            )
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
                task.schedule((broadcast_id, send_ids, text), delay=BACKOFF_S)
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
    for send_id in lost:
        deliver(send_id)


@job("reach.retry_held")
def retry_held(member_id: int) -> None:
    with get_database().session_scope() as session:
        service.retry_held(session, service.held_of_member(session, member_id))


@job("reach.sweep_held", periodic=crontab(minute="*"))
def sweep_held() -> None:
    """Held sends whose hold ended (quiet hours over, expiry reached) get another look."""
    with get_database().session_scope() as session:
        service.retry_held(session, service.held_due(session))


@job("reach.run_broadcasts", periodic=crontab(minute="*"))
def run_broadcasts() -> None:
    """Each minute, every running broadcast notifies its next `per_minute` members."""
    db = get_database()
    with db.session_scope() as session:
        due = service.due_broadcasts(session)
    for broadcast_id in due:
        with db.session_scope() as session:
            service.advance_broadcast(session, broadcast_id)
