"""数据 pages: the index, a funnel and a retention grid drawn from the store, in Chinese, with
their tables downloadable as CSV; a bad funnel says what is wrong."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from siyu.analytics import service as analytics
from siyu.api.app import create_app
from siyu.core.config import Settings
from siyu.core.db import Database
from tests.support.analytics import Scenario
from tests.support.console import sign_in

RANGE = {"from": "2026-11-01", "to": "2026-11-30"}


@pytest.fixture
def browser(analytics_settings: Settings, db: Database, scenario: Scenario) -> Iterator[TestClient]:
    with db.session_scope() as session:
        analytics.sync_store(session, analytics.store(analytics_settings))
    with TestClient(create_app(analytics_settings, db), base_url="http://testserver") as client:
        assert sign_in(client).status_code == 303
        yield client


def test_the_index_page_shows_its_charts_and_table(browser: TestClient) -> None:
    page = browser.get("/analytics", params={"from": "2026-11-02", "to": "2026-11-03"})
    assert page.status_code == 200, page.text
    assert "运营指数" in page.text
    assert 'class="table-wrap"' in page.text
    assert page.text.count('class="chart"') == 3
    assert "saveAsImage" in page.text  # each chart downloads as PNG
    assert "当天有任何事件的会员数" in page.text  # a metric's definition as its tooltip
    csv = browser.get(
        "/analytics", params={"from": "2026-11-02", "to": "2026-11-03", "format": "csv"}
    )
    assert csv.headers["content-type"].startswith("text/csv")
    assert csv.text.splitlines()[1].startswith("2026-11-02,2,2,")


def test_the_funnel_and_retention_pages(browser: TestClient) -> None:
    funnel = browser.get(
        "/analytics/funnel",
        params={**RANGE, "steps": "mp.launch\nmp.page_view:from=article", "window_days": "7"},
    )
    assert funnel.status_code == 200, funnel.text
    assert "打开小程序" in funnel.text
    csv = browser.get(
        "/analytics/funnel",
        params={**RANGE, "steps": "mp.launch\nmp.page_view", "format": "csv"},
    )
    assert [line.split(",")[2] for line in csv.text.splitlines()[1:]] == ["3", "2"]
    retention = browser.get("/analytics/retention", params={**RANGE, "periods": "3"})
    assert retention.status_code == 200, retention.text
    assert "留存热力图" in retention.text
    assert '"heatmap"' in retention.text


def test_a_bad_funnel_says_what_is_wrong(browser: TestClient) -> None:
    page = browser.get("/analytics/funnel", params={**RANGE, "steps": "mp.launch\nno.such"})
    assert page.status_code == 200
    assert "没有这个事件：no.such" in page.text
