"""The job worker entrypoint: wires the process (every domain's jobs) and runs Huey consumers."""

from __future__ import annotations

from huey.consumer import Consumer

from siyu import wiring
from siyu.core.jobs import WECHAT_LANE, lanes, queue
from siyu.core.logging import get_logger

log = get_logger(__name__)


class SiyuConsumer(Consumer):  # type: ignore[misc]  # Huey is untyped
    """Huey's consumer that, on a stop, hands back the jobs it still holds (Redis) at once
    instead of leaving them to the lease's expiry."""

    def stop(self, graceful: bool = False) -> None:
        super().stop(graceful=graceful)
        release = getattr(self.huey.storage, "release", None)
        if release is not None:
            release()


class EmbeddedConsumer(SiyuConsumer):
    """Consumer threads inside `siyu serve`: the web server owns the process's signals."""

    def _set_signal_handlers(self) -> None:
        # Huey would install its own SIGTERM/SIGINT handlers over uvicorn's, and the
        # server would then ignore a stop request. Uvicorn stops us through the lifespan.
        pass


def consumer(workers: int, *, embedded: bool = False) -> Consumer:
    """Worker threads over the configured queue storage (SQLite file or Redis)."""
    wiring.wire()
    storage = queue.storage
    log.info(
        "worker_started",
        threads=workers,
        queue=type(storage).__name__,
        consumer=getattr(storage, "consumer_id", None),
    )
    cls = EmbeddedConsumer if embedded else SiyuConsumer
    return cls(queue, workers=workers, worker_type="thread", periodic=True)


def lane_consumer(threads: int) -> Consumer:
    """Threads of their own for the jobs that call WeChat (`lane="wechat"`, see core.jobs), so
    that WeChat failing or slow never holds the threads that process pushes. Started and
    stopped beside the main consumer (it installs no signal handlers); no periodic jobs."""
    wiring.wire()
    return EmbeddedConsumer(
        lanes[WECHAT_LANE], workers=threads, worker_type="thread", periodic=False
    )
