"""The push writer: a few writers per process store the pushes waiting at a moment in one
statement (group commit), enqueue their processing job, then wake the waiting requests."""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Sequence
from concurrent.futures import Future
from dataclasses import dataclass
from datetime import datetime
from queue import Empty, SimpleQueue
from typing import Any

import orjson
from sqlalchemy import Connection
from sqlalchemy.exc import DBAPIError

from siyu.core import clock, jobs
from siyu.core.db import Database
from siyu.core.logging import get_logger
from siyu.wechat import errors, repository
from siyu.wechat.models import PushStatus
from siyu.wechat.schemas import Push
from siyu.workspaces.schemas import AppRead

SUCCESS = "success"  # "received, the answer (if any) comes later": WeChat does not retry it
BATCH_MAX = 64  # pushes stored in one transaction
WRITERS = 2  # writers (and connections) per process, so that commits overlap; 4 measured slower
WRITER_IDLE_S = 5.0  # an idle writer thread ends; the next push starts another
PROCESS_JOB = "wechat.process_pushes"

log = get_logger(__name__)

Outcome = tuple[str, bool]  # the answer to give, and whether the push was stored before
_Settled = tuple[asyncio.Future[Outcome] | Future[Outcome], Outcome | BaseException]


@dataclass(frozen=True)
class Waiter:
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
class Pending:
    """A push waiting to be stored, and the answer to give once it is (or was, earlier)."""

    app: AppRead
    push: Push
    answer: str
    late: bool
    waiter: Waiter
    signed_at: int | None = None  # the signed timestamp and nonce, used once per app
    nonce: str | None = None

    @property
    def key(self) -> tuple[int, str]:
        return self.app.id, self.push.dedupe_key


class Writer:
    """Stores the pushes of a process in batches (group commit), `WRITERS` batches at once.

    A writer takes all the pushes waiting when it is free and stores them on its own
    connection. While one batch waits for its commit (the disk's flush), the pushes that come
    meanwhile go to the next free writer instead of waiting for that commit to end first:
    with one writer, a push arriving just after a batch left waited for two flushes.

    A writer is either a thread of its own (`submit`, from the event loop, which must not
    wait) or the thread that brings a push and may wait for it (`store`, the reply pool's):
    when a writer's place is free, that thread stores the waiting pushes itself, sparing the
    hand-off to another thread, which under load cost more than the work handed off (the
    wake-up, then the two threads taking turns at the GIL).
    """

    def __init__(self, db: Database, writers: int = WRITERS) -> None:
        self._db = db
        # SQLite takes one writer at a time: a second would only wait for the file's lock.
        self._writers = 1 if db.engine.dialect.name == "sqlite" else writers
        self._waiting: SimpleQueue[Pending] = SimpleQueue()
        self._lock = threading.Lock()
        self._running = 0
        # Connections of writers that came and went, kept for the next (a checkout costs a
        # ping round trip); never more than `_writers`.
        self._lanes: list[_Lane] = []

    def submit(self, pending: Pending) -> None:
        """Hand the push to a writer thread (from the event loop: returns at once)."""
        self._waiting.put(pending)
        with self._lock:
            if self._running < self._writers:
                self._running += 1
                threading.Thread(target=self._run, name="siyu-push-writer", daemon=True).start()

    def store(self, pending: Pending) -> None:
        """Store the push in this thread when a writer's place is free (with any others
        waiting, until none waits), else leave it to the writer at work; from a thread that
        may wait for the database."""
        self._waiting.put(pending)
        with self._lock:
            if self._running >= self._writers:
                return  # a writer at work takes it: it looks for more before it stops
            self._running += 1
        self._write_while_waiting(idle_s=0.0)

    def _run(self) -> None:
        self._write_while_waiting(idle_s=WRITER_IDLE_S)

    def _write_while_waiting(self, idle_s: float) -> None:
        """Store batches until no push has waited for `idle_s`; then give up the place."""
        lane = self._take_lane()
        try:
            while True:
                try:
                    first = (
                        self._waiting.get(timeout=idle_s) if idle_s else self._waiting.get_nowait()
                    )
                except Empty:
                    with self._lock:  # a push is put before writers are counted: none is lost
                        if self._waiting.empty():
                            self._running -= 1
                            self._give_back(lane, keep=not idle_s)
                            return
                    continue
                batch = [first]
                while len(batch) < BATCH_MAX:
                    try:
                        batch.append(self._waiting.get_nowait())
                    except Empty:
                        break
                lane.write(batch)
        except BaseException:
            with self._lock:
                self._running -= 1
            lane.release()
            raise

    def _take_lane(self) -> _Lane:
        with self._lock:
            if self._lanes:
                return self._lanes.pop()
        return _Lane(self._db)

    def _give_back(self, lane: _Lane, *, keep: bool) -> None:
        # Under the lock. A writer thread that idled out lets its connection go; a thread that
        # stored in passing keeps it for the next, as pushes are still coming.
        if keep and len(self._lanes) < self._writers:
            self._lanes.append(lane)
            return
        lane.release()
        if not keep:  # no push for a while: the kept ones go too
            while self._lanes:
                self._lanes.pop().release()


