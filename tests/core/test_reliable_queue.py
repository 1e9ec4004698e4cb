"""The Redis queue loses nothing a worker took: a job held by a consumer that died runs again
elsewhere, a job that ran is not run twice, and periodic jobs are enqueued once per minute
however many consumers offer them. On a real Redis, each test in its own queue name."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime

import pytest
import structlog
from huey import crontab
from huey.api import TaskWrapper
from structlog.testing import capture_logs

from siyu.core import jobs
from siyu.core.config import Settings
from siyu.core.db import Database
from siyu.core.jobs import ReliableRedisStorage, SiyuHuey
from tests.support.names import REDIS_URL

RUNS: list[str] = []


@dataclass
class Consumer:
    """One consumer process's view of the queue: its own storage, lease and jobs."""

    huey: SiyuHuey
    jobs: dict[str, TaskWrapper]

    @property
    def storage(self) -> ReliableRedisStorage:
        storage: ReliableRedisStorage = self.huey.storage
        return storage

    def enqueue(self, job: str, value: str) -> None:
        self.jobs[job](value)

    def run_one(self) -> bool:
        task = self.huey.dequeue()
        if task is None:
            return False
        self.huey.execute(task)
        return True


def _consumer(name: str) -> Consumer:
    huey = SiyuHuey(
        name,
        results=False,
        utc=True,
        storage_class=ReliableRedisStorage,
        url=REDIS_URL,
        lease_seconds=1.0,
        read_timeout=0.1,
    )
    return Consumer(
        huey,
        {
            "test.remember": huey.task(name="test.remember")(RUNS.append),
            "test.flaky": huey.task(name="test.flaky", retries=1)(_flaky),
        },
    )


def _flaky(value: str) -> None:
    RUNS.append(value)
    if RUNS.count(value) == 1:
        raise RuntimeError("the first try fails")


@pytest.fixture
def consumers() -> Iterator[tuple[Consumer, Consumer]]:
    """Two consumers of a queue of the test's own name on the local Redis."""
    name = f"siyutest{uuid.uuid4().hex[:10]}"
    first, second = _consumer(name), _consumer(name)
    RUNS.clear()
    yield first, second
    first.storage.release()
    second.storage.flush_all()


def _wait_until(condition: Callable[[], bool], seconds: float = 10.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"not true within {seconds} s")
        time.sleep(0.05)


def _die(consumer: Consumer) -> None:
    """What SIGKILL leaves: the heartbeat stops, nothing is handed back."""
    consumer.storage._stop.set()


def test_a_job_held_by_a_dead_consumer_runs_again_on_another(
    consumers: tuple[Consumer, Consumer],
) -> None:
    first, second = consumers
    # given a job taken by the first consumer, which dies before running it
    first.enqueue("test.remember", "welcome")
    taken = first.huey.dequeue()
    assert taken is not None
    _die(first)
    assert second.huey.pending_count() == 0
    # when the second consumer's heartbeat finds the first's lease expired
    _wait_until(lambda: second.storage.beat() > 0)
    # then the job is back in the queue and runs once, on the second
    task = second.huey.dequeue()
    assert task is not None
    second.huey.execute(task)
    assert RUNS == ["welcome"]
    assert second.huey.pending_count() == 0
    assert second.storage.conn.llen(first.storage.processing_key) == 0


def test_a_job_that_ran_is_not_run_again_when_its_consumer_dies(
    consumers: tuple[Consumer, Consumer],
) -> None:
    first, second = consumers
    # given a job the first consumer ran to its end, then the consumer died
    first.enqueue("test.remember", "once")
    task = first.huey.dequeue()
    assert task is not None
    first.huey.execute(task)
    _die(first)
    # when its lease expires and the second consumer recovers what it held
    lease_key = f"huey.alive.{first.storage.name}.{first.storage.consumer_id}"
    _wait_until(lambda: not second.storage.conn.exists(lease_key))
    assert second.storage.beat() == 0
    # then nothing comes back: the job ran once
    assert second.huey.dequeue() is None
    assert RUNS == ["once"]
    assert first.storage.consumer_id.encode() not in second.storage.conn.smembers(
        second.storage.consumers_key
    )


def test_a_live_consumer_keeps_its_jobs(consumers: tuple[Consumer, Consumer]) -> None:
    first, second = consumers
    # given a job a live consumer is running (its lease renewed)
    first.enqueue("test.remember", "slow")
    task = first.huey.dequeue()
    assert task is not None
    # when the other consumer beats over more than a lease
    deadline = time.monotonic() + 2 * first.storage.lease_seconds
    while time.monotonic() < deadline:
        first.storage.beat()
        assert second.storage.beat() == 0
        time.sleep(0.1)
    # then the job stays with the first, and runs once
    assert second.huey.dequeue() is None
    first.huey.execute(task)
    assert RUNS == ["slow"]


def test_a_retried_job_is_queued_again_and_its_first_try_acknowledged(
    consumers: tuple[Consumer, Consumer],
) -> None:
    first, _ = consumers
    first.enqueue("test.flaky", "x")
    # when the job fails once and is retried
    while first.run_one():
        pass
    # then it ran twice (its one retry) and nothing is left held or queued
    assert RUNS == ["x", "x"]
    assert first.storage.conn.llen(first.storage.processing_key) == 0
    assert first.huey.pending_count() == 0


