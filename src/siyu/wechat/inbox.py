"""The push inbox: verify, open, deduplicate and answer WeChat's pushes; process them in a job."""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import dataclasses
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from queue import Empty, SimpleQueue
from typing import Any, TypeVar

import orjson
from prometheus_client import Counter, Histogram
from sqlalchemy import Connection
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from siyu.core import clock, jobs
from siyu.core.config import Settings, current_settings
from siyu.core.db import Database
from siyu.core.errors import REQUEST_TOO_LARGE, SiyuError
from siyu.core.events import bus
from siyu.core.logging import get_logger
from siyu.identity import service as identity
from siyu.identity.schemas import CANONICAL_EVENTS, WECHAT_ID, PersonRef
from siyu.wechat import errors, repository
from siyu.wechat.crypto import AppIdMismatch, BadSignature, PushCrypto, PushCryptoError
from siyu.wechat.gateway import CustomMessage
from siyu.wechat.models import PushStatus
from siyu.wechat.schemas import (
    ImageReply,
    MalformedPush,
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
    TextReply,
    UnknownEvent,
    UnsubscribeEvent,
    UserEnterTempSessionEvent,
    VideoReply,
    VoiceReply,
    build_push,
    format_of,
    media_type_of,
    parse_body,
    text,
    to_xml,
)
from siyu.workspaces import service as workspaces
from siyu.workspaces.schemas import AppRead

MAX_PUSH_BYTES = 1024 * 1024
SUCCESS = "success"  # "received, the answer (if any) comes later": WeChat does not retry it
PUSH_KINDS = frozenset({"oa_service", "oa_subscription", "mp"})
OA_KINDS = frozenset({"oa_service", "oa_subscription"})
STALE_AFTER = timedelta(minutes=5)
STALE_BATCH = 500
ENDPOINT_TTL = 10.0  # seconds an app's push credentials are kept in memory
# Refusals that a changed Token or EncodingAESKey would explain: worth a fresh look.
CREDENTIAL_ERRORS = frozenset(
    {errors.BAD_SIGNATURE.code, errors.UNDECRYPTABLE.code, errors.APPID_MISMATCH.code}
)
BATCH_MAX = 64  # pushes stored in one transaction
REPLY_THREADS = 8  # passive-reply handlers at work at once, per process
WRITER_IDLE_S = 5.0  # an idle writer thread ends; the next push starts another
CS_NEWS_MAX = 8

log = get_logger(__name__)
PUSHES = Counter("siyu_wechat_pushes_total", "Pushes answered, by outcome", ["outcome"])
PUSH_LAG = Histogram(
    "siyu_wechat_push_lag_seconds", "From a push's acceptance to the end of its processing"
)

T = TypeVar("T")
ReplyHandler = Callable[[Session, AppRead, Push], Reply | None]
LateReplySender = Callable[[Session, AppRead, Push, Reply], None]

Outcome = tuple[str, bool]  # the answer to give, and whether the push was stored before
_Settled = tuple[asyncio.Future[Outcome] | Future[Outcome], Outcome | BaseException]

_reply_handlers: list[ReplyHandler] = []
_reply_priorities: dict[ReplyHandler, int] = {}
_reply_answers: dict[ReplyHandler, tuple[type[Push], ...]] = {}
_handlers_by_type: dict[type[Push], tuple[ReplyHandler, ...]] = {}
DEFAULT_REPLY_PRIORITY = 100
# Passive-reply handlers run here so that one that overruns its budget cannot hold the answer.
_reply_pool = ThreadPoolExecutor(max_workers=REPLY_THREADS, thread_name_prefix="siyu-push-reply")


@dataclass(frozen=True)
class Answer:
    """What the push endpoint says back, byte for byte the same for a retried push."""

    body: str
    media_type: str
    duplicate: bool = False


@dataclass(frozen=True)
class _Endpoint:
    app: AppRead
    crypto: PushCrypto


