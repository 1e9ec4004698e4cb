"""Huey jobs on embedded SQLite or Redis storage, registered and enqueued by name after commit.

A domain's `tasks.py` declares its jobs with `@job("community.send_refunds")`; services enqueue
them by that name (`enqueue(session, "community.send_refunds", ids)`), so a service never
imports its tasks and tasks may import services. `siyu.wiring` imports every tasks module.

On Redis the queue loses nothing a worker took (`ReliableRedisStorage`, below): a job is moved
atomically to its consumer's processing list, removed from it only when it has run, and the
jobs of a consumer whose heartbeat lapsed go back to the queue. Several worker processes enqueue
each periodic job once per minute between them (`SiyuHuey.read_periodic`).

Redis restarted without its data (no persistence, a failover to an empty replica) loses every
queued job at once. A consumer notices at its next heartbeat (its registration is gone) and
runs the hooks registered with `on_queue_lost`: each domain enqueues its sweep at once, and the
sweeps find the stored work (pushes waiting, sends queued, refunds pending) from the database.

Lanes: a job declared with `lane="wechat"` goes to a second Huey queue of its own (storage
`siyu-wechat`: a second name in the same SQLite file, or its own Redis keys), which the
worker consumes with threads of its own (`siyu.worker.lane_consumer`). Calls to WeChat wait on
WeChat, for seconds when it answers -1 and the gateway backs off; on the main queue they held
every worker thread and new followers' pushes waited behind them (issue #18). Everything else
about a lane is the main queue's: enqueue by name after commit, request ids, storage choice.
"""

from __future__ import annotations

import datetime as dt
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from huey import Huey
from huey import signals as huey_signals
from huey.api import Task, TaskWrapper
from huey.storage import MemoryStorage, RedisStorage, SqliteStorage
from sqlalchemy import event
from sqlalchemy.orm import Session, SessionTransaction

from siyu.core.config import Settings
from siyu.core.db import within_transaction
from siyu.core.logging import get_logger, request_id

QUEUE_NAME = "siyu"
MAIN_LANE = "main"
WECHAT_LANE = "wechat"
_PENDING = "siyu.pending_jobs"
_RID_SEP = "~"
_RAW = "_siyu_raw"  # the bytes a job was dequeued as, kept on the task to acknowledge them
_INTERRUPTED = "_siyu_interrupted"

log = get_logger(__name__)

# Put back every job a dead consumer held: atomic, so two consumers that find the same dead
# one move its jobs once. KEYS: consumers set, its alive key, its processing list, the queue.
_RECOVER_LUA = """
if redis.call('EXISTS', KEYS[2]) == 1 then return -1 end
local moved = 0
while redis.call('LMOVE', KEYS[3], KEYS[4], 'LEFT', 'RIGHT') do moved = moved + 1 end
redis.call('SREM', KEYS[1], ARGV[1])
return moved
"""
# Put back one job of our own list, if it is still there. KEYS: processing list, the queue.
_REQUEUE_LUA = """
if redis.call('LREM', KEYS[1], 1, ARGV[1]) == 0 then return 0 end
redis.call('RPUSH', KEYS[2], ARGV[1])
return 1
"""


