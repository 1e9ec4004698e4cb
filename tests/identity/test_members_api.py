"""The members API: auth, ingestion, lookup, search, timeline, merges and the review list."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from siyu.core.db import Database
from siyu.identity.models import Member, TimelineEvent
from siyu.workspaces.schemas import AppRead
from tests.support.names import MP_APPID, OA_APPID, openid

T0 = datetime(2026, 11, 1, 1, 0, tzinfo=UTC)


def ev(n: int, **extra: Any) -> dict[str, Any]:
    return {
        "event": "mp.login",
        "ts": (T0 + timedelta(minutes=n)).isoformat(),
        "appid": MP_APPID,
        "openid": openid(1),
        **extra,
    }


def counts(db: Database) -> tuple[int, int]:
    with db.session_scope() as session:
        return (
            int(session.scalar(select(func.count()).select_from(Member)) or 0),
            int(session.scalar(select(func.count()).select_from(TimelineEvent)) or 0),
        )


def test_health_and_openapi(app_client: TestClient) -> None:
    health = app_client.get("/healthz")
    assert health.status_code == 200
    assert health.json()["status"] == "ok"
    spec = app_client.get("/openapi.json").json()
    assert "/api/events" in spec["paths"]
    assert "/api/members/{member_id}/timeline" in spec["paths"]
    assert app_client.get("/metrics").text.count("siyu_http_request_seconds") > 0


@pytest.mark.parametrize(
    ("headers", "code"),
    [
        ({}, "auth.required"),
        ({"Authorization": "Bearer siyu_not-a-real-token"}, "auth.invalid_token"),
    ],
)
def test_api_requires_a_valid_token(
    app_client: TestClient, mp_app: AppRead, headers: dict[str, str], code: str
) -> None:
    response = app_client.post("/api/events", json=[ev(0)], headers=headers)
    assert response.status_code == 401
    assert response.json()["code"] == code


def test_ingest_then_find_by_number_phone_and_timeline(
    api: TestClient, db: Database, mp_app: AppRead, oa_app: AppRead
) -> None:
    # given events of one person from the MP and, with the UnionID, from the OA
    batch = [
        ev(0, unionid=openid(9, "u"), phone="13800138000"),
        ev(1, event="mp.page_view", props={"page": "pages/index", "duration_s": 8}),
        {
            **ev(2, event="oa.subscribe", channel="poster-1"),
            "appid": OA_APPID,
            "openid": openid(2),
            "unionid": openid(9, "u"),
        },
    ]
    response = api.post("/api/events", json=batch)
    assert response.status_code == 200, response.text
    assert response.json() == {"accepted": 3, "rejected": [], "members_created": 1}
    # when staff look the member up by number and by phone
    member = api.get("/api/members/by-number/10001").json()
    by_phone = api.get("/api/members", params={"phone": "13800138000"}).json()
    # then both find the one member, with its timeline newest first
    assert [m["id"] for m in by_phone] == [member["id"]]
    assert {(i["kind"], i["value"]) for i in member["identities"]} >= {
        ("openid", openid(1)),
        ("openid", openid(2)),
        ("unionid", openid(9, "u")),
    }
    timeline = api.get(f"/api/members/{member['id']}/timeline").json()
    assert [i["event"] for i in timeline["items"]] == ["oa.subscribe", "mp.page_view", "mp.login"]
    assert timeline["items"][0]["channel"] == "poster-1"
    assert timeline["items"][0]["appid"] == OA_APPID


def test_invalid_batch_is_422_with_a_report_and_writes_nothing(
    api: TestClient, db: Database, mp_app: AppRead
) -> None:
    response = api.post("/api/events", json=[ev(0), ev(1, openid="bad id"), ev(2, ts="yesterday")])
    assert response.status_code == 422
    body = response.json()
    assert body["code"] == "events.invalid_batch"
    assert [e["line"] for e in body["data"]["errors"]] == [1, 2]
    assert counts(db) == (0, 0)


def test_oversized_batch_is_413_and_writes_nothing(
    api: TestClient, db: Database, mp_app: AppRead
) -> None:
    response = api.post("/api/events", json=[ev(n) for n in range(1001)])
    assert response.status_code == 413
    assert response.json()["code"] == "events.batch_too_large"
    assert counts(db) == (0, 0)


def test_malformed_json_body_is_422(api: TestClient, mp_app: AppRead) -> None:
    response = api.post(
        "/api/events", content=b"{not json", headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 422
    assert response.json()["code"] == "request.invalid"


def test_body_over_the_limit_is_413(api: TestClient, db: Database, mp_app: AppRead) -> None:
    response = api.post(
        "/api/events",
        content=b"[]",
        headers={"Content-Type": "application/json", "Content-Length": str(17 * 1024 * 1024)},
    )
    assert response.status_code == 413
    assert response.json()["code"] == "request.too_large"


def test_unknown_member_is_404(api: TestClient, mp_app: AppRead) -> None:
    for path in ("/api/members/999", "/api/members/by-number/99999", "/api/members/999/timeline"):
        response = api.get(path)
        assert response.status_code == 404, path
        assert response.json()["code"] == "identity.member_not_found"


def test_invalid_query_values_are_4xx(api: TestClient, mp_app: AppRead) -> None:
    assert (
        api.get("/api/members", params={"phone": "12"}).json()["code"] == "identity.invalid_phone"
    )
    assert api.get("/api/members", params={"limit": 0}).status_code == 422
    assert api.get("/api/members", params={"number": -5}).status_code == 422
    assert api.get("/api/members/abc").status_code == 422


def test_merge_undo_and_review_list_over_http(
    api: TestClient, db: Database, mp_app: AppRead, oa_app: AppRead
) -> None:
    api.post(
        "/api/events",
        json=[
            ev(0, unionid=openid(8, "u"), phone="13800138000"),
            {
                **ev(1),
                "appid": OA_APPID,
                "openid": openid(2),
                "unionid": openid(9, "u"),
                "phone": "13800138000",
            },
        ],
    ).raise_for_status()
    (conflict,) = api.get("/api/merge-conflicts").json()
    assert conflict["reason"] == "phone_on_two_unionids"
    merged = api.post(
        f"/api/members/{conflict['member_a_id']}/merge",
        json={"merged_member_id": conflict["member_b_id"], "conflict_id": conflict["id"]},
    )
    assert merged.status_code == 201, merged.text
    again = api.post(
        f"/api/members/{conflict['member_a_id']}/merge",
        json={"merged_member_id": conflict["member_b_id"]},
    )
    assert again.status_code == 409
    assert again.json()["code"] == "identity.member_merged"
    undone = api.post(f"/api/merges/{merged.json()['id']}/undo")
    assert undone.status_code == 200
    assert undone.json()["undone_at"] is not None
    assert api.post(f"/api/merges/{merged.json()['id']}/undo").status_code == 409
    assert api.get(f"/api/members/{conflict['member_b_id']}").json()["status"] == "active"


def test_apps_api_lists_and_refuses_duplicates(api: TestClient, mp_app: AppRead) -> None:
    listed = api.get("/api/apps").json()
    assert [(a["appid"], a["has_secret"]) for a in listed] == [(MP_APPID, True)]
    assert "secret" not in listed[0]
    duplicate = api.post("/api/apps", json={"kind": "mp", "appid": MP_APPID, "name": "again"})
    assert duplicate.status_code == 409
    assert duplicate.json()["code"] == "workspaces.app_exists"
    invalid = api.post("/api/apps", json={"kind": "mp", "appid": "notwx", "name": "x"})
    assert invalid.status_code == 422


def test_token_can_be_created_and_used(api: TestClient, mp_app: AppRead) -> None:
    created = api.post("/api/tokens", json={"name": "crm sync"})
    assert created.status_code == 201
    token = created.json()["token"]
    me = api.get("/api/me", headers={"Authorization": f"Bearer {token}"})
    assert me.json()["via"] == "token"


def test_unknown_path_is_json_for_machines_and_a_page_for_people(app_client: TestClient) -> None:
    machine = app_client.get("/api/nothing-here")
    assert machine.status_code == 404
    assert machine.json()["code"] == "http.404"
    person = app_client.get("/nothing-here", headers={"Accept": "text/html"})
    assert person.status_code == 404
    assert person.headers["content-type"].startswith("text/html")
    assert "http.404" in person.text


def test_a_batch_of_invalid_events_lists_the_first_hundred_and_counts_the_rest(
    api: TestClient, db: Database, mp_app: AppRead
) -> None:
    # Given a full batch in which every event is invalid
    batch = [ev(n, openid="bad id") for n in range(1000)]
    # When it is posted
    response = api.post("/api/events", json=batch)
    # Then the refusal lists the first 100 problems and says how many more there are
    body = response.json()
    assert (response.status_code, body["code"]) == (422, "events.invalid_batch")
    assert [e["line"] for e in body["data"]["errors"]] == list(range(100))
    assert body["data"]["more"] == 900
    assert counts(db) == (0, 0)


def test_megabytes_of_bad_items_are_refused_by_their_count(
    api: TestClient, db: Database, mp_app: AppRead
) -> None:
    # Given two megabytes of items that are not events (before: each validated and listed,
    # a 70 MB answer after seconds of work on the event loop)
    content = b"[" + b",".join([b"1"] * 1_000_000) + b"]"
    # When they are posted
    response = api.post(
        "/api/events", content=content, headers={"Content-Type": "application/json"}
    )
    # Then the batch is refused by its size alone, in a short answer, and nothing is written
    assert (response.status_code, response.json()["code"]) == (413, "events.batch_too_large")
    assert len(response.content) < 1000
    assert counts(db) == (0, 0)


@pytest.mark.parametrize("ts", ["0001-01-01T00:00:00+00:00", "1999-12-31T23:59:59+08:00"])
def test_an_event_dated_before_2000_is_refused(
    api: TestClient, db: Database, mp_app: AppRead, ts: str
) -> None:
    # Given an event whose time is a default date or a slip, not a real event's
    response = api.post("/api/events", json=[ev(0, ts=ts)])
    # Then it is refused by line with the reason, and nothing is written
    body = response.json()
    assert (response.status_code, body["code"]) == (422, "events.invalid_batch")
    assert "before 2000" in body["data"]["errors"][0]["reason"]
    assert counts(db) == (0, 0)


def test_an_event_of_the_first_day_of_2000_is_taken(
    api: TestClient, db: Database, mp_app: AppRead
) -> None:
    response = api.post("/api/events", json=[ev(0, ts="2000-01-01T00:00:00+00:00")])
    assert response.status_code == 200
    assert counts(db)[1] == 1
