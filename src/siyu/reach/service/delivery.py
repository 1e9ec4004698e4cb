"""Delivery, around the job's WeChat call: claim a queued send once, record what WeChat said
(sent, refused, to be retried), correct the ledger from refusals, sweep what dead workers left."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import timedelta

from sqlalchemy.orm import Session

from siyu.core import clock
from siyu.core.logging import get_logger
from siyu.identity import service as identity
from siyu.reach import policy as policies
from siyu.reach import repository
from siyu.reach.enums import SendStatus, TemplateKind
from siyu.reach.models import ReachSend
from siyu.reach.rules import fill
from siyu.reach.service.common import MASS, MAX_ATTEMPTS, timeline
from siyu.reach.service.templates import render
from siyu.workspaces import service as workspaces

log = get_logger(__name__)


@dataclass(frozen=True)
class Outbound:
    """What the job sends, read inside a short transaction before the HTTP call."""

    send_id: int
    appid: str
    channel: str
    openid: str
    template_id: str
    values: dict[str, str]
    text: str
    page: str | None
    url: str | None
    attempt: int


def claim(session: Session, send_id: int) -> Outbound | None:
    """Mark a queued send as being sent, once: a retried job finds it claimed and stops."""
    claimed = claim_batch(session, [send_id])
    return claimed[0] if claimed else None


def claim_batch(session: Session, send_ids: Sequence[int]) -> list[Outbound]:
    """Mark the queued sends among these ids as being sent, in one statement: what to send
    for each. A send claimed once is never claimed again (a job run twice sends nothing), and
    on PostgreSQL two jobs never wait on each other's rows (SKIP LOCKED)."""
    rows = repository.claim_sends(session, send_ids, clock.now())
    if not rows:
        return []
    templates = {
        t.id: t
        for t in repository.list_templates_by_id(
            session, sorted({r["template_row_id"] for r in rows if r["template_row_id"]})
        )
    }
    apps = workspaces.get_apps_by_id(session, sorted({r["app_id"] for r in rows if r["app_id"]}))
    claimed = []
    for row in sorted(rows, key=lambda r: int(r["id"])):
        template = templates.get(row["template_row_id"])
        if template is None or row["app_id"] not in apps or not row["openid"]:
            # never: a queued send always has its template, app and openid
            continue
        data: dict[str, str] = json.loads(row["data"] or "{}")
        body = fill(template.body, data) if template.kind == TemplateKind.customer_service else ""
        claimed.append(
            Outbound(
                send_id=row["id"],
                appid=apps[row["app_id"]].appid,
                channel=row["channel"] or "",
                openid=row["openid"],
                template_id=template.template_id,
                values=render(template, data),
                text=body,
                page=template.page,
                url=template.url,
                attempt=row["attempts"],
            )
        )
    return claimed


@dataclass
class Outcomes:
    """What WeChat answered for the calls of one delivery batch."""

    sent: dict[int, str | None] = field(default_factory=dict)  # send id → msgid
    retry: dict[int, int] = field(default_factory=dict)  # send id → errcode (transient)
    refused: dict[int, tuple[int, str]] = field(default_factory=dict)  # → (errcode, reason)


def record_outcomes(session: Session, outcomes: Outcomes) -> dict[int, list[int]]:
    """Record a batch's outcomes: the sent ones in one statement (and on the timeline in
    one more), transient failures back to the queue, refusals one by one (they correct the
    ledger). Returns the sends to try again, by attempt (for their backoff)."""
    now = clock.now()
    sent = repository.mark_sends_sent(session, outcomes.sent, now)
    identity.record_events(
        session,
        [
            identity.NewEvent(
                workspace_id=row["workspace_id"],
                member_id=row["member_id"],
                name="message.sent",
                ts=now,
                app_id=row["app_id"],
                channel=row["channel"],
                props={
                    "send_id": row["id"],
                    "template": row["template_key"],
                    "category": row["category"],
                    "channel": row["channel"],
                },
            )
            for row in sent
        ],
    )
    again: dict[int, list[int]] = {}
    by_code: dict[int, list[int]] = {}
    for send_id, errcode in outcomes.retry.items():
        by_code.setdefault(errcode, []).append(send_id)
    for errcode, ids in by_code.items():
        requeued = repository.requeue_sends(session, ids, errcode, MAX_ATTEMPTS)
        for send_id, attempts in requeued:
            again.setdefault(attempts, []).append(send_id)
        done = {send_id for send_id, _attempts in requeued}
        for send_id in ids:
            if send_id not in done:  # its last attempt: failed, on the timeline
                record_retry(session, send_id, errcode)
    for send_id, (errcode, reason) in outcomes.refused.items():
        record_refused(session, send_id, errcode, reason)
    session.flush()
    return again