@dataclass(frozen=True)
class _Opened:
    push: Push
    fmt: str  # "xml" or "json": the push's format, which the reply follows
    key_index: int | None  # the EncodingAESKey that opened it; None for a plaintext push
    nonce: str


@dataclass(frozen=True)
class _Waiter:
    """Where a request waits for its push's outcome: a future of its event loop, or (called
    from a thread) a future of its own."""

    loop: asyncio.AbstractEventLoop | None
    done: asyncio.Future[Outcome] | Future[Outcome]

    def fail(self, exc: BaseException) -> None:
        """From any thread."""
        if self.loop is None:
            _resolve(self.done, exc)
        else:
            _wake(self.loop, [(self.done, exc)])


@dataclass
class _Pending:
    """A push waiting to be stored, and the answer to give once it is (or was, earlier)."""

    app: AppRead
    push: Push
    answer: str
    late: bool
    waiter: _Waiter

    @property
    def key(self) -> tuple[int, str]:
        return self.app.id, self.push.dedupe_key


@dataclass
class _Ticket:
    """A push opened and waiting for a passive reply, then to be stored.

    The handlers run in the reply pool, which renders their answer and hands the push to the
    writer itself: the request is woken once, when the push is stored, not also in between.
    Whoever claims the ticket first passes the push on: the reply pool with the handlers'
    answer, or the budget's timer with none (the job answers late); the other one drops it.
    """

    inbox: Inbox
    endpoint: _Endpoint
    opened: _Opened
    handlers: tuple[ReplyHandler, ...]
    waiter: _Waiter
    context: contextvars.Context  # the request's, so that the request id follows into logs
    _claim: threading.Lock = field(default_factory=threading.Lock)

    def claim(self) -> bool:
        return self._claim.acquire(blocking=False)

    def reply(self) -> None:
        """In the reply pool: the first handler's answer, passed on if the budget is not out."""
        try:
            reply = self.context.run(self._ask)
            if self.claim():
                self.inbox._store(self.endpoint, self.opened, reply, False, self.waiter)
        except BaseException as exc:  # never leave the request waiting
            self.waiter.fail(exc)

    def over_budget(self) -> None:
        """The budget ran out: answer `success` now, and let the job ask the handlers again."""
        if not self.claim():
            return
        log.warning(
            "push_reply_over_budget",
            appid=self.endpoint.app.appid,
            budget_ms=self.inbox.settings.push_reply_budget_ms,
        )
        try:
            self.inbox._store(self.endpoint, self.opened, None, True, self.waiter)
        except Exception as exc:  # from a timer of the loop: nobody else would tell the request
            self.waiter.fail(exc)

    def _ask(self) -> Reply | None:
        app = self.endpoint.app
        try:
            return _reply_in_own_session(self.inbox.db, app, self.opened.push, self.handlers)
        except Exception:
            log.exception("push_reply_handler_failed", appid=app.appid)
            return None


# --- extension points ----------------------------------------------------------------------


def register_reply_handler(
    handler: ReplyHandler,
    *,
    priority: int = DEFAULT_REPLY_PRIORITY,
    answers: Sequence[type[Push]] = (Push,),
) -> None:
    """Add a passive-reply handler (auto-replies, follow greetings…); the first answer wins.

    Handlers are asked in order of `priority` (lower first; equal ones in the order they were
    registered), so that a specific answer (a channel's welcome for its own QR scene, priority
    10) comes before a general one (the default follow reply), whatever the import order.

    `answers` names the push types the handler may answer (and their subclasses); it is asked
    about no other. A push that no handler answers is stored and answered at once, without a
    trip through the reply pool.

    A handler gets a session of its own whose writes are rolled back, and may be run twice for
    one push (two racing deliveries, or again by the job when it overran the budget): it must
    only read. Effects belong on the bus, whose handlers run once, in the processing job.
    """
    if handler in _reply_priorities:
        return
    _reply_priorities[handler] = priority
    _reply_answers[handler] = tuple(answers)
    _reply_handlers.append(handler)
    _reply_handlers.sort(key=_reply_priorities.__getitem__)  # stable: ties keep their order
    _handlers_by_type.clear()