def test_a_graceful_stop_hands_back_the_jobs_at_once(
    consumers: tuple[Consumer, Consumer],
) -> None:
    first, second = consumers
    first.enqueue("test.remember", "handed")
    assert first.huey.dequeue() is not None
    # when the first stops gracefully without running it
    assert first.storage.release() == 1
    # then the job is queued again without waiting for the lease
    task = second.huey.dequeue()
    assert task is not None
    second.huey.execute(task)
    assert RUNS == ["handed"]


def test_a_periodic_job_is_enqueued_once_a_minute_among_consumers(
    consumers: tuple[Consumer, Consumer],
) -> None:
    first, second = consumers
    for consumer in consumers:
        consumer.huey.periodic_task(crontab(minute="*"), name="test.sweep")(lambda: None)
    now = datetime(2026, 12, 1, 8, 30, tzinfo=UTC)
    # when both consumers' schedulers offer the minute's periodic jobs
    offered = [t.name for t in first.huey.read_periodic(now)] + [
        t.name for t in second.huey.read_periodic(now)
    ]
    # then one of them enqueues the sweep; the next minute it is due again
    assert offered == ["test.sweep"]
    later = datetime(2026, 12, 1, 8, 31, tzinfo=UTC)
    assert [t.name for t in second.huey.read_periodic(later)] == ["test.sweep"]


def test_a_job_that_cannot_be_enqueued_after_commit_is_logged_with_its_cause(
    base_settings: Settings, db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    # given Redis unreachable (nothing listens on port 1)
    previous = {lane: huey.storage for lane, huey in jobs.lanes.items()}
    jobs.configure_queue(base_settings.model_copy(update={"redis_url": "redis://127.0.0.1:1/0"}))
    try:
        with capture_logs() as logs:
            # structlog caches a module's logger on first use, bound to the processors of
            # that moment: a fresh one sees the capture whatever ran in this process before.
            monkeypatch.setattr(jobs, "log", structlog.get_logger("siyu.core.jobs"))
            with db.session_scope() as session:
                jobs.enqueue(session, "wechat.requeue_stale_pushes")
        # then the commit stands (no error raised) and the failure names the job and cause
    finally:
        for lane, storage in previous.items():
            jobs.lanes[lane].storage = storage
    failed = [e for e in logs if e["event"] == "job_enqueue_failed"]
    assert len(failed) == 1
    assert failed[0]["job"] == "wechat.requeue_stale_pushes"
    assert "Connection" in failed[0]["error"]


def test_redis_losing_its_data_runs_the_lost_queue_hooks_once(
    consumers: tuple[Consumer, Consumer],
) -> None:
    # given a consumer that has taken a job (so it holds a lease), told when the queue is lost
    first, _second = consumers
    lost: list[str] = []
    first.storage.on_lost = lambda: lost.append("lost")
    first.enqueue("test.remember", "a")
    assert first.run_one()
    first.storage.beat()
    assert lost == []  # renewing a lease is not a loss
    # when Redis comes back without this queue's keys (a restart without persistence)
    conn = first.storage.conn
    conn.delete(*conn.keys(f"huey.*{first.storage.name}*"))
    first.storage.beat()
    first.storage.beat()
    # then the hooks ran once, and the consumer is registered again
    assert lost == ["lost"]
    assert conn.sismember(first.storage.consumers_key, first.storage.consumer_id)


def test_a_graceful_restart_of_the_lease_is_not_a_lost_queue(
    consumers: tuple[Consumer, Consumer],
) -> None:
    first, _second = consumers
    lost: list[str] = []
    first.storage.on_lost = lambda: lost.append("lost")
    first.enqueue("test.remember", "a")
    assert first.run_one()
    first.storage.release()  # the consumer stops and hands back, then starts again
    first.enqueue("test.remember", "b")
    assert first.run_one()
    first.storage.beat()
    assert lost == []
    assert RUNS == ["a", "b"]


def test_lost_queue_hooks_all_run_when_one_fails(monkeypatch: pytest.MonkeyPatch) -> None:
    ran: list[str] = []

    def broken() -> None:
        raise RuntimeError("Redis away again")

    monkeypatch.setattr(jobs, "_queue_lost_hooks", {"a": broken, "b": lambda: ran.append("b")})
    with capture_logs() as logs:
        # a fresh logger sees the capture (structlog caches the module's first one)
        monkeypatch.setattr(jobs, "log", structlog.get_logger("siyu.core.jobs"))
        assert jobs.run_queue_lost_hooks() == 1
    assert ran == ["b"]
    assert [e["hook"] for e in logs if e["event"] == "queue_lost_hook_failed"] == ["a"]


def test_every_domain_with_stored_work_sweeps_when_the_queue_is_lost() -> None:
    from siyu import wiring

    wiring.wire()
    assert {"wechat.process_waiting_pushes", "reach.redeliver_queued", "pay.sweep"} <= set(
        jobs._queue_lost_hooks
    )
