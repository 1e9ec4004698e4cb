"""The job side of the push inbox: each stored push becomes a typed event once, its sender a
member, its meaning a timeline entry, and its reply (when it missed the budget) a message sent
through the customer-service API."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import orjson
from prometheus_client import Histogram
from sqlalchemy.orm import Session

from siyu.core import clock, jobs
from siyu.core.config import current_settings
from siyu.core.events import bus
from siyu.core.logging import get_logger
from siyu.identity import service as identity
from siyu.identity.schemas import CANONICAL_EVENTS, WECHAT_ID, PersonRef
from siyu.wechat import repository
from siyu.wechat.inbox.handlers import first_reply, reply_handlers_for
from siyu.wechat.inbox.writer import PROCESS_JOB
from siyu.wechat.models import PushStatus
from siyu.wechat.schemas import (
    CustomMessage,
    ImageReply,
    MassSendJobFinishEvent,
    MenuEvent,
    Message,
    MusicReply,
    NewsReply,
    Push,
    Reply,
    ScanEvent,
    SubscribeEvent,
    SubscribeMsgPopupEvent,
    TextMessage,
    TextReply,
    UnknownEvent,
    UnsubscribeEvent,
    UserEnterTempSessionEvent,
    VideoReply,
    VoiceReply,
    build_push,
)
from siyu.workspaces import service as workspaces
from siyu.workspaces.schemas import AppRead

OA_KINDS = frozenset({"oa_service", "oa_subscription"})
# A push waiting this long is taken for lost (a queued job is processed in well under it).
STALE_AFTER = timedelta(seconds=10)
BATCH_SIZE = 200  # pushes claimed and processed in one transaction
WAKE_UPS = 8  # processing jobs a sweep enqueues at most: one per worker thread is plenty
CS_NEWS_MAX = 8

log = get_logger(__name__)
PUSH_LAG = Histogram(
    "siyu_wechat_push_lag_seconds", "From a push's acceptance to the end of its processing"
)

LateReplySender = Callable[[Session, AppRead, Push, Reply], None]


def set_late_reply_sender(sender: LateReplySender | None) -> LateReplySender | None:
    """Install how a reply that missed the budget reaches the user (the customer-service API).

    Called inside the processing job's transaction; enqueue the actual send after commit.
    Returns the previous sender.
    """
    global _late_reply_sender  # one hook per process, wired at start-up
    previous, _late_reply_sender = _late_reply_sender, sender
    return previous


def customer_service_message(openid: str, reply: Reply) -> CustomMessage | None:
    """The customer-service message that says what a passive reply would have said.

    A hand-off to customer-service staff has no such message (None). News carries at most 8
    articles through this API (fact sheet §3.1, message/custom/send).
    """
    body: dict[str, Any]
    match reply:
        case TextReply():
            msgtype, body = "text", {"content": reply.content}
        case ImageReply() | VoiceReply():
            msgtype, body = (
                ("image" if isinstance(reply, ImageReply) else "voice"),
                {"media_id": reply.media_id},
            )
        case VideoReply():
            msgtype = "video"
            body = {
                "media_id": reply.media_id,
                "title": reply.title,
                "description": reply.description,
            }
        case MusicReply():
            msgtype = "music"
            body = {
                "title": reply.title,
                "description": reply.description,
                "musicurl": reply.music_url,
                "hqmusicurl": reply.hq_music_url,
                "thumb_media_id": reply.thumb_media_id,
            }
        case NewsReply():
            msgtype = "news"
            articles = [
                {"title": a.title, "description": a.description, "url": a.url, "picurl": a.pic_url}
                for a in reply.articles[:CS_NEWS_MAX]
            ]
            body = {"articles": articles}
        case _:
            return None
    return CustomMessage(touser=openid, msgtype=msgtype, body=body)


def queue_customer_service_reply(session: Session, app: AppRead, push: Push, reply: Reply) -> None:
    """The default late-reply sender: a job sends it through the customer-service API once the
    processing transaction has committed (never an HTTP call inside an open transaction)."""
    message = customer_service_message(push.openid, reply)
    if message is None:
        log.info("push_late_reply_skipped", appid=app.appid, reason="no customer-service form")
        return
    jobs.enqueue(
        session,
        "wechat.send_late_reply",
        app.id,
        push.member_id,
        push.push_id,
        message.model_dump(),
    )


_late_reply_sender: LateReplySender | None = queue_customer_service_reply


# --- processing (in the job) ---------------------------------------------------------------


def process(session: Session, push_id: int, *, answer_late: bool = False) -> bool:
    """Resolve the sender, record the timeline event, publish the typed push; once per push.

    The one-by-one path: a batch that failed is processed so, each push in its own transaction,
    to set aside only the push that fails (see `process_claimed` for the batch path)."""
    receipt = repository.get_for_update(session, push_id)
    if receipt is None or receipt.status != PushStatus.received:
        return False
    app = workspaces.get_apps_by_id(session, [receipt.app_id])[receipt.app_id]
    body = orjson.loads(receipt.payload)
    push = build_push(app.appid, body["push"])
    member_id, first_seen = _member_for(session, app, push)
    if member_id is not None and _may_hold_unionid(app, push, first_seen):
        jobs.enqueue(session, "wechat.fetch_follower_unionid", app.id, push.openid)
    push = dataclasses.replace(
        push,
        workspace_id=app.workspace_id,
        app_id=app.id,
        push_id=receipt.id,
        member_id=member_id,
        member_created=first_seen,
    )
    if member_id is not None:
        for name, channel, props in timeline_entries(app.kind, push):
            identity.record_event(
                session,
                app.workspace_id,
                member_id,
                name,
                push.create_time,
                app_id=app.id,
                channel=channel,
                props=props,
            )
    bus.publish(session, push)
    receipt.member_id = member_id
    receipt.status = PushStatus.processed
    receipt.processed_at = now = clock.now()
    session.flush()
    PUSH_LAG.observe((now - receipt.received_at).total_seconds())
    if answer_late or body.get("late"):
        _answer_late(session, app, push)
    return True


@dataclass(frozen=True)
class Claimed:
    """A waiting push taken by this transaction (locked until it ends)."""

    id: int
    app_id: int
    payload: str
    received_at: datetime


def claim(
    session: Session,
    *,
    ids: Sequence[int] | None = None,
    limit: int = BATCH_SIZE,
    skip: Collection[int] = (),
) -> list[Claimed]:
    """Take waiting pushes for this transaction: these `ids` (those still waiting and not
    taken by another worker), or else the oldest waiting ones but `skip`; in id order, the
    order one by one would take them."""
    rows = repository.claim_receipts(session, ids=ids, limit=limit, skip=skip)
    return sorted((Claimed(*row) for row in rows), key=lambda c: c.id)


def process_claimed(
    session: Session, claimed: Sequence[Claimed], answer_late: Collection[int] = ()
) -> list[int]:
    """Process claimed pushes together, with the outcome of processing them one by one in id
    order: their senders resolved in one `resolve_member_ids` per app, their timeline events
    recorded in one statement, the pushes published with `bus.publish_all` (the ledger and
    arrivals take the batch at once), the receipts marked processed in one statement."""
    if not claimed:
        return []
    apps = workspaces.get_apps_by_id(session, sorted({c.app_id for c in claimed}))
    batch: list[tuple[Claimed, AppRead, Push, bool]] = []
    for row in claimed:
        app = apps[row.app_id]
        body = orjson.loads(row.payload)
        late = row.id in answer_late or bool(body.get("late"))
        batch.append((row, app, build_push(app.appid, body["push"]), late))
    members = _members_of(session, [(row.id, app, push) for row, app, push, _ in batch])
    pushes: list[Push] = []
    events: list[identity.NewEvent] = []
    for row, app, stored, _ in batch:
        member_id, created = members.get(row.id, (None, False))
        if member_id is not None and _may_hold_unionid(app, stored, created):
            jobs.enqueue(session, "wechat.fetch_follower_unionid", app.id, stored.openid)
        push = dataclasses.replace(
            stored,
            workspace_id=app.workspace_id,
            app_id=app.id,
            push_id=row.id,
            member_id=member_id,
            member_created=created,
        )
        pushes.append(push)
        if member_id is not None:
            events += [
                identity.NewEvent(
                    app.workspace_id, member_id, name, push.create_time, app.id, channel, props
                )
                for name, channel, props in timeline_entries(app.kind, push)
            ]
    identity.record_events(session, events)
    now = clock.now()
    # Marked before the subscribers run: the ledger's row locks, which batches sharing
    # members wait for, are then taken as late as can be and held only until commit.
    repository.mark_processed(session, {p.push_id: p.member_id for p in pushes}, now)
    bus.publish_all(session, pushes)
    for (row, app, _, late), push in zip(batch, pushes, strict=True):
        PUSH_LAG.observe((now - row.received_at).total_seconds())
        if late:
            _answer_late(session, app, push)
    # Last: the workspace's member-number counter stays locked until commit, and batches
    # making members wait for it in turn; taken here, that wait is short.
    identity.number_new_members(session)
    return [push.push_id for push in pushes]


def _members_of(
    session: Session, pushes: Sequence[tuple[int, AppRead, Push]]
) -> dict[int, tuple[int, bool]]:
    """Each push's sender as a member, and whether that push made the member (the first push
    naming a new member, as one by one): one `resolve_member_ids` per app."""
    by_app: dict[int, list[tuple[int, AppRead, Push]]] = {}
    for item in pushes:
        if _is_member(item[2]):
            by_app.setdefault(item[1].id, []).append(item)
    found: dict[int, tuple[int, bool]] = {}
    for items in by_app.values():
        app = items[0][1]
        people = [PersonRef(appid=app.appid, openid=push.openid) for _, _, push in items]
        resolved = identity.resolve_member_ids(
            session, app, people, seen_at=[push.create_time for _, _, push in items]
        )
        for (push_id, _, _), member in zip(items, resolved, strict=True):
            found[push_id] = member
    return found


def _is_member(push: Push) -> bool:
    # The mass-send assistant and unknown system events are no members.
    return not isinstance(push, MassSendJobFinishEvent | UnknownEvent) and bool(
        WECHAT_ID.match(push.openid)
    )


def _member_for(session: Session, app: AppRead, push: Push) -> tuple[int | None, bool]:
    """The sender's member id, and whether this push made the member."""
    if not _is_member(push):
        return None, False
    person = PersonRef(appid=app.appid, openid=push.openid)
    resolved = identity.resolve_member(session, app, person, seen_at=push.create_time)
    return resolved.id, resolved.created