def unregister_reply_handler(handler: ReplyHandler) -> None:
    _reply_handlers.remove(handler)
    del _reply_priorities[handler]
    del _reply_answers[handler]
    _handlers_by_type.clear()


def reply_handlers_for(push: Push) -> tuple[ReplyHandler, ...]:
    """The handlers that may answer this push, in the order they are asked."""
    kind = type(push)
    handlers = _handlers_by_type.get(kind)
    if handlers is None:
        handlers = tuple(h for h in _reply_handlers if issubclass(kind, _reply_answers[h]))
        _handlers_by_type[kind] = handlers
    return handlers


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


# --- errors --------------------------------------------------------------------------------


def _malformed(message: str) -> SiyuError:
    return errors.MALFORMED_PUSH(message)


def _bad_signature() -> SiyuError:
    return errors.BAD_SIGNATURE("the push's signature does not match the Token")


def _too_large() -> SiyuError:
    return REQUEST_TOO_LARGE(f"pushes are limited to {MAX_PUSH_BYTES} bytes", limit=MAX_PUSH_BYTES)


# --- the inbox of one application instance -------------------------------------------------


class Inbox:
    """Receives pushes for one application instance (one per process in production).

    It keeps the apps' push credentials for a few seconds, so that a push costs no lookup, and
    stores pushes through one writer thread that puts all the pushes waiting at a moment into
    one transaction and one job: the commit, the round trips and the enqueue are shared. Every
    push is answered only once its row, or the row of an earlier delivery, is committed.
    """

    def __init__(self, db: Database, settings: Settings, *, ttl: float = ENDPOINT_TTL) -> None:
        self.db = db
        self.settings = settings
        self._ttl = ttl
        self._kept: dict[str, tuple[float, _Endpoint]] = {}
        self._writer = _Writer(db)

    # -- the two ways in

    def verify_url(self, appid: str, params: Mapping[str, str]) -> str:
        """The echostr of WeChat's URL check (GET), once its signature matches the Token."""
        self._verified(appid, lambda endpoint: _check_signature(endpoint.crypto, params))
        echostr = params.get("echostr", "")
        if not echostr:
            raise _malformed("the URL check carries an echostr")
        return echostr

    def receive(self, appid: str, params: Mapping[str, str], body: bytes) -> Answer:
        """Verify, open, store and answer one push (from a thread); a job processes it.

        A retry of a push already accepted gets the stored answer and is not processed again.
        Nothing is written for a push refused (unknown app, bad signature, malformed body).
        """
        if len(body) > MAX_PUSH_BYTES:
            raise _too_large()
        endpoint, opened = self._verified(appid, lambda e: _open(e, params, body))
        done: Future[Outcome] = Future()
        ticket = self._start(endpoint, opened, _Waiter(None, done))
        if ticket is not None:
            try:
                return _answered(*done.result(timeout=self._budget_s))
            except FutureTimeout:
                ticket.over_budget()
        return _answered(*done.result())

    async def receive_async(self, appid: str, params: Mapping[str, str], body: bytes) -> Answer:
        """`receive` for the event loop: the CPU work here, the waits off the loop."""
        if len(body) > MAX_PUSH_BYTES:
            raise _too_large()

        def check(endpoint: _Endpoint) -> _Opened:
            return _open(endpoint, params, body)

        found = self._verified_kept(appid, check)
        if found is None:  # a lookup: off the event loop
            found = await run_in_threadpool(self._verified_fresh, appid, check)
        endpoint, opened = found
        loop = asyncio.get_running_loop()
        done: asyncio.Future[Outcome] = loop.create_future()
        ticket = self._start(endpoint, opened, _Waiter(loop, done))
        timer = None if ticket is None else loop.call_later(self._budget_s, ticket.over_budget)
        try:
            return _answered(*await done)
        finally:
            if timer is not None:
                timer.cancel()

    # -- on to the reply pool and the writer

    @property
    def _budget_s(self) -> float:
        return self.settings.push_reply_budget_ms / 1000

    def _start(self, endpoint: _Endpoint, opened: _Opened, waiter: _Waiter) -> _Ticket | None:
        """Hand the push to the reply pool when a handler may answer it (the ticket, for the
        budget's timer), else straight to the writer (None)."""
        handlers = reply_handlers_for(opened.push)
        if not handlers or self.settings.push_reply_budget_ms <= 0:
            # Without a budget the handlers are asked by the job, which answers late.
            self._store(endpoint, opened, None, bool(handlers), waiter)
            return None
        ticket = _Ticket(self, endpoint, opened, handlers, waiter, contextvars.copy_context())
        _reply_pool.submit(ticket.reply)
        return ticket

    def _store(
        self,
        endpoint: _Endpoint,
        opened: _Opened,
        reply: Reply | None,
        late: bool,
        waiter: _Waiter,
    ) -> None:
        answer = _render(endpoint.crypto, opened, reply, clock.now())
        self._writer.submit(_Pending(endpoint.app, opened.push, answer, late, waiter))

    # -- credentials

    def _verified(self, appid: str, check: Callable[[_Endpoint], T]) -> tuple[_Endpoint, T]:
        return self._verified_kept(appid, check) or self._verified_fresh(appid, check)

    def _verified_kept(
        self, appid: str, check: Callable[[_Endpoint], T]
    ) -> tuple[_Endpoint, T] | None:
        """`check` passed with the kept credentials; None when there are none fresh enough,
        or when they fail it in a way new credentials would explain."""
        kept = self._kept.get(appid)
        if kept is None or time.monotonic() - kept[0] >= self._ttl:
            return None
        try:
            return kept[1], check(kept[1])
        except SiyuError as exc:
            if exc.code in CREDENTIAL_ERRORS:  # a new Token or EncodingAESKey counts at once
                return None
            raise

    def _verified_fresh(self, appid: str, check: Callable[[_Endpoint], T]) -> tuple[_Endpoint, T]:
        with self.db.session_scope() as session:
            endpoint = _endpoint(session, appid)
        if self._ttl > 0:
            self._kept[appid] = (time.monotonic(), endpoint)
        return endpoint, check(endpoint)