class ReliableRedisStorage(RedisStorage):  # type: ignore[misc]  # Huey is untyped
    """Huey's Redis storage with acknowledged dequeues and consumer leases.

    Huey's `RedisStorage` pops a job off the list (BRPOP): a worker killed while running it
    takes it along. Here `dequeue` moves the job atomically (BLMOVE) to this consumer's
    processing list, and `ack` removes it once it ran (its retry, if any, is enqueued before).
    A consumer that dequeues registers itself and keeps an alive key with a TTL of
    `lease_seconds`, refreshed every `lease_seconds / 4` by a thread; that thread also puts
    back the jobs of every registered consumer whose alive key expired (a SIGKILL, a lost
    machine), and those of its own list no thread of this process holds (an ack lost to a
    Redis blip, a crash inside Huey's bookkeeping). Delivery is therefore at least once: a
    consumer paused for longer than its lease may see its job run again elsewhere, which the
    jobs allow (each is idempotent through the database's unique keys). A process that only
    enqueues (`siyu serve --no-worker`) never registers.
    """

    def __init__(
        self,
        name: str = QUEUE_NAME,
        *,
        lease_seconds: float = 10,
        on_lost: Callable[[], object] | None = None,
        **kw: Any,
    ) -> None:
        super().__init__(name, **kw)
        self.on_lost = on_lost  # called when Redis is found to have lost its data
        self._registered = False
        self.lease_seconds = lease_seconds
        self.consumer_id = f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:8]}"
        self.consumers_key = f"huey.consumers.{self.name}"
        self._alive_prefix = f"huey.alive.{self.name}."
        self._processing_prefix = f"huey.processing.{self.name}."
        self.processing_key = self._processing_prefix + self.consumer_id
        self._recover = self.conn.register_script(_RECOVER_LUA)
        self._requeue = self.conn.register_script(_REQUEUE_LUA)
        self._lock = threading.Lock()
        self._start_lock = threading.Lock()
        self._held: dict[bytes, int] = {}  # jobs this process's threads run, by count
        self._unacked: list[bytes] = []  # acks that failed: sent again at the next beat
        self._suspects: set[bytes] = set()
        self._stop = threading.Event()
        self._beater: threading.Thread | None = None

    # -- consuming ---------------------------------------------------------------------------

    def dequeue(self) -> bytes | None:
        self._start_lease()
        data: bytes | None = self.conn.blmove(
            self.queue_key, self.processing_key, self.read_timeout, "RIGHT", "LEFT"
        )
        if data is not None:
            with self._lock:
                self._held[data] = self._held.get(data, 0) + 1
        return data

    def ack(self, data: bytes) -> None:
        """The job ran (or was set aside): drop it from the processing list."""
        with self._lock:
            left = self._held.get(data, 0) - 1
            if left > 0:
                self._held[data] = left
            else:
                self._held.pop(data, None)
        try:
            self.conn.lrem(self.processing_key, 1, data)
        except Exception as exc:  # Redis away: the next beat acknowledges it
            log.warning("job_ack_failed", error=repr(exc))
            with self._lock:
                self._unacked.append(data)

    def release(self) -> int:
        """Stop the lease and put back what this consumer still holds (a graceful stop)."""
        self._stop.set()
        self._registered = False  # registering again after this is not a loss
        if self._beater is None:
            return 0
        self._beater.join(timeout=self.lease_seconds)
        self._beater = None
        try:
            self.conn.delete(self._alive_prefix + self.consumer_id)
            return self._recover_consumer(self.consumer_id)
        except Exception as exc:
            log.warning("queue_release_failed", error=repr(exc))
            return 0

    # -- the lease -----------------------------------------------------------------------------

    def _start_lease(self) -> None:
        if self._beater is not None:
            return
        with self._start_lock:
            if self._beater is not None:
                return
            self._stop.clear()
            self.beat()
            self._beater = threading.Thread(
                target=self._beat_loop, name="siyu-queue-lease", daemon=True
            )
            self._beater.start()

    def _beat_loop(self) -> None:
        while not self._stop.wait(self.lease_seconds / 4):
            try:
                self.beat()
            except Exception as exc:  # Redis away: the workers' own reads back off
                log.warning("queue_heartbeat_failed", error=repr(exc))

    def beat(self) -> int:
        """Renew this consumer's lease, then recover what dead consumers (and this one) left."""
        pipe = self.conn.pipeline()
        pipe.set(self._alive_prefix + self.consumer_id, b"1", px=int(self.lease_seconds * 1000))
        pipe.sadd(self.consumers_key, self.consumer_id)
        with self._lock:
            unacked, self._unacked = self._unacked, []
        for data in unacked:
            pipe.lrem(self.processing_key, 1, data)
        added = pipe.execute()[1]
        if added and self._registered:
            # Our registration vanished while our lease ran: Redis came back without its data
            # (or another consumer took us for dead after a long pause; sweeping is harmless).
            log.warning("queue_state_lost", queue=self.name, consumer=self.consumer_id)
            if self.on_lost is not None:
                try:
                    self.on_lost()
                except Exception as exc:
                    log.warning("queue_lost_hooks_failed", error=repr(exc), exc_info=exc)
        self._registered = True
        moved = self.recover_dead()
        moved += self._repair_orphans()
        return moved

    def recover_dead(self) -> int:
        """Put back the jobs of every consumer whose lease expired; how many moved."""
        moved = 0
        for raw in self.conn.smembers(self.consumers_key):
            consumer = raw.decode() if isinstance(raw, bytes) else str(raw)
            if consumer != self.consumer_id:
                moved += max(self._recover_consumer(consumer), 0)
        if moved:
            log.warning("queue_jobs_recovered", jobs=moved, reason="consumer lease expired")
        return moved

    def _recover_consumer(self, consumer: str) -> int:
        keys = [
            self.consumers_key,
            self._alive_prefix + consumer,
            self._processing_prefix + consumer,
            self.queue_key,
        ]
        return int(self._recover(keys=keys, args=[consumer]))

    def _repair_orphans(self) -> int:
        # A job on our list that no thread holds, two beats in a row (a job just moved by
        # BLMOVE is held a moment later), was left by a failed ack or a crash: put it back.
        listed = self.conn.lrange(self.processing_key, 0, -1)
        with self._lock:
            orphans = {d for d in listed if d not in self._held}
            confirmed, self._suspects = orphans & self._suspects, orphans - self._suspects
        moved = 0
        for data in confirmed:
            moved += int(self._requeue(keys=[self.processing_key, self.queue_key], args=[data]))
        if moved:
            log.warning("queue_jobs_recovered", jobs=moved, reason="held by no thread")
        return moved

    def flush_all(self) -> None:
        super().flush_all()
        self.release()
        stale = self.conn.keys(f"huey.*.{self.name}.*")
        if stale:
            self.conn.delete(*stale)
        self.conn.delete(self.consumers_key)

    # -- periodic jobs -------------------------------------------------------------------------

    def claim_once(self, key: str, ttl_seconds: int) -> bool:
        """True for the first consumer to claim `key` within `ttl_seconds`."""
        return bool(self.conn.set(f"huey.claims.{self.name}.{key}", b"1", nx=True, ex=ttl_seconds))


