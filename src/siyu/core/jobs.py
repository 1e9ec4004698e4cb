"""Huey jobs on embedded SQLite or Redis storage, registered and enqueued by name after commit.

A domain's `tasks.py` declares its jobs with `@job("community.send_refunds")`; services enqueue
them by that name (`enqueue(session, "community.send_refunds", ids)`), so a service never
imports its tasks and tasks may import services. `siyu.wiring` imports every tasks module.

Lanes: a job declared with `lane="wechat"` goes to a second Huey queue of its own (storage
`siyu-wechat`: a second name in the same SQLite file, or its own Redis keys), which the
worker consumes with threads of its own (`siyu.worker.lane_consumer`). Calls to WeChat wait on
WeChat, for seconds when it answers -1 and the gateway backs off; on the main queue they held
every worker thread and new followers' pushes waited behind them (issue #18). Everything else
about a lane is the main queue's: enqueue by name after commit, request ids, storage choice.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from huey import Huey
from huey.api import Task, TaskWrapper
from huey.storage import MemoryStorage, RedisStorage, SqliteStorage
from sqlalchemy import event
from sqlalchemy.orm import Session, SessionTransaction

from siyu.core.config import Settings
from siyu.core.db import within_transaction
from siyu.core.logging import request_id

QUEUE_NAME = "siyu"
MAIN_LANE = "main"
WECHAT_LANE = "wechat"
_PENDING = "siyu.pending_jobs"
_RID_SEP = "~"

# One queue object for the process; tasks register on it at import, storage is chosen at start.
queue: Huey = Huey(QUEUE_NAME, results=False, utc=True, storage_class=MemoryStorage)
# The lanes, by name: each a queue consumed by its own threads (see the module's docstring).
lanes: dict[str, Huey] = {
    MAIN_LANE: queue,
    WECHAT_LANE: Huey(
        f"{QUEUE_NAME}-{WECHAT_LANE}", results=False, utc=True, storage_class=MemoryStorage
    ),
}
_configured = False


def lane_storage_name(lane: str, name: str = QUEUE_NAME) -> str:
    """The storage name of a lane: the main lane keeps the queue's name (no migration)."""
    return name if lane == MAIN_LANE else f"{name}-{lane}"


def storage_for(settings: Settings, name: str = QUEUE_NAME) -> Any:
    """Redis storage when `SIYU_REDIS_URL` is set, else the embedded SQLite file."""
    if settings.redis_url:
        return RedisStorage(name, url=settings.redis_url)
    settings.queue_path.parent.mkdir(parents=True, exist_ok=True)
    return SqliteStorage(name, filename=str(settings.queue_path))


def configure_queue(settings: Settings, name: str = QUEUE_NAME) -> Huey:
    """Point the process queue (and every lane) at the storage these settings name."""
    global _configured  # noqa: PLW0603 - one queue per process, like the engine
    for lane, huey in lanes.items():
        huey.storage = storage_for(settings, lane_storage_name(lane, name))
    _configured = True
    return queue


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
            job.huey.enqueue(job.task)


@event.listens_for(Session, "after_transaction_end")
def _drop_unsent(session: Session, transaction: SessionTransaction) -> None:
    # The outermost transaction ended without commit (which would have sent them): drop them.
    # `after_rollback` cannot be used: it fires for a savepoint's rollback too.
    if transaction.parent is None:
        session.info.pop(_PENDING, None)


__all__ = [
    "MAIN_LANE",
    "WECHAT_LANE",
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