def _answered(body: str, duplicate: bool) -> Answer:
    PUSHES.labels("duplicate" if duplicate else "accepted").inc()
    return Answer(body, media_type_of(body), duplicate)


def _endpoint(session: Session, appid: str) -> _Endpoint:
    credentials = workspaces.get_app_credentials(session, appid)
    if credentials.kind not in PUSH_KINDS or not credentials.token:
        raise errors.PUSH_NOT_CONFIGURED(
            f"app {appid} takes no pushes: give it a Token first", appid=appid
        )
    keys = [k for k in (credentials.aes_key, credentials.previous_aes_key) if k]
    app = workspaces.get_app_by_appid(session, appid)
    return _Endpoint(app, PushCrypto(credentials.token, keys, appid))


# --- opening -------------------------------------------------------------------------------


def _check_signature(crypto: PushCrypto, params: Mapping[str, str]) -> None:
    timestamp, nonce = params.get("timestamp", ""), params.get("nonce", "")
    if not timestamp or not nonce:
        raise _bad_signature()
    try:
        crypto.check_signature(params.get("signature", ""), timestamp, nonce)
    except BadSignature as exc:
        raise _bad_signature() from exc


def _open(endpoint: _Endpoint, params: Mapping[str, str], body: bytes) -> _Opened:
    crypto = endpoint.crypto
    mode = params.get("encrypt_type") or "raw"
    timestamp, nonce = params.get("timestamp", ""), params.get("nonce", "")
    try:
        if mode == "raw":
            # The signature does not cover the body, but checking it first keeps strangers'
            # bodies away from the parser.
            _check_signature(crypto, params)
            fmt = format_of(body)
            fields, key_index = parse_body(body, fmt), None
        elif mode == "aes":
            # Compatible and secure mode: only the Encrypt field counts, under msg_signature.
            fmt = format_of(body)
            encrypt = text(parse_body(body, fmt), "Encrypt")
            if not encrypt:
                raise MalformedPush("an encrypted push carries an Encrypt field")
            if not timestamp or not nonce:
                raise _bad_signature()
            try:
                crypto.check_msg_signature(
                    params.get("msg_signature", ""), timestamp, nonce, encrypt
                )
            except BadSignature as exc:
                raise _bad_signature() from exc
            message, key_index = _decrypt(crypto, encrypt)
            fields = parse_body(message, format_of(message))
        else:
            raise MalformedPush(f"encrypt_type {mode[:16]!r} is neither raw nor aes")
        return _Opened(build_push(endpoint.app.appid, fields), fmt, key_index, nonce)
    except MalformedPush as exc:
        raise _malformed(str(exc)) from exc


