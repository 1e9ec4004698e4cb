"""The operator console in tests: signing in as the owner, the session's CSRF token for htmx
calls, and members ingested for its pages to show."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser
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


# Tags with no end tag: they never enclose a table.
VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "wbr"}


class TableParents(HTMLParser):
    """Each <table> of a page with the classes of the element it sits directly in."""

    def __init__(self) -> None:
        super().__init__()
        self.stack: list[tuple[str, list[str]]] = []
        self.tables: list[tuple[str, list[str]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in VOID:
            return
        classes = (dict(attrs).get("class") or "").split()
        if tag == "table":
            self.tables.append(self.stack[-1] if self.stack else ("", []))
        self.stack.append((tag, classes))

    def handle_endtag(self, tag: str) -> None:
        # Pop to the matching open tag (browsers close a <p> or <li> left open the same way).
        for depth in range(len(self.stack) - 1, -1, -1):
            if self.stack[depth][0] == tag:
                del self.stack[depth:]
                return


def tables_outside_the_wrap(html: str) -> tuple[int, int]:
    """How many tables a page shows, and how many of them do not sit directly in the
    scrolling container (`div.table-wrap`) that lets a wide table scroll inside its panel."""
    parser = TableParents()
    parser.feed(html)
    parser.close()
    outside = [p for p in parser.tables if p[0] != "div" or "table-wrap" not in p[1]]
    return len(parser.tables), len(outside)
