"""A notification whose sender goes away mid-body: a refusal, logged as one, not a failure."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from starlette.types import Message

from siyu.core.db import Database
from siyu.wechat.pay.models import PayNotificationLog


def test_a_sender_gone_mid_body_is_400_and_no_traceback(
    app_client: TestClient, db: Database, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given a notification whose sender disconnects after the first part of its body
    messages: list[dict[str, Any]] = [
        {"type": "http.request", "body": b'{"id": "EV-1", ', "more_body": True},
        {"type": "http.disconnect"},
    ]
    sent: list[Message] = []

    async def receive() -> Message:
        return messages.pop(0)

    async def send(message: Message) -> None:
        sent.append(message)

    path = "/wechat/pay/notify/1900000109"
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [(b"content-type", b"application/json")],
        "client": ("127.0.0.1", 1),
        "server": ("127.0.0.1", 80),
        "app": app_client.app,
    }
    # When it reaches the endpoint
    asyncio.run(app_client.app(scope, receive, send))  # type: ignore[arg-type]
    # Then it is refused as incomplete (as the push endpoint refuses one), without a traceback
    assert sent[0]["status"] == 400
    assert b'"request.incomplete"' in sent[1]["body"]
    logged = capsys.readouterr()
    assert "unhandled_error" not in logged.out + logged.err
    assert "Traceback" not in logged.out + logged.err
    # and nothing is written, not even to the log of refused notifications
    with db.session_scope() as session:
        assert session.scalar(select(func.count()).select_from(PayNotificationLog)) == 0
