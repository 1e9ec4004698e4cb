"""Jobs of the WeChat lane wait in a queue of their own, consumed by threads of their own."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator

import pytest
from huey.storage import RedisStorage, SqliteStorage

from siyu import worker
from siyu.core import jobs
from siyu.core.config import Settings
from siyu.core.db import Database

CALLED: list[str] = []
HOLD = threading.Event()


# Registered on the lanes' queues directly: `jobs.job` is for the listed tasks modules only.
@jobs.lanes[jobs.WECHAT_LANE].task(name="test_lanes.call_wechat")  # type: ignore[untyped-decorator]
def call_wechat(value: str) -> None:
    HOLD.wait(timeout=30)  # WeChat slow: the lane's thread is held until the test lets go
    CALLED.append(f"wechat:{value}")


@jobs.queue.task(name="test_lanes.process")  # type: ignore[untyped-decorator]
def process(value: str) -> None:
    CALLED.append(f"main:{value}")


@pytest.fixture(params=["sqlite", "redis"])
def configured(request: pytest.FixtureRequest, base_settings: Settings) -> Iterator[Settings]:
    name = f"siyu-lanes-{uuid.uuid4().hex[:8]}"
    settings = base_settings.model_copy(
        update={
            "redis_url": "redis://127.0.0.1:6379/0" if request.param == "redis" else None,
            "queue_path": base_settings.data_dir / f"{name}.db",
        }
    )
    previous = {lane: huey.storage for lane, huey in jobs.lanes.items()}
    jobs.configure_queue(settings, name=name)
    CALLED.clear()
    HOLD.clear()
    try:
        yield settings
    finally:
        HOLD.set()
        for lane, huey in jobs.lanes.items():
            huey.storage.flush_all()
            huey.storage = previous[lane]


def wait_for(condition: object, seconds: float = 15) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if callable(condition) and condition():
            return True
        time.sleep(0.02)  # polling for a condition with a deadline, not timing a result
    return False


def test_a_lane_job_waits_in_its_own_storage_after_commit(
    configured: Settings, db: Database
) -> None:
    # given a job on the WeChat lane and one on the main lane, enqueued in one transaction
    with db.session_scope() as session:
        jobs.enqueue_after_commit(session, call_wechat, "a")
        jobs.enqueue_after_commit(session, process, "b")
        assert jobs.lane_depths() == {"main": 0, "wechat": 0}  # nothing before commit
    # then each waits in its own lane's storage, under the lane's own name
    assert jobs.lane_depths() == {"main": 1, "wechat": 1}
    assert jobs.queue_depth() == 2
    wechat_storage = jobs.lanes[jobs.WECHAT_LANE].storage
    assert isinstance(wechat_storage, RedisStorage | SqliteStorage)
    assert wechat_storage.name.endswith("wechat")  # Redis keeps only the letters and digits
    assert wechat_storage.name != jobs.queue.storage.name
    # and the main queue holds only its own job
    task = jobs.queue.dequeue()
    assert task is not None
    assert task.name == "test_lanes.process"


def test_main_jobs_run_while_every_wechat_thread_is_held(configured: Settings) -> None:
    # given consumers as `siyu worker` starts them: one main thread, one WeChat thread
    main = worker.consumer(1, embedded=True)
    calls = worker.lane_consumer(1)
    main.start()
    calls.start()
    try:
        # when WeChat hangs for the lane's only thread, and main jobs arrive behind it
        jobs.lanes[jobs.WECHAT_LANE].enqueue(call_wechat.s("slow"))
        for n in range(5):
            jobs.queue.enqueue(process.s(str(n)))
        # then every main job runs while the WeChat call is still held
        assert wait_for(lambda: len([c for c in CALLED if c.startswith("main:")]) == 5)
        assert "wechat:slow" not in CALLED
        # and once WeChat answers, the held call finishes on its own thread
        HOLD.set()
        assert wait_for(lambda: "wechat:slow" in CALLED)
    finally:
        HOLD.set()
        calls.stop(graceful=True)
        main.stop(graceful=True)


def test_a_periodic_job_cannot_go_to_another_lane() -> None:
    with pytest.raises(ValueError, match="main lane"):
        jobs.job("test_lanes.every_minute", periodic=object(), lane=jobs.WECHAT_LANE)