class _Lane:
    """One writer thread's connection to the database, kept while pushes keep coming."""

    def __init__(self, db: Database) -> None:
        self._db = db
        self._held: Connection | None = None

    def _store(
        self, batch: list[Pending]
    ) -> tuple[list[Outcome | BaseException], tuple[list[int], list[int]] | None]:
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
            self.release()
            raise

    def release(self) -> None:
        held, self._held = self._held, None
        if held is not None:
            held.close()

    def write(self, batch: list[Pending]) -> None:
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
        except Exception as exc:  # the requests answer 503; WeChat delivers them again
            log.exception("push_store_failed", count=len(batch))
            # A refusal, not an unhandled error: the answer is a clean 503 and the keep-alive
            # connection stays usable (an unhandled one made the server drop it mid-stream).
            refusal = errors.PUSH_STORE_UNAVAILABLE(
                f"the push could not be stored ({type(exc).__name__}); WeChat will retry"
            )
            refusal.__cause__ = exc
            _settle(batch, [refusal] * len(batch))
            return
        if job is not None:  # were the process to die before this, the periodic sweep finds them
            _enqueue_processing(*job)
        _settle(batch, outcomes)  # only after the commit


def _settle(batch: Sequence[Pending], outcomes: Sequence[Outcome | BaseException]) -> None:
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
        jobs.enqueue_now(PROCESS_JOB, push_ids, late)
    except Exception:
        log.exception("push_enqueue_failed", count=len(push_ids))


def store_pushes(
    connection: Connection, batch: Sequence[Pending]
) -> tuple[list[Outcome | BaseException], tuple[list[int], list[int]] | None]:
    """Store the pushes not stored before; for each, the answer to give and if it was a retry
    (or the refusal of a replay), and the (push ids, ids to answer late) of the processing job
    to enqueue after commit.

    A push already stored (by an earlier delivery, a racing one, or earlier in this batch) gets
    the answer stored with it, and is not processed again. A push whose signed timestamp and
    nonce another push of the app used, and which is not a delivery of that same message, is
    a replay: nothing is stored for it, and it is refused.
    """
    firsts: dict[tuple[int, str], Pending] = {}
    for pending in batch:
        firsts.setdefault(pending.key, pending)
    now = clock.now()
    # One order for every writer: two processes inserting overlapping batches cannot deadlock.
    rows = [_row(firsts[key], now) for key in sorted(firsts)]
    inserted = repository.insert_receipts(connection, rows)
    earlier = repository.find_replies(connection, [k for k in firsts if k not in inserted])
    outcomes: list[Outcome | BaseException] = []
    for pending in batch:
        if pending.key in inserted:
            outcomes.append((firsts[pending.key].answer, pending is not firsts[pending.key]))
        elif pending.key in earlier:
            outcomes.append((earlier[pending.key] or SUCCESS, True))
        else:  # not stored, by no delivery of its own: its (timestamp, nonce) was taken
            outcomes.append(
                errors.REPLAYED_PUSH(
                    f"timestamp {pending.signed_at} and nonce {pending.nonce!r} were used by "
                    "another push of this app"
                )
            )
    if not inserted:
        return outcomes, None
    late = [inserted[key] for key, p in firsts.items() if p.late and key in inserted]
    return outcomes, (sorted(inserted.values()), late)


def _row(pending: Pending, now: datetime) -> dict[str, Any]:
    push = pending.push
    return {
        "app_id": pending.app.id,
        "dedupe_key": push.dedupe_key,
        "msg_type": push.msg_type,
        "event": push.event_name,
        "openid": push.openid,
        "create_time": push.create_time,
        # Whether to answer it late travels with the push, not only in its job's arguments:
        # whichever worker takes the push from the table (its job lost or not) answers it.
        "payload": orjson.dumps({"push": push.raw, "late": pending.late}).decode(),
        "reply": pending.answer,
        "status": PushStatus.received,
        "received_at": now,
        "signed_at": pending.signed_at,
        "nonce": pending.nonce,
    }


__all__ = ["BATCH_MAX", "SUCCESS", "Outcome", "Pending", "Waiter", "Writer", "store_pushes"]
