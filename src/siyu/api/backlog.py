"""The backlog as Prometheus gauges: queue depth by lane, the oldest waiting push and notice,
and the throughput of the last minutes, read from the database when `/metrics` is scraped."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from siyu.core.db import Database
from siyu.core.jobs import lane_depths
from siyu.core.logging import get_logger
from siyu.reach import service as reach
from siyu.wechat import service as wechat
from siyu.wechat.pay import service as pay

MINUTES = 5
# Scrapes from several Prometheus servers (or a person reloading) read the database at most
# this often: the figures are minutes-scale, the queries are not free on a big table.
CACHE_SECONDS = 10.0

log = get_logger(__name__)


class BacklogCollector(Collector):
    def __init__(self, db: Database) -> None:
        self.db = db
        self._lock = threading.Lock()
        self._cached: tuple[float, list[GaugeMetricFamily]] | None = None

    def collect(self) -> Iterator[GaugeMetricFamily]:
        with self._lock:
            now = time.monotonic()
            if self._cached is None or now - self._cached[0] > CACHE_SECONDS:
                self._cached = (now, self._read())
            yield from self._cached[1]

    def _read(self) -> list[GaugeMetricFamily]:
        lanes = GaugeMetricFamily(
            "siyu_queue_lane_depth", "Jobs waiting in each lane of the queue", labels=["lane"]
        )
        for lane, depth in lane_depths().items():
            lanes.add_metric([lane], depth)
        with self.db.session_scope() as session:
            pushes = wechat.push_backlog(session, MINUTES)
            notices = reach.notice_backlog(session, MINUTES)
            refunds = pay.refunds_last_minutes(session, MINUTES)

        def gauge(name: str, doc: str, value: float) -> GaugeMetricFamily:
            return GaugeMetricFamily(name, doc, value=value)

        return [
            lanes,
            gauge("siyu_push_backlog", "Pushes stored and waiting to be processed", pushes.waiting),
            gauge(
                "siyu_push_oldest_waiting_seconds",
                "Age of the push waiting longest (0 when none waits)",
                pushes.oldest_age_seconds or 0.0,
            ),
            gauge("siyu_notice_backlog", "Notices queued for delivery", notices.waiting),
            gauge(
                "siyu_notice_oldest_waiting_seconds",
                "Age of the notice queued longest (0 when none waits)",
                notices.oldest_age_seconds or 0.0,
            ),
            gauge(
                "siyu_pushes_processed_per_minute",
                f"Pushes processed per minute over the last {MINUTES} minutes",
                pushes.processed_last_minutes / MINUTES,
            ),
            gauge(
                "siyu_notices_sent_per_minute",
                f"Notices sent per minute over the last {MINUTES} minutes",
                notices.sent_last_minutes / MINUTES,
            ),
            gauge(
                "siyu_refunds_per_minute",
                f"Refunds WeChat Pay took per minute over the last {MINUTES} minutes",
                refunds / MINUTES,
            ),
        ]
