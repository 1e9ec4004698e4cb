"""Entries tests: the application's gateway reaches the sandbox WeChat (served on loopback), a
local override of `settings` for the whole directory."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from siyu.core.config import Settings
from tests.support.settings import installed


@pytest.fixture
def settings(settings: Settings, sandbox_url: str) -> Iterator[Settings]:
    """The settings with WeChat at the sandbox, for the app and for jobs."""
    with installed(settings, wechat_api_base=sandbox_url) as pointed:
        yield pointed