def record_sent(session: Session, send_id: int, msgid: int | None) -> None:
    send = repository.get_send_for_update(session, send_id)
    if send is None or send.status != SendStatus.sending:
        return
    now = clock.now()
    send.status, send.sent_at, send.reason = SendStatus.sent, now, None
    send.msgid = None if msgid is None else str(msgid)
    session.flush()
    timeline(session, send, "message.sent", {})


def record_retry(session: Session, send_id: int, errcode: int) -> bool:
    """A transient failure: back to queued for another try, or failed after the last."""
    send = repository.get_send_for_update(session, send_id)
    if send is None or send.status != SendStatus.sending:
        return False
    send.errcode = errcode
    if send.attempts >= MAX_ATTEMPTS:
        _fail(session, send, "unavailable")
        return False
    send.status = SendStatus.queued
    session.flush()
    return True


def record_refused(session: Session, send_id: int, errcode: int, reason: str) -> None:
    """WeChat refused: the ledger learns what it did not know, and the send failed."""
    send = repository.get_send_for_update(session, send_id)
    if send is None or send.status != SendStatus.sending:
        return
    send.errcode = errcode
    _correct_ledger(session, send, errcode)
    _fail(session, send, reason)


def _fail(session: Session, send: ReachSend, reason: str) -> None:
    send.status, send.reason, send.finished_at = SendStatus.failed, reason[:64], clock.now()
    session.flush()
    timeline(session, send, "message.failed", {"reason": send.reason, "errcode": send.errcode})


# A job claims, calls WeChat (seconds) and records; a send "sending" this long after its claim
# lost its worker, and one "queued" this long (beyond every backoff) lost its job.
INTERRUPTED_AFTER = timedelta(minutes=15)
LOST_AFTER = timedelta(hours=2)


def sweep_stuck_sends(
    session: Session, limit: int = 500, lost_after: timedelta = LOST_AFTER
) -> list[int]:
    """Sends a dead worker left behind: "sending" ones become failed with `outcome_unknown`
    (the request may have reached WeChat: never sent twice); the ids of "queued" ones whose
    job was lost are returned, to be delivered again (their claim keeps that safe). After the
    queue itself was lost every queued send is (`lost_after` 0)."""
    now = clock.now()
    for send in repository.list_sends_claimed_before(session, now - INTERRUPTED_AFTER, limit):
        log.warning("reach_send_interrupted", send_id=send.id)
        _fail(session, send, "outcome_unknown")
    return repository.list_sends_queued_before(session, now - lost_after, MASS, limit)


def _correct_ledger(session: Session, send: ReachSend, errcode: int) -> None:
    assert send.app_id is not None
    row = repository.get_ledger_row(session, send.member_id, send.app_id)
    if errcode == 43004 and row is not None:
        row.following = False
    elif errcode in (45015, 45047) and row is not None:
        row.window_used = policies.WINDOW_QUOTA
    elif errcode == 43101 and send.template_row_id is not None:
        template = repository.get_template(session, send.template_row_id)
        if template is not None:
            credit = repository.get_or_add_credit(
                session, send.member_id, send.app_id, template.template_id, clock.now()
            )
            credit.used = credit.granted
    session.flush()


def claim_mass(session: Session, send_ids: list[int]) -> tuple[str, list[tuple[int, str]]]:
    """The queued sends of one mass call, claimed: (appid, [(send id, openid)])."""
    claimed: list[tuple[int, str]] = []
    appid = ""
    for send_id in send_ids:
        send = repository.get_send_for_update(session, send_id)
        if send is None or send.status != SendStatus.queued or not send.openid:
            continue
        assert send.app_id is not None
        appid = workspaces.get_apps_by_id(session, [send.app_id])[send.app_id].appid
        send.status, send.claimed_at = SendStatus.sending, clock.now()
        send.attempts += 1
        claimed.append((send.id, send.openid))
    session.flush()
    return appid, claimed
