"""The request side of the push inbox: verify and open a push, ask the passive-reply handlers
within the budget, hand the push to the writer and answer once it is stored.

This is the hot path (bench/push.py): nothing here may cost a lookup or an allocation per push
that it did not cost before (credentials are kept for a few seconds; handlers are looked up by
push type once).
"""

from __future__ import annotations

import asyncio
import contextvars
import threading
import time
from collections.abc import Callable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass, field
from datetime import datetime
from typing import TypeVar

import orjson
from prometheus_client import Counter
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from siyu.core import clock
from siyu.core.config import Settings
from siyu.core.db import Database
from siyu.core.errors import REQUEST_TOO_LARGE, SiyuError
from siyu.core.logging import get_logger
from siyu.wechat import errors
from siyu.wechat.crypto import AppIdMismatch, BadSignature, PushCrypto, PushCryptoError
from siyu.wechat.inbox.handlers import ReplyHandler, first_reply, reply_handlers_for
from siyu.wechat.inbox.writer import SUCCESS, Outcome, Pending, Waiter, Writer
from siyu.wechat.schemas import (
    MalformedPush,
    Push,
    Reply,
    build_push,
    format_of,
    media_type_of,
    parse_body,
    text,
    to_xml,
)
from siyu.workspaces import service as workspaces
from siyu.workspaces.enums import PushMode
from siyu.workspaces.schemas import AppRead

MAX_PUSH_BYTES = 1024 * 1024
PUSH_KINDS = frozenset({"oa_service", "oa_subscription", "mp"})
ENDPOINT_TTL = 10.0  # seconds an app's push credentials are kept in memory
# Refusals that a changed Token or EncodingAESKey would explain: worth a fresh look.
CREDENTIAL_ERRORS = frozenset(
    {errors.BAD_SIGNATURE.code, errors.UNDECRYPTABLE.code, errors.APPID_MISMATCH.code}
)
REPLY_THREADS = 8  # passive-reply handlers at work at once, per process

NONCE_MAX = 64  # WeChat's nonces are some ten digits; the column holds 64 characters

log = get_logger(__name__)
PUSHES = Counter("siyu_wechat_pushes_total", "Pushes answered, by outcome", ["outcome"])
REFUSED = Counter(
    "siyu_wechat_pushes_refused_total",
    "Pushes not accepted, by reason (the error code without its wechat. prefix)",
    ["reason"],
)

T = TypeVar("T")
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
    secure: bool  # the app's push mode is secure: plaintext pushes are refused


@dataclass(frozen=True)
class _Opened:
    push: Push
    fmt: str  # "xml" or "json": the push's format, which the reply follows
    key_index: int | None  # the EncodingAESKey that opened it; None for a plaintext push
    nonce: str
    signed_at: int  # the query's timestamp, covered by the signature


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
    waiter: Waiter
    context: contextvars.Context  # the request's, so that the request id follows into logs
    _claim: threading.Lock = field(default_factory=threading.Lock)

    def claim(self) -> bool:
        return self._claim.acquire(blocking=False)

    def reply(self) -> None:
        """In the reply pool: the first handler's answer, passed on if the budget is not out."""
        try:
            reply = self.context.run(self._ask)
            if self.claim():  # stored from this thread, which may wait (no hand-off)
                self.inbox._store(self.endpoint, self.opened, reply, False, self.waiter, here=True)
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
        self._writer = Writer(db)

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
        try:
            if len(body) > MAX_PUSH_BYTES:
                raise _too_large()
            window = self.settings.push_timestamp_window_s
            endpoint, opened = self._verified(appid, lambda e: _open(e, params, body, window))
            done: Future[Outcome] = Future()
            ticket = self._start(endpoint, opened, Waiter(None, done))
            if ticket is not None:
                try:
                    return _answered(*done.result(timeout=self._budget_s))
                except FutureTimeout:
                    ticket.over_budget()
            return _answered(*done.result())
        except SiyuError as exc:
            _refused(appid, exc)
            raise

    async def receive_async(self, appid: str, params: Mapping[str, str], body: bytes) -> Answer:
        """`receive` for the event loop: the CPU work here, the waits off the loop."""
        try:
            return await self._receive_async(appid, params, body)
        except SiyuError as exc:
            _refused(appid, exc)
            raise

    async def _receive_async(self, appid: str, params: Mapping[str, str], body: bytes) -> Answer:
        if len(body) > MAX_PUSH_BYTES:
            raise _too_large()
        window = self.settings.push_timestamp_window_s

        def check(endpoint: _Endpoint) -> _Opened:
            return _open(endpoint, params, body, window)

        found = self._verified_kept(appid, check)
        if found is None:  # a lookup: off the event loop
            found = await run_in_threadpool(self._verified_fresh, appid, check)
        endpoint, opened = found
        loop = asyncio.get_running_loop()
        done: asyncio.Future[Outcome] = loop.create_future()
        ticket = self._start(endpoint, opened, Waiter(loop, done))
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

    def _start(self, endpoint: _Endpoint, opened: _Opened, waiter: Waiter) -> _Ticket | None:
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
        waiter: Waiter,
        *,
        here: bool = False,
    ) -> None:
        """Render the answer and hand the push to the writer; `here`: from a thread that may
        wait, which then stores it itself if a writer's place is free."""
        answer = _render(endpoint.crypto, opened, reply, clock.now())
        pending = Pending(
            endpoint.app, opened.push, answer, late, waiter, opened.signed_at, opened.nonce
        )
        if here:
            self._writer.store(pending)
        else:
            self._writer.submit(pending)

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
            # A new Token or EncodingAESKey counts at once, and so does a new push mode.
            if exc.code in CREDENTIAL_ERRORS or exc.code == errors.PLAINTEXT_REFUSED.code:
                return None
            raise

    def _verified_fresh(self, appid: str, check: Callable[[_Endpoint], T]) -> tuple[_Endpoint, T]:
        with self.db.session_scope() as session:
            endpoint = _endpoint(session, appid)
        if self._ttl > 0:
            self._kept[appid] = (time.monotonic(), endpoint)
        return endpoint, check(endpoint)


