"""The job worker entrypoint: registers every domain's tasks and runs Huey consumers."""

from __future__ import annotations

import importlib

from huey.consumer import Consumer

from siyu.core.jobs import queue

# A consumer can only run tasks whose modules it imported; list every domain's tasks here.
TASK_MODULES = ("siyu.identity.tasks",)


def load_tasks() -> None:
    for module in TASK_MODULES:
        importlib.import_module(module)


def consumer(workers: int) -> Consumer:
    """Worker threads over the configured queue storage (SQLite file or Redis)."""
    load_tasks()
    return Consumer(queue, workers=workers, worker_type="thread", periodic=True)