def _decrypt(crypto: PushCrypto, encrypt: str) -> tuple[bytes, int]:
    try:
        opened = crypto.decrypt(encrypt)
    except AppIdMismatch as exc:
        raise errors.APPID_MISMATCH("the push is addressed to another appid") from exc
    except PushCryptoError as exc:
        raise errors.UNDECRYPTABLE(
            "neither the current nor the previous EncodingAESKey opens the push"
        ) from exc
    return opened.message, opened.key_index


# --- passive replies -----------------------------------------------------------------------


def _reply_in_own_session(
    db: Database, app: AppRead, push: Push, handlers: tuple[ReplyHandler, ...]
) -> Reply | None:
    session = db.sessions()
    try:
        return _first_reply(session, app, push, handlers)
    finally:
        session.rollback()
        session.close()


def _first_reply(
    session: Session, app: AppRead, push: Push, handlers: tuple[ReplyHandler, ...]
) -> Reply | None:
    for handler in handlers:
        reply = handler(session, app, push)
        if reply is not None:
            return reply
    return None


def _render(crypto: PushCrypto, opened: _Opened, reply: Reply | None, now: datetime) -> str:
    if reply is None:
        return SUCCESS  # needs no encryption, even in secure mode (fact sheet §1.2)
    push = opened.push
    fields = {
        "ToUserName": push.openid,
        "FromUserName": push.to_user,
        "CreateTime": int(now.timestamp()),
        **reply.fields(),
    }
    content = to_xml(fields) if opened.fmt == "xml" else orjson.dumps(fields).decode()
    if opened.key_index is None:
        return content
    # Sealed with the key that opened the push: during a key change WeChat may hold either.
    encrypt = crypto.encrypt(content.encode("utf-8"), key_index=opened.key_index)
    timestamp = int(now.timestamp())
    envelope = {
        "Encrypt": encrypt,
        "MsgSignature": crypto.msg_signature(str(timestamp), opened.nonce, encrypt),
        "TimeStamp": timestamp,
        "Nonce": opened.nonce,
    }
    return to_xml(envelope) if opened.fmt == "xml" else orjson.dumps(envelope).decode()


# --- storing -------------------------------------------------------------------------------


