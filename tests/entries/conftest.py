"""Entries tests: the application's gateway reaches the sandbox WeChat (served on loopback)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from siyu.core.config import Settings, install_settings
from siyu.sandbox.world import SandboxWorld
from siyu.wechat import tokens
from tests.wechat.conftest import client, drain, oa  # noqa: F401 - fixtures
from tests.wechat.test_gateway_sandbox import (  # noqa: F401 - fixtures
    sandbox_server_fixture,
    sandbox_url_fixture,
    world_fixture,
)


@pytest.fixture
def settings(settings: Settings, sandbox_url: str) -> Iterator[Settings]:
    """The conftest's settings with WeChat at the sandbox, for the app and for jobs."""
    pointed = settings.model_copy(update={"wechat_api_base": sandbox_url})
    install_settings(pointed)
    tokens._shared.clear()  # a gateway per configuration: no token of an earlier world
    yield pointed
    install_settings(settings)
    tokens._shared.clear()


@pytest.fixture
def manager(api: TestClient, world: SandboxWorld) -> TestClient:
    """The owner's API client, with the sandbox world ready."""
    return api