def _may_hold_unionid(app: AppRead, push: Push, first_seen: bool) -> bool:
    """Whether to ask user/info for an OA follower's UnionID: pushes carry only the openid, and
    the UnionID is what joins the follower to the member the Mini Program already knows.

    Not for an app without an AppSecret: no access token, so the job could only give up, one
    job and one log line for every new member of an install that only takes pushes."""
    return (
        current_settings().fetch_follower_unionid
        and app.kind in OA_KINDS
        and app.has_secret
        and (first_seen or isinstance(push, SubscribeEvent))
    )


TimelineEntry = tuple[str, str | None, dict[str, Any]]


def timeline_entries(kind: str, push: Push) -> list[TimelineEntry]:
    """The canonical events a push puts on its sender's timeline.

    Names not (yet) canonical are left out, so adding one to CANONICAL_EVENTS turns it on.
    """
    source = "mp" if kind == "mp" else "oa"
    base: dict[str, Any] = {"push_id": push.push_id}
    entries: list[TimelineEntry] = []
    match push:
        case SubscribeEvent():
            entries = [("oa.subscribe", push.scene, base)]  # channel = the QR code's scene
        case UnsubscribeEvent():
            entries = [("oa.unsubscribe", None, base)]
        case ScanEvent():
            entries = [("oa.scan", push.scene or None, base)]
        case MenuEvent():
            entries = [
                ("oa.menu_click", None, {**base, "type": push.event.lower(), "key": push.key})
            ]
        case Message():
            props = {**base, "msg_type": push.msg_type, "msg_id": push.msg_id}
            if isinstance(push, TextMessage):  # what staff read on the timeline (erasure drops it)
                props["text"] = push.content
            entries = [(f"{source}.message", None, props)]
        case SubscribeMsgPopupEvent():
            entries = [
                (
                    f"{source}.subscribe_accept",
                    None,
                    {**base, "template_id": c.template_id, "scene": c.popup_scene},
                )
                for c in push.choices
                if c.accepted
            ]
        case UserEnterTempSessionEvent():
            entries = [("mp.contact", None, {**base, "session_from": push.session_from})]
    return [
        (name, _clean(channel, 64) or None, {k: _clean(v, 1024) for k, v in props.items()})
        for name, channel, props in entries
        if name in CANONICAL_EVENTS
    ]


