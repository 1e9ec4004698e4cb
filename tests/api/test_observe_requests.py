"""Every answer carries its request id and the security headers, refusals included."""

from __future__ import annotations

from fastapi.testclient import TestClient

from siyu.api.app import MAX_BODY_BYTES, REQUEST_LATENCY


def _observed(route: str, status: str) -> float:
    return float(REQUEST_LATENCY.labels("GET", route, status)._sum.get())


def test_the_request_id_sent_is_the_one_answered(app_client: TestClient) -> None:
    response = app_client.get("/healthz", headers={"X-Request-ID": "rid-from-the-proxy"})
    assert response.status_code == 200
    assert response.headers["X-Request-ID"] == "rid-from-the-proxy"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["X-Frame-Options"] == "DENY"


def test_without_one_each_request_gets_its_own(app_client: TestClient) -> None:
    first = app_client.get("/healthz").headers["X-Request-ID"]
    second = app_client.get("/healthz").headers["X-Request-ID"]
    assert len(first) == 32
    assert first != second


def test_an_oversized_body_is_refused_before_the_app_reads_it(app_client: TestClient) -> None:
    response = app_client.post(
        "/api/events",
        content=b"{}",
        headers={"Content-Length": str(MAX_BODY_BYTES + 1), "Content-Type": "application/json"},
    )
    assert response.status_code == 413
    assert response.json()["code"] == "request.too_large"
    assert "X-Request-ID" in response.headers
    assert response.headers["Content-Security-Policy"].startswith("default-src 'self'")


def test_latency_is_recorded_by_route_template(app_client: TestClient) -> None:
    before = _observed("/healthz", "200")
    app_client.get("/healthz")
    assert _observed("/healthz", "200") > before