class SiyuHuey(Huey):  # type: ignore[misc]  # Huey is untyped
    """Huey that acknowledges each job it ran to a storage that wants it (see above)."""

    def dequeue(self) -> Task | None:
        data = self.storage.dequeue()
        if data is None:
            return None
        try:
            task = self.deserialize_task(data)
        except Exception:
            # An unreadable job would come back after every recovery: set it aside in the log.
            log.exception("job_unreadable", size=len(data))
            self._ack(data)
            return None
        setattr(task, _RAW, data)
        return task

    def execute(self, task: Task, timestamp: dt.datetime | None = None) -> Any:
        started = time.monotonic()
        value = super().execute(task, timestamp)
        # A job interrupted by a stop did not run: it stays listed and goes back to the queue.
        if not getattr(task, _INTERRUPTED, False):
            self._ack(getattr(task, _RAW, None))
            # Which process ran what, and how long it took: what sharing the work shows.
            log.info("job_ran", job=task.name, ms=round((time.monotonic() - started) * 1000))
        return value

    def _ack(self, data: bytes | None) -> None:
        ack = getattr(self.storage, "ack", None)
        if data is not None and ack is not None:
            ack(data)

    def read_periodic(self, timestamp: dt.datetime | None) -> list[Task]:
        # Each consumer's scheduler offers the periodic jobs every minute; one of them wins.
        due: list[Task] = super().read_periodic(timestamp)
        claim = getattr(self.storage, "claim_once", None)
        if claim is None or not due:
            return due
        minute = (timestamp or dt.datetime.now(dt.UTC)).strftime("%Y%m%d%H%M")
        return [t for t in due if claim(f"periodic.{t.name}.{minute}", 120)]


# One queue object for the process; tasks register on it at import, storage is chosen at start.
queue: Huey = SiyuHuey(QUEUE_NAME, results=False, utc=True, storage_class=MemoryStorage)
# The lanes, by name: each a queue consumed by its own threads (see the module's docstring).
lanes: dict[str, Huey] = {
    MAIN_LANE: queue,
    WECHAT_LANE: SiyuHuey(
        f"{QUEUE_NAME}-{WECHAT_LANE}", results=False, utc=True, storage_class=MemoryStorage
    ),
}
_configured = False


