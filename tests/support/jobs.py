"""The job lanes as tests use them: storage private to a test, and every queued job run here."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager

from huey.storage import MemoryStorage

from siyu.core.jobs import lane_storage_name, lanes


@contextmanager
def private_queues(prefix: str = "siyu-test") -> Iterator[None]:
    """Every lane's storage in memory, private to this test; the previous ones back after."""
    name = f"{prefix}-{uuid.uuid4().hex[:8]}"
    previous = {lane: huey.storage for lane, huey in lanes.items()}
    for lane, huey in lanes.items():
        huey.storage = MemoryStorage(lane_storage_name(lane, name))
    try:
        yield
    finally:
        for lane, storage in previous.items():
            lanes[lane].storage = storage


def drain_lanes() -> int:
    """Run every queued job of every lane in this thread, until none is left; how many ran."""
    ran = 0
    while True:
        before = ran
        for huey in lanes.values():
            while (task := huey.dequeue()) is not None:
                huey.execute(task)
                ran += 1
        if ran == before:
            return ran