_COUNTED = {False: PUSHES.labels("accepted"), True: PUSHES.labels("duplicate")}  # looked up once


def _answered(body: str, duplicate: bool) -> Answer:
    _COUNTED[duplicate].inc()
    return Answer(body, media_type_of(body), duplicate)


def _refused(appid: str, exc: SiyuError) -> None:
    """Say why a push was not accepted, in the log and in the metric."""
    reason = exc.code.removeprefix("wechat.")
    REFUSED.labels(reason).inc()
    log.warning("push_refused", appid=appid[:64], reason=reason, detail=exc.message)


def _endpoint(session: Session, appid: str) -> _Endpoint:
    credentials = workspaces.get_app_credentials(session, appid)
    if credentials.kind not in PUSH_KINDS or not credentials.token:
        raise errors.PUSH_NOT_CONFIGURED(
            f"app {appid} takes no pushes: give it a Token first", appid=appid
        )
    keys = [k for k in (credentials.aes_key, credentials.previous_aes_key) if k]
    app = workspaces.get_app_by_appid(session, appid)
    secure = credentials.push_mode == PushMode.secure
    return _Endpoint(app, PushCrypto(credentials.token, keys, appid), secure)


# --- opening -------------------------------------------------------------------------------


def _check_signature(crypto: PushCrypto, params: Mapping[str, str]) -> None:
    timestamp, nonce = params.get("timestamp", ""), params.get("nonce", "")
    if not timestamp or not nonce:
        raise _bad_signature()
    try:
        crypto.check_signature(params.get("signature", ""), timestamp, nonce)
    except BadSignature as exc:
        raise _bad_signature() from exc


def _fresh(timestamp: str, window: int) -> int:
    """The signed timestamp, refused when it is further than `window` seconds from now."""
    if not timestamp.isdigit() or len(timestamp) > 12:
        raise _malformed("the push's timestamp is not a Unix time")
    signed_at = int(timestamp)
    if abs(clock.now().timestamp() - signed_at) > window:
        raise errors.STALE_PUSH(
            f"the push was signed at {signed_at}, more than {window} s from now", window=window
        )
    return signed_at


def _open(endpoint: _Endpoint, params: Mapping[str, str], body: bytes, window: int) -> _Opened:
    crypto = endpoint.crypto
    mode = params.get("encrypt_type") or "raw"
    timestamp, nonce = params.get("timestamp", ""), params.get("nonce", "")
    if len(nonce) > NONCE_MAX:
        raise _malformed(f"the push's nonce is longer than {NONCE_MAX} characters")
    try:
        if mode == "raw":
            # The signature does not cover the body, but checking it first keeps strangers'
            # bodies away from the parser.
            _check_signature(crypto, params)
            if endpoint.secure:
                # In secure mode WeChat sends only encrypted pushes (fact sheet §1.2); a
                # plaintext one was signed with a leaked signature, or the mode changed.
                raise errors.PLAINTEXT_REFUSED(
                    f"app {endpoint.app.appid} is in secure mode: plaintext pushes are refused",
                    appid=endpoint.app.appid,
                )
            signed_at = _fresh(timestamp, window)
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
            signed_at = _fresh(timestamp, window)
            message, key_index = _decrypt(crypto, encrypt)
            fields = parse_body(message, format_of(message))
        else:
            raise MalformedPush(f"encrypt_type {mode[:16]!r} is neither raw nor aes")
        return _Opened(build_push(endpoint.app.appid, fields), fmt, key_index, nonce, signed_at)
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
        return first_reply(session, app, push, handlers)
    finally:
        session.rollback()
        session.close()


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


__all__ = ["MAX_PUSH_BYTES", "PUSHES", "REFUSED", "REPLY_THREADS", "Answer", "Inbox"]