def _mark_interrupted(_signal: str, task: Task, *_args: Any) -> None:
    setattr(task, _INTERRUPTED, True)


for _lane in lanes.values():
    _lane.signal(huey_signals.SIGNAL_INTERRUPTED)(_mark_interrupted)


def lane_storage_name(lane: str, name: str = QUEUE_NAME) -> str:
    """The storage name of a lane: the main lane keeps the queue's name (no migration)."""
    return name if lane == MAIN_LANE else f"{name}-{lane}"


def storage_for(settings: Settings, name: str = QUEUE_NAME) -> Any:
    """Redis storage when `SIYU_REDIS_URL` is set, else the embedded SQLite file."""
    if settings.redis_url:
        return ReliableRedisStorage(
            name, url=settings.redis_url, lease_seconds=settings.queue_lease_seconds
        )
    settings.queue_path.parent.mkdir(parents=True, exist_ok=True)
    return SqliteStorage(name, filename=str(settings.queue_path))


def configure_queue(settings: Settings, name: str = QUEUE_NAME) -> Huey:
    """Point the process queue (and every lane) at the storage these settings name."""
    global _configured  # noqa: PLW0603 - one queue per process, like the engine
    for lane, huey in lanes.items():
        huey.storage = storage_for(settings, lane_storage_name(lane, name))
    if isinstance(queue.storage, ReliableRedisStorage):
        queue.storage.on_lost = run_queue_lost_hooks  # the main queue's consumer tells
    _configured = True
    return queue


_queue_lost_hooks: dict[str, Callable[[], None]] = {}


def on_queue_lost(name: str) -> Callable[[F], F]:
    """Register `fn` (by name: importing twice registers once) to run when the queue is found
    empty after Redis lost its data: it enqueues the domain's sweep."""

    def register(fn: F) -> F:
        _queue_lost_hooks[name] = fn
        return fn

    return register


def run_queue_lost_hooks() -> int:
    """Run every hook (one failing does not stop the others); how many ran."""
    ran = 0
    for name, hook in list(_queue_lost_hooks.items()):
        try:
            hook()
            ran += 1
        except Exception as exc:
            log.warning("queue_lost_hook_failed", hook=name, error=repr(exc), exc_info=exc)
    log.warning("queue_lost_sweeps_enqueued", hooks=ran)
    return ran


def ensure_queue() -> Huey:
    if not _configured:
        from siyu.core.config import get_settings

        configure_queue(get_settings())
    return queue


def queue_kind() -> str:
    storage = ensure_queue().storage
    return "redis" if isinstance(storage, RedisStorage) else "sqlite"


def lane_depths() -> dict[str, int]:
    """Jobs waiting in each lane (not counting those scheduled for later)."""
    ensure_queue()
    return {lane: int(huey.pending_count()) for lane, huey in lanes.items()}


def queue_depth() -> int:
    return sum(lane_depths().values())


F = TypeVar("F", bound=Callable[..., Any])
_JOBS: dict[str, TaskWrapper] = {}


def job(
    name: str, *, periodic: Any = None, lane: str = MAIN_LANE, **options: Any
) -> Callable[[F], TaskWrapper]:
    """Register a function as the job `name` ("<domain>.<verb>"); `periodic` takes a crontab.

    `options` are Huey's (retries, retry_delay, context, ...). A name is registered once.
    `lane="wechat"` for a job whose time goes to calling WeChat; periodic jobs stay on the
    main lane (only its consumer schedules them).
    """
    huey = lanes[lane]
    if periodic is not None and lane != MAIN_LANE:
        raise ValueError(f"periodic job {name} must be on the main lane")

    def register(fn: F) -> TaskWrapper:
        if name in _JOBS:
            raise ValueError(f"job {name} is registered twice")
        if periodic is not None:
            wrapper = huey.periodic_task(periodic, name=name, **options)(fn)
        else:
            wrapper = huey.task(name=name, **options)(fn)
        _JOBS[name] = wrapper
        return wrapper

    return register