def _clean(value: Any, limit: int) -> Any:
    # JSON pushes may carry NUL, which PostgreSQL refuses in text and JSONB; keys stay bounded.
    return value.replace("\x00", "")[:limit] if isinstance(value, str) else value


def _answer_late(session: Session, app: AppRead, push: Push) -> None:
    """A reply that missed the budget goes through the customer-service API, if wired."""
    savepoint = session.begin_nested()
    try:
        reply = first_reply(session, app, push, reply_handlers_for(push))
    finally:
        savepoint.rollback()  # handlers only read (see register_reply_handler)
    if reply is None:
        return
    if _late_reply_sender is None:
        log.warning("push_late_reply_dropped", appid=app.appid, reason="no sender wired")
        return
    _late_reply_sender(session, app, push, reply)


def mark_failed(session: Session, push_id: int, error: str | None = None) -> None:
    repository.mark_failed(session, push_id, error, clock.now())


def requeue_stale(session: Session) -> int:
    """Wake the workers for pushes waiting longer than `STALE_AFTER` (their job was lost: a
    crash between commit and enqueue, a killed worker, a queue that lost its jobs).

    Any processing job claims waiting pushes until none are left, so a few wake-up jobs bring
    back every one of them at the batch rate, however many; racing sweeps only add wake-ups
    that find nothing. How many are waiting is returned."""
    due = repository.waiting_since(session, clock.now() - STALE_AFTER)
    if due:
        for _ in range(min(WAKE_UPS, -(-due // BATCH_SIZE))):
            jobs.enqueue(session, PROCESS_JOB, [])
        log.warning("push_jobs_requeued", count=due)
    return due


__all__ = [
    "BATCH_SIZE",
    "STALE_AFTER",
    "Claimed",
    "LateReplySender",
    "claim",
    "customer_service_message",
    "mark_failed",
    "process",
    "process_claimed",
    "queue_customer_service_reply",
    "requeue_stale",
    "set_late_reply_sender",
    "timeline_entries",
]
