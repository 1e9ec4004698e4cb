"""`/metrics` shows the backlog: queue depth by lane, the oldest waiting push, throughput."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import timedelta

from fastapi.testclient import TestClient

from siyu.core.clock import FrozenClock
from siyu.core.db import Database
from siyu.wechat import service as wechat
from tests.support.names import openid
from tests.support.wechat import WeChat, text_push


def gauge(body: str, name: str) -> float:
    match = re.search(rf"^{re.escape(name)} (\S+)$", body, re.MULTILINE)
    assert match is not None, f"{name} missing"
    return float(match.group(1))


def test_metrics_show_the_push_backlog_and_its_age(
    client: TestClient, oa: WeChat, db: Database, frozen_clock: FrozenClock
) -> None:
    # given two pushes stored six minutes ago whose jobs have not run
    for n in range(2):
        oa.plain(text_push(openid(n + 1), 9500 + n))
    frozen_clock.advance(timedelta(minutes=6))
    # when Prometheus scrapes
    body = client.get("/metrics").text
    # then the backlog, its age and the queue's lanes are there
    assert gauge(body, "siyu_push_backlog") == 2
    assert gauge(body, "siyu_push_oldest_waiting_seconds") == 360
    assert gauge(body, 'siyu_queue_lane_depth{lane="main"}') == 2
    assert gauge(body, 'siyu_queue_lane_depth{lane="wechat"}') == 0
    assert gauge(body, "siyu_pushes_processed_per_minute") == 0
    assert gauge(body, "siyu_notice_backlog") == 0
    assert gauge(body, "siyu_refunds_per_minute") == 0


def test_processed_pushes_count_in_the_throughput_of_the_last_minutes(
    oa: WeChat, db: Database, drain: Callable[[], int], frozen_clock: FrozenClock
) -> None:
    # given ten pushes processed now, and two processed more than five minutes ago
    for n in range(2):
        oa.plain(text_push(openid(n + 1), 9600 + n))
    drain()
    frozen_clock.advance(timedelta(minutes=6))
    for n in range(10):
        oa.plain(text_push(openid(n + 1), 9700 + n))
    drain()
    # when the backlog is read
    with db.session_scope() as session:
        backlog = wechat.push_backlog(session, minutes=5)
    # then only the last minutes' count, and nothing waits
    assert backlog.processed_last_minutes == 10
    assert backlog.waiting == 0
    assert backlog.oldest_age_seconds is None