def job_named(name: str) -> TaskWrapper:
    """The registered job; a name nobody registered is a wiring bug, said plainly."""
    try:
        return _JOBS[name]
    except KeyError:
        raise LookupError(
            f"no job named {name!r}: is its tasks module listed in siyu.wiring.TASK_MODULES?"
        ) from None


def job_names() -> list[str]:
    return sorted(_JOBS)


def enqueue(session: Session, name: str, *args: Any, **kwargs: Any) -> None:
    """Enqueue the job `name` once this session's transaction commits (see below)."""
    enqueue_after_commit(session, job_named(name), *args, **kwargs)


def enqueue_now(name: str, *args: Any, **kwargs: Any) -> None:
    """Enqueue the job `name` at once, outside any transaction (what it needs is committed)."""
    wrapper = job_named(name)
    task = wrapper.s(*args, **kwargs)
    if rid := request_id.get():
        task.id = f"{rid}{_RID_SEP}{task.id}"
    ensure_queue()
    wrapper.huey.enqueue(task)


@dataclass(frozen=True)
class _PendingJob:
    task: Task
    transaction: SessionTransaction
    huey: Huey  # the lane the job runs on


def enqueue_after_commit(session: Session, task_fn: Any, *args: Any, **kwargs: Any) -> None:
    """Enqueue `task_fn(*args, **kwargs)` once this session's transaction commits.

    A job enqueued before commit could run against rows another connection cannot see yet,
    or for a transaction that is later rolled back; so jobs wait in `session.info` until then.
    """
    transaction = session.get_nested_transaction() or session.get_transaction()
    if transaction is None:
        transaction = session.begin()
    task = task_fn.s(*args, **kwargs)
    if rid := request_id.get():
        # The job's logs carry the request that caused it; the id travels in the task id.
        task.id = f"{rid}{_RID_SEP}{task.id}"
    pending: list[_PendingJob] = session.info.setdefault(_PENDING, [])
    pending.append(_PendingJob(task, transaction, getattr(task_fn, "huey", None) or queue))


def _restore_request_id(task: Task) -> None:
    rid, sep, _ = str(task.id).rpartition(_RID_SEP)
    request_id.set(rid if sep else None)


def _forget_request_id(_task: Task, _value: Any, _exc: BaseException | None) -> None:
    request_id.set(None)  # worker threads are reused: never leak one job's id into the next


for _huey in lanes.values():
    _huey.pre_execute()(_restore_request_id)
    _huey.post_execute()(_forget_request_id)


@event.listens_for(Session, "after_soft_rollback")
def _drop_rolled_back(session: Session, previous: SessionTransaction) -> None:
    pending: list[_PendingJob] = session.info.get(_PENDING, [])
    if pending:
        session.info[_PENDING] = [
            j for j in pending if not within_transaction(j.transaction, previous)
        ]


@event.listens_for(Session, "after_commit")
def _enqueue_committed(session: Session) -> None:
    pending: list[_PendingJob] = session.info.pop(_PENDING, [])
    if pending:
        ensure_queue()
        for job in pending:
            try:
                job.huey.enqueue(job.task)
            except Exception as exc:
                # The transaction is committed: raising here would answer an error for work
                # that was done. The rows it wrote carry their status (a push stored, a send
                # queued, a refund pending), and each domain's sweep picks them up again.
                log.error(
                    "job_enqueue_failed",
                    job=job.task.name,
                    task_id=str(job.task.id),
                    error=repr(exc),
                    exc_info=exc,
                )


@event.listens_for(Session, "after_transaction_end")
def _drop_unsent(session: Session, transaction: SessionTransaction) -> None:
    # The outermost transaction ended without commit (which would have sent them): drop them.
    # `after_rollback` cannot be used: it fires for a savepoint's rollback too.
    if transaction.parent is None:
        session.info.pop(_PENDING, None)


__all__ = [
    "MAIN_LANE",
    "WECHAT_LANE",
    "ReliableRedisStorage",
    "SiyuHuey",
    "configure_queue",
    "enqueue",
    "enqueue_after_commit",
    "enqueue_now",
    "job",
    "job_named",
    "job_names",
    "lane_depths",
    "lane_storage_name",
    "lanes",
    "queue",
    "queue_depth",
    "storage_for",
]
