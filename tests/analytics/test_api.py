"""The analytics API: the index, a funnel and retention from the store the settings name;
bad input is a 422 naming the problem; the analyst's answer is aggregates only."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from siyu.analytics import service as analytics
from siyu.api.app import create_app
from siyu.core.config import Settings
from siyu.core.db import Database
from siyu.security.enums import Role
from siyu.security.schemas import Principal
from tests.support.analytics import Scenario
from tests.support.security import make_staff

NOV = {"start": "2026-11-01", "end": "2026-11-30"}


@pytest.fixture
def client(
    analytics_settings: Settings, db: Database, scenario: Scenario, owner: Principal
) -> Iterator[TestClient]:
    with db.session_scope() as session:
        analytics.sync_store(session, analytics.store(analytics_settings))
    staff = make_staff(db, scenario.workspace_id, Role.admin, "admin@example.com")
    with TestClient(create_app(analytics_settings, db), base_url="http://testserver") as c:
        c.headers.update(staff.headers)
        yield c


def test_the_index_funnel_and_retention_over_http(client: TestClient) -> None:
    index = client.get("/api/analytics/index", params={"from": "2026-11-02", "to": "2026-11-03"})
    assert index.status_code == 200, index.text
    assert [(d["date"], d["new"], d["dau"]) for d in index.json()["days"]] == [
        ("2026-11-02", 2, 2),
        ("2026-11-03", 1, 3),
    ]
    steps = [{"event": e} for e in ("mp.launch", "mp.page_view", "oa.subscribe", "pay.paid")]
    funnel = client.post("/api/analytics/funnels", json={"steps": steps, **NOV})
    assert funnel.status_code == 200, funnel.text
    assert [s["members"] for s in funnel.json()["steps"]] == [3, 2, 1, 1]
    retention = client.post(
        "/api/analytics/retention",
        json={"cohort_event": "mp.launch", "return_event": "mp.launch", "periods": 3, **NOV},
    )
    assert retention.status_code == 200, retention.text
    assert retention.json()["cohorts"] == [
        {"start": "2026-11-02", "size": 3, "returned": [3, 1, 1]}
    ]


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({"steps": [{"event": "mp.launch"}, {"event": "made.up"}]}, "analytics.unknown_event"),
        ({"steps": [{"event": "mp.launch"}] * 21}, "analytics.too_many_steps"),
        ({"steps": [{"event": "mp.launch"}] * 2, "window_s": 5}, "analytics.window_out_of_range"),
        (
            {"steps": [{"event": "mp.launch"}] * 2, "start": "2024-01-01"},
            "analytics.span_too_long",
        ),
    ],
)
def test_bad_funnels_are_422_with_their_code(
    client: TestClient, body: dict[str, object], code: str
) -> None:
    response = client.post("/api/analytics/funnels", json={**NOV, **body})
    assert response.status_code == 422, response.text
    assert response.json()["code"] == code


def test_the_analyst_gets_aggregates_only(
    client: TestClient, db: Database, scenario: Scenario
) -> None:
    analyst = make_staff(db, scenario.workspace_id, Role.analyst, "analyst@example.com")
    steps = [{"event": "mp.launch"}, {"event": "mp.page_view"}]
    answer = client.post(
        "/api/analytics/funnels", json={"steps": steps, **NOV}, headers=analyst.headers
    )
    assert answer.status_code == 200, answer.text
    assert [s["members"] for s in answer.json()["steps"]] == [None, None]
    dropped = client.post(
        "/api/analytics/funnels",
        json={"steps": steps, "dropped_at": 2, **NOV},
        headers=analyst.headers,
    )
    assert dropped.status_code == 403
    assert dropped.json()["code"] == "analytics.members_hidden"
