"""Jobs are enqueued only after commit, on embedded SQLite storage and on Redis."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from huey.storage import RedisStorage, SqliteStorage
from sqlalchemy.orm import Session

from siyu.core import jobs
from siyu.core.config import Settings
from siyu.core.db import Database
from siyu.core.jobs import enqueue_after_commit, queue
from siyu.core.logging import request_id

CALLS: list[str] = []


@queue.task()
def remember(value: str) -> None:
    CALLS.append(value)


@pytest.fixture(params=["sqlite", "redis"])
def storage(request: pytest.FixtureRequest, base_settings: Settings) -> Iterator[object]:
    """The process queue pointed at a private SQLite file or Redis namespace."""
    name = f"siyu-test-{uuid.uuid4().hex[:8]}"
    settings = base_settings.model_copy(
        update={
            "redis_url": "redis://127.0.0.1:6379/0" if request.param == "redis" else None,
            "queue_path": base_settings.data_dir / f"{name}.db",
        }
    )
    previous = {lane: huey.storage for lane, huey in jobs.lanes.items()}
    jobs.configure_queue(settings, name=name)
    expected = RedisStorage if request.param == "redis" else SqliteStorage
    assert isinstance(queue.storage, expected)
    CALLS.clear()
    try:
        yield queue.storage
    finally:
        for lane, huey in jobs.lanes.items():  # configure_queue pointed every lane here
            huey.storage.flush_all()
            huey.storage = previous[lane]


def _drain() -> int:
    ran = 0
    while (task := queue.dequeue()) is not None:
        queue.execute(task)
        ran += 1
    return ran


def test_job_waits_for_commit_then_runs(storage: object, db: Database) -> None:
    # given a job enqueued inside a transaction
    with db.session_scope() as session:
        enqueue_after_commit(session, remember, "welcome")
        # then nothing is queued before commit
        assert queue.pending_count() == 0
    # when the transaction commits, the job is queued and a worker runs it
    assert queue.pending_count() == 1
    assert _drain() == 1
    assert CALLS == ["welcome"]


def test_rolled_back_transaction_enqueues_nothing(storage: object, db: Database) -> None:
    def failing_request() -> None:
        with db.session_scope() as session:
            enqueue_after_commit(session, remember, "never")
            raise RuntimeError("the request failed")

    with pytest.raises(RuntimeError):
        failing_request()
    assert queue.pending_count() == 0
    assert _drain() == 0
    assert CALLS == []


def test_rolled_back_savepoint_drops_only_its_jobs(storage: object, db: Database) -> None:
    with db.session_scope() as session:
        enqueue_after_commit(session, remember, "outer")
        savepoint = session.begin_nested()
        enqueue_after_commit(session, remember, "inner")
        savepoint.rollback()
        kept = session.begin_nested()
        enqueue_after_commit(session, remember, "kept")
        kept.commit()
    ran = _drain()
    assert sorted(CALLS) == ["kept", "outer"]
    assert ran == 2


def test_session_without_transaction_still_waits_for_commit(storage: object, db: Database) -> None:
    session = Session(db.engine)
    enqueue_after_commit(session, remember, "later")
    assert queue.pending_count() == 0
    session.commit()
    session.close()
    assert _drain() == 1
    assert CALLS == ["later"]


@queue.task()
def remember_request() -> None:
    CALLS.append(request_id.get() or "")


def test_job_logs_carry_the_request_id(storage: object, db: Database) -> None:
    token = request_id.set("req-42")
    try:
        with db.session_scope() as session:
            enqueue_after_commit(session, remember_request)
    finally:
        request_id.reset(token)
    assert request_id.get() is None
    assert _drain() == 1
    assert CALLS == ["req-42"]