class _Writer:
    """One thread storing the pushes of a process in batches (group commit)."""

    def __init__(self, db: Database) -> None:
        self._db = db
        self._waiting: SimpleQueue[_Pending] = SimpleQueue()
        self._lock = threading.Lock()
        self._running = False
        self._held: Connection | None = None

    def submit(self, pending: _Pending) -> None:
        self._waiting.put(pending)
        with self._lock:
            if not self._running:
                self._running = True
                threading.Thread(target=self._run, name="siyu-push-writer", daemon=True).start()

    def _run(self) -> None:
        try:
            while True:
                try:
                    first = self._waiting.get(timeout=WRITER_IDLE_S)
                except Empty:
                    with self._lock:  # submit() puts before it looks at _running: none is lost
                        if self._waiting.empty():
                            self._running = False
                            return
                    continue
                batch = [first]
                while len(batch) < BATCH_MAX:
                    try:
                        batch.append(self._waiting.get_nowait())
                    except Empty:
                        break
                self._write(batch)
        finally:
            self._release()

    def _store(
        self, batch: list[_Pending]
    ) -> tuple[list[Outcome], tuple[list[int], list[int]] | None]:
        if self._held is None:
            # Kept while pushes keep coming: a checkout per batch costs a ping round trip.
            connection = self._db.engine.connect()
            if connection.dialect.name == "postgresql":
                # A batch is one INSERT (… ON CONFLICT DO NOTHING), atomic by itself:
                # autocommit spares the BEGIN and COMMIT round trips.
                connection.execution_options(isolation_level="AUTOCOMMIT")
            self._held = connection
        try:
            with self._held.begin():  # commits (a no-op in autocommit)
                return store_pushes(self._held, batch)
        except BaseException:
            self._release()
            raise

    def _release(self) -> None:
        held, self._held = self._held, None
        if held is not None:
            held.close()

    def _write(self, batch: list[_Pending]) -> None:
        try:
            try:
                outcomes, job = self._store(batch)
            except DBAPIError as exc:
                if not exc.connection_invalidated:
                    raise
                # The kept connection died (the database restarted): once more, on a new one.
                # Storing is idempotent: had the first try committed, its pushes come back as
                # stored before, and the periodic sweep enqueues their job.
                outcomes, job = self._store(batch)
        except Exception as exc:  # the requests answer 500; WeChat delivers them again
            log.exception("push_store_failed", count=len(batch))
            _settle(batch, [exc] * len(batch))
            return
        if job is not None:  # were the process to die before this, the periodic sweep finds them
            _enqueue_processing(*job)
        _settle(batch, outcomes)  # only after the commit


def _settle(batch: Sequence[_Pending], outcomes: Sequence[Outcome | BaseException]) -> None:
    """Tell the waiting requests: each event loop in one call, so woken once per batch."""
    on_loops: dict[asyncio.AbstractEventLoop, list[_Settled]] = {}
    for pending, outcome in zip(batch, outcomes, strict=True):
        waiter = pending.waiter
        if waiter.loop is None:
            _resolve(waiter.done, outcome)
        else:
            on_loops.setdefault(waiter.loop, []).append((waiter.done, outcome))
    for loop, settled in on_loops.items():
        _wake(loop, settled)


def _wake(loop: asyncio.AbstractEventLoop, settled: list[_Settled]) -> None:
    with contextlib.suppress(RuntimeError):  # the loop closed (shutdown): nobody waits now
        loop.call_soon_threadsafe(_resolve_all, settled)


def _resolve_all(settled: list[_Settled]) -> None:
    for done, outcome in settled:
        _resolve(done, outcome)


def _resolve(
    done: asyncio.Future[Outcome] | Future[Outcome], outcome: Outcome | BaseException
) -> None:
    if done.done():  # the request was cancelled (the client went away)
        return
    if isinstance(outcome, BaseException):
        done.set_exception(outcome)
    else:
        done.set_result(outcome)


def _enqueue_processing(push_ids: list[int], late: list[int]) -> None:
    try:
        jobs.enqueue_now("wechat.process_pushes", push_ids, late)
    except Exception:
        log.exception("push_enqueue_failed", count=len(push_ids))


