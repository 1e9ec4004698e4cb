"""What the application answers when a request cannot be served: numbers beyond a column
refused at the boundary, 405 with `Allow`, the refusals documented, and a failure answered
with its request id (a page in Chinese for the console, JSON for machines)."""

from __future__ import annotations

import re
from typing import Any

from fastapi import FastAPI
from fastapi.routing import APIRoute, iter_route_contexts
from fastapi.testclient import TestClient

from siyu.api.app import create_app
from siyu.core.config import Settings
from siyu.core.db import Database
from siyu.core.params import MAX_ROW_ID
from tests.support.console import Console
from tests.support.routes import routes

TOO_BIG = str(2**64)
_PARAM = re.compile(r"\{([^}]+)\}")


def _numbered(app: FastAPI) -> list[tuple[str, str, str]]:
    """(method, path, url) of every route with a numbered path parameter, each number given
    as 2^64 (the others as a plain word)."""
    found = []
    for method, path, _needed in routes(app):
        names = _PARAM.findall(path)
        numbered = {n for n in names if n.endswith("_id") or n in ("number", "version")}
        if numbered:
            url = path
            for name in names:
                url = url.replace(f"{{{name}}}", TOO_BIG if name in numbered else "x")
            found.append((method, path, url))
    return found


def _integer_params(app: FastAPI) -> list[tuple[str, str, Any]]:
    out = []
    for context in iter_route_contexts(app.routes):
        route = context.original_route
        if isinstance(route, APIRoute):
            dependant = route.dependant
            for field in dependant.path_params + dependant.query_params:
                if field.field_info.annotation in (int, int | None):
                    out.append((route.path, field.name, field.field_info.metadata))
    return out


def test_every_integer_in_a_path_or_query_is_bounded(app_client: TestClient) -> None:
    # Given every route of the application, the console's pages too
    app = app_client.app
    assert isinstance(app, FastAPI)
    # Then each integer of a path or a query carries an upper bound within a 64-bit column
    unbounded = [
        (path, name)
        for path, name, metadata in _integer_params(app)
        if not any(getattr(m, "le", None) is not None for m in metadata)
    ]
    assert unbounded == []
    bounds = [
        m.le for _p, _n, metadata in _integer_params(app) for m in metadata if hasattr(m, "le")
    ]
    assert bounds
    assert max(bounds) <= MAX_ROW_ID


def test_every_integer_an_operation_takes_is_bounded_in_the_openapi_document(
    app_client: TestClient,
) -> None:
    document = app_client.get("/openapi.json").json()
    schemas = document["components"]["schemas"]
    unbounded: list[str] = []

    def walk(node: Any, where: str, seen: frozenset[str]) -> None:
        if isinstance(node, dict):
            ref = node.get("$ref", "")
            name = ref.rsplit("/", 1)[-1]
            if name and name not in seen:
                walk(schemas[name], f"{where}->{name}", seen | {name})
            if node.get("type") == "integer" and "maximum" not in node:
                unbounded.append(where)
            for key, value in node.items():
                walk(value, f"{where}/{key}", seen)
        elif isinstance(node, list):
            for value in node:
                walk(value, where, seen)

    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            for param in operation.get("parameters", []):
                walk(param["schema"], f"{method} {path} {param['name']}", frozenset())
            walk(operation.get("requestBody", {}), f"{method} {path} body", frozenset())
    assert unbounded == []


def test_an_id_beyond_64_bits_is_422_on_every_api_route(api: TestClient) -> None:
    # Given every API route that names something by number
    app = api.app
    assert isinstance(app, FastAPI)
    called = 0
    for method, path, url in _numbered(app):
        if not path.startswith("/api"):
            continue
        # When it is called with a number no column can hold
        response = api.request(method, url, json={})
        # Then it is refused as invalid input, naming the parameter; nothing failed
        assert response.status_code == 422, (method, url, response.text)
        body = response.json()
        assert body["code"] == "request.invalid"
        assert body["message"].startswith("path."), body
        called += 1
    assert called > 40


def test_an_id_beyond_64_bits_is_a_page_on_every_console_page(console: Console) -> None:
    app = console.client.app
    assert isinstance(app, FastAPI)
    pages = [
        (m, u) for m, p, u in _numbered(app) if m == "GET" and not p.startswith(("/api", "/wechat"))
    ]
    assert len(pages) >= 5
    for _method, url in pages:
        response = console.client.get(url, headers={"Accept": "text/html"})
        assert response.status_code == 422, (url, response.text[:300])
        assert "请求参数不正确" in response.text, url


def test_a_status_of_null_is_refused_and_changes_nothing(api: TestClient) -> None:
    # (the whole activity flow is community's; here only the boundary) an explicit null
    # status cannot reach the column
    response = api.patch("/api/community/activities/1", json={"status": None})
    assert response.status_code == 422
    assert response.json()["data"]["errors"][0]["field"] == "body.status"


def test_a_method_the_path_does_not_take_is_405_with_allow(app_client: TestClient) -> None:
    response = app_client.delete("/healthz")
    assert response.status_code == 405
    assert response.json()["code"] == "http.405"
    assert response.headers["Allow"] == "GET"


def test_the_openapi_document_lists_each_operations_refusals(app_client: TestClient) -> None:
    document = app_client.get("/openapi.json").json()
    member = document["paths"]["/api/members/{member_id}"]["get"]["responses"]
    assert {"401", "403", "404", "422"} <= set(member)
    for status in ("404", "422"):
        error_body = member[status]["content"]["application/json"]["schema"]
        assert set(error_body["properties"]) == {"code", "message", "data"}
        assert set(error_body["required"]) == {"code", "message"}
    assert "HTTPValidationError" not in document["components"]["schemas"]
    tag = document["paths"]["/api/members/{member_id}/tags"]["post"]["responses"]
    assert {"400", "401", "403", "404", "409", "413", "422"} <= set(tag)


def _failing_app(settings: Settings, db: Database) -> FastAPI:
    app = create_app(settings, db)

    def boom() -> None:
        raise RuntimeError("a bug")

    # Before the console's catch-all routes: an API path and a page path that fail.
    app.router.routes.insert(0, APIRoute("/api/boom", boom))
    app.router.routes.insert(0, APIRoute("/boom", boom))
    return app


def test_a_failure_answers_json_with_the_request_id(settings: Settings, db: Database) -> None:
    with TestClient(_failing_app(settings, db)) as client:
        response = client.get("/api/boom")
    assert response.status_code == 500
    rid = response.headers["X-Request-ID"]
    assert len(rid) == 32
    assert response.json() == {
        "code": "internal",
        "message": f"internal error (request {rid})",
        "data": {"request_id": rid},
    }


def test_a_failure_in_the_console_is_a_chinese_page_with_the_request_id(
    settings: Settings, db: Database
) -> None:
    with TestClient(_failing_app(settings, db)) as client:
        response = client.get("/boom", headers={"Accept": "text/html", "X-Request-ID": "r-42"})
    assert response.status_code == 500
    assert response.headers["content-type"].startswith("text/html")
    assert response.headers["X-Request-ID"] == "r-42"
    assert "系统内部错误（请求编号 r-42）" in response.text
    assert "<html" in response.text
    assert "None" not in response.text
