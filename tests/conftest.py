"""The root conftest: the process wired as the app and the worker wire theirs, no SIYU_
setting leaking in, PostgreSQL checked before anything runs, and every fixture module of
`tests/fixtures/` registered (pytest allows `pytest_plugins` only here). Every database test
runs on SQLite and on PostgreSQL (`tests/fixtures/core.py`)."""

from __future__ import annotations

import os

import psycopg
import pytest

from siyu import wiring
from tests.support.names import PG_ADMIN

pytest_plugins = [
    "tests.fixtures.core",
    "tests.fixtures.workspaces",
    "tests.fixtures.security",
    "tests.fixtures.api",
    "tests.fixtures.wechat",
    "tests.fixtures.standin",
    "tests.fixtures.sandbox",
    "tests.fixtures.pay",
    "tests.fixtures.community",
    "tests.fixtures.reach",
    "tests.fixtures.autoreply",
    "tests.fixtures.entries",
    "tests.fixtures.audience",
    "tests.fixtures.console",
    "tests.fixtures.cli",
    "tests.fixtures.drills",
    "tests.fixtures.browser",
]

# The process is wired as the app and the worker wire theirs: subscribers, replies and jobs.
wiring.wire()

# Tests name every setting they need; a developer's environment or .env must not leak in.
for _name in [n for n in os.environ if n.startswith("SIYU_") and n != "SIYU_TEST_PG"]:
    del os.environ[_name]


def pytest_sessionstart(session: pytest.Session) -> None:
    try:
        psycopg.connect(PG_ADMIN, connect_timeout=3).close()
    except psycopg.OperationalError as exc:
        pytest.exit(
            f"PostgreSQL is not reachable ({PG_ADMIN}): run scripts/ensure-services.sh "
            f"— the suite runs every database test on it. {exc}",
            returncode=3,
        )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """A test marked postgres_only proves what only PostgreSQL can show: its SQLite variant is
    not collected (deselected, and counted so), rather than run to skip."""
    kept: list[pytest.Item] = []
    dropped: list[pytest.Item] = []
    for item in items:
        on_sqlite = "[sqlite" in item.nodeid
        (dropped if on_sqlite and item.get_closest_marker("postgres_only") else kept).append(item)
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = kept
