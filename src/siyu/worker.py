"""The job worker entrypoint: registers every domain's tasks and runs Huey consumers."""

from __future__ import annotations

import importlib

from huey.consumer import Consumer

from siyu.core.jobs import queue

# A consumer can only run tasks whose modules it imported; list every domain's tasks here.
TASK_MODULES = (
    "siyu.identity.tasks",
    "siyu.wechat.tasks",
    "siyu.wechat.pay.tasks",
    "siyu.entries.tasks",
    "siyu.community.tasks",
    "siyu.reach.tasks",
)


def load_tasks() -> None:
    for module in TASK_MODULES:
        importlib.import_module(module)


class EmbeddedConsumer(Consumer):  # type: ignore[misc]  # Huey is untyped
    """Consumer threads inside `siyu serve`: the web server owns the process's signals."""

    def _set_signal_handlers(self) -> None:
        # Huey would install its own SIGTERM/SIGINT handlers over uvicorn's, and the
        # server would then ignore a stop request. Uvicorn stops us through the lifespan.
        pass


def consumer(workers: int, *, embedded: bool = False) -> Consumer:
    """Worker threads over the configured queue storage (SQLite file or Redis)."""
    load_tasks()
    cls = EmbeddedConsumer if embedded else Consumer
    return cls(queue, workers=workers, worker_type="thread", periodic=True)
