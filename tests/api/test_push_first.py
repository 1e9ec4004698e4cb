"""Pushes go to their endpoint ahead of the framework's layers, and are still observed and
refused as every request is: request id, security headers, the error handlers' answers."""

from __future__ import annotations

from collections.abc import Iterator, Mapping

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from siyu.api.app import create_app
from siyu.core.config import Settings
from siyu.core.db import Database
from siyu.wechat.inbox import Inbox
from siyu.wechat.models import PushReceipt
from siyu.workspaces.schemas import AppRead
from tests.support.names import openid
from tests.support.wechat import WeChat, text_push


def stored(db: Database) -> int:
    with db.session_scope() as session:
        return int(session.scalar(select(func.count()).select_from(PushReceipt)) or 0)


def test_a_push_answer_carries_the_request_id_and_the_security_headers(
    oa: WeChat, db: Database
) -> None:
    # given a push sent with the proxy's request id
    oa.client.headers["X-Request-ID"] = "rid-of-a-push"
    response = oa.secure(text_push(openid(1), 4100))
    # then it is accepted, and answered with that id and the headers every answer carries
    assert (response.status_code, response.text) == (200, "success")
    assert response.headers["X-Request-ID"] == "rid-of-a-push"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["X-Frame-Options"] == "DENY"
    assert stored(db) == 1


def test_a_refused_push_is_answered_by_the_error_handler_with_its_request_id(
    client: TestClient, oa_app: AppRead, db: Database
) -> None:
    # when a push comes without a signature
    response = client.post(
        f"/wechat/push/{oa_app.appid}", content=b"<xml/>", headers={"X-Request-ID": "rid-401"}
    )
    # then the application's handler answers with the code, and nothing is stored
    assert response.status_code == 401
    assert response.json()["code"] == "wechat.bad_signature"
    assert response.headers["X-Request-ID"] == "rid-401"
    assert stored(db) == 0


def test_a_declared_body_over_the_push_limit_is_413_before_it_is_read(
    client: TestClient, oa_app: AppRead, db: Database
) -> None:
    response = client.post(
        f"/wechat/push/{oa_app.appid}",
        content=b"<xml/>",
        headers={"Content-Length": str(1024 * 1024 + 1)},
    )
    assert response.status_code == 413
    assert response.json()["code"] == "request.too_large"
    assert stored(db) == 0


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [
        ("POST", "/wechat/push/wx1234/extra", 404),  # two segments: not the push route
        ("PUT", "/wechat/push/wx1234", 405),  # the route takes POST (and GET, the URL check)
    ],
)
def test_other_requests_near_the_push_path_go_through_the_routes(
    client: TestClient, method: str, path: str, status: int
) -> None:
    response = client.request(method, path, content=b"<xml/>")
    assert response.status_code == status
    assert response.json()["code"] == f"http.{status}"


@pytest.fixture
def lenient_client(settings: Settings, db: Database) -> Iterator[TestClient]:
    """A client that gets the 500 as WeChat would, instead of the server's exception."""
    app = create_app(settings, db)
    with TestClient(app, raise_server_exceptions=False) as client:
        yield client


def test_an_unexpected_error_is_a_500_of_the_error_handler(
    lenient_client: TestClient,
    oa_app: AppRead,
    db: Database,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # given an inbox that fails in a way nobody listed
    async def broken(_self: Inbox, _appid: str, _params: Mapping[str, str], _body: bytes) -> None:
        raise RuntimeError("a bug")

    monkeypatch.setattr(Inbox, "receive_async", broken)
    # when a push comes
    response = lenient_client.post(
        f"/wechat/push/{oa_app.appid}", content=b"<xml/>", headers={"X-Request-ID": "rid-500"}
    )
    # then the application's last-resort handler answers, naming the request, and nothing is
    # stored
    assert response.status_code == 500
    body = response.json()
    assert body["code"] == "internal"
    assert "rid-500" in body["message"]
    assert response.headers["X-Request-ID"] == "rid-500"
    assert stored(db) == 0