def store_pushes(
    connection: Connection, batch: Sequence[_Pending]
) -> tuple[list[Outcome], tuple[list[int], list[int]] | None]:
    """Store the pushes not stored before; for each, the answer to give and if it was a retry,
    and the (push ids, ids to answer late) of the processing job to enqueue after commit.

    A push already stored (by an earlier delivery, a racing one, or earlier in this batch) gets
    the answer stored with it, and is not processed again.
    """
    firsts: dict[tuple[int, str], _Pending] = {}
    for pending in batch:
        firsts.setdefault(pending.key, pending)
    now = clock.now()
    # One order for every writer: two processes inserting overlapping batches cannot deadlock.
    rows = [_row(firsts[key], now) for key in sorted(firsts)]
    inserted = repository.insert_receipts(connection, rows)
    earlier = repository.find_replies(connection, [k for k in firsts if k not in inserted])
    outcomes = []
    for pending in batch:
        if pending.key in inserted:
            outcomes.append((firsts[pending.key].answer, pending is not firsts[pending.key]))
        else:
            outcomes.append((earlier.get(pending.key) or SUCCESS, True))
    if not inserted:
        return outcomes, None
    late = [inserted[key] for key, p in firsts.items() if p.late and key in inserted]
    return outcomes, (sorted(inserted.values()), late)


def _row(pending: _Pending, now: datetime) -> dict[str, Any]:
    push = pending.push
    return {
        "app_id": pending.app.id,
        "dedupe_key": push.dedupe_key,
        "msg_type": push.msg_type,
        "event": push.event_name,
        "openid": push.openid,
        "create_time": push.create_time,
        "payload": orjson.dumps({"push": push.raw}).decode(),
        "reply": pending.answer,
        "status": PushStatus.received,
        "received_at": now,
    }


# --- processing (in the job) ---------------------------------------------------------------


def process(session: Session, push_id: int, *, answer_late: bool = False) -> bool:
    """Resolve the sender, record the timeline event, publish the typed push; once per push."""
    receipt = repository.get_for_update(session, push_id)
    if receipt is None or receipt.status != PushStatus.received:
        return False
    app = workspaces.get_apps_by_id(session, [receipt.app_id])[receipt.app_id]
    push = build_push(app.appid, orjson.loads(receipt.payload)["push"])
    member_id, first_seen = _member_for(session, app, push)
    if member_id is not None and _may_hold_unionid(app, push, first_seen):
        jobs.enqueue(session, "wechat.fetch_follower_unionid", app.id, push.openid)
    push = dataclasses.replace(
        push, workspace_id=app.workspace_id, app_id=app.id, push_id=receipt.id, member_id=member_id
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
    if answer_late:
        _answer_late(session, app, push)
    return True


def _member_for(session: Session, app: AppRead, push: Push) -> tuple[int | None, bool]:
    """The sender's member id, and whether this push made the member."""
    # The mass-send assistant and unknown system events are no members.
    if isinstance(push, MassSendJobFinishEvent | UnknownEvent) or not WECHAT_ID.match(push.openid):
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
        reply = _first_reply(session, app, push, reply_handlers_for(push))
    finally:
        savepoint.rollback()  # handlers only read (see register_reply_handler)
    if reply is None:
        return
    if _late_reply_sender is None:
        log.warning("push_late_reply_dropped", appid=app.appid, reason="no sender wired")
        return
    _late_reply_sender(session, app, push, reply)


def mark_failed(session: Session, push_id: int) -> None:
    repository.mark_failed(session, push_id)


def requeue_stale(session: Session) -> int:
    """Enqueue again the pushes whose job was lost (a crash between commit and enqueue)."""
    stale = repository.stale_receipts(session, clock.now() - STALE_AFTER, STALE_BATCH)
    if stale:
        jobs.enqueue(session, "wechat.process_pushes", list(stale))
        log.warning("push_jobs_requeued", count=len(stale))
    return len(stale)


__all__ = [
    "MAX_PUSH_BYTES",
    "Answer",
    "Inbox",
    "customer_service_message",
    "process",
    "queue_customer_service_reply",
    "register_reply_handler",
    "set_late_reply_sender",
]
