"""The operator console in tests: signing in as the owner, the session's CSRF token for htmx
calls, and members ingested for its pages to show."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi.testclient import TestClient
from httpx2 import Response

from siyu.core.db import Database
from siyu.identity import service as identity
from tests.support.names import MP_APPID, OWNER_EMAIL, OWNER_PASSWORD, openid

HTMX = {"HX-Request": "true", "HX-Current-URL": "http://testserver/"}


@dataclass
class Console:
    """A browser signed in as the owner, with the session's CSRF token for htmx calls."""

    client: TestClient
    csrf: str

    def htmx(self, **extra: str) -> dict[str, str]:
        return {**HTMX, "X-CSRF-Token": self.csrf, **extra}


def login_token(client: TestClient, path: str = "/login") -> str:
    page = client.get(path)
    assert page.status_code == 200
    match = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert match is not None
    return match.group(1)


def sign_in(
    client: TestClient,
    next_url: str = "/",
    *,
    email: str = OWNER_EMAIL,
    password: str = OWNER_PASSWORD,
) -> Response:
    token = login_token(client)
    return client.post(
        "/login",
        data={"email": email, "password": password, "csrf_token": token, "next": next_url},
        follow_redirects=False,
    )


def session_csrf(html: str) -> str:
    match = re.search(r'"X-CSRF-Token": "([^"]+)"', html)
    assert match is not None
    return match.group(1)


def ts(minutes_ago: int = 60) -> str:
    """An event's time, `minutes_ago` before the wall clock's now."""
    return (datetime.now(UTC) - timedelta(minutes=minutes_ago)).isoformat()


def ingest(db: Database, workspace_id: int, *events: dict[str, Any]) -> None:
    with db.session_scope() as session:
        identity.ingest_events(session, workspace_id, list(events))


def event(n: int, name: str = "mp.login", minutes_ago: int = 60, **extra: Any) -> dict[str, Any]:
    return {"event": name, "ts": ts(minutes_ago), "appid": MP_APPID, "openid": openid(n), **extra}
