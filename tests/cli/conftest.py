"""The command line runs against the test database, with nothing from a developer's `.env`."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from siyu.core.config import Settings, get_settings
from siyu.core.db import Database


@pytest.fixture
def cli(
    settings: Settings, db: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[CliRunner]:
    monkeypatch.chdir(tmp_path)  # away from any developer's .env
    env = {
        "SIYU_ENV": "test",
        "SIYU_DATABASE_URL": settings.database_url,
        "SIYU_SECRET_KEY": settings.secret_key.get_secret_value(),
        "SIYU_DATA_KEYS": settings.data_keys.get_secret_value(),
        "SIYU_LOOKUP_KEY": settings.lookup_key.get_secret_value(),
        "SIYU_QUEUE_PATH": str(settings.queue_path),
        "SIYU_ADMIN_PASSWORD": "",
    }
    get_settings.cache_clear()
    yield CliRunner(env=env)
    get_settings.cache_clear()
