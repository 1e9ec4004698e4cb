"""Auto-reply fixtures: the compiled rules forgotten around each test, and reach's people (a
sandbox user who follows and writes to the OA or the Mini Program) with their chats."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from siyu.autoreply import service
from tests.reach.conftest import (  # noqa: F401 - fixtures
    jobs_call_the_sandbox,
    person,
    push,
)
from tests.wechat.conftest import client, drain, mp, oa  # noqa: F401 - fixtures
from tests.wechat.test_gateway_sandbox import (  # noqa: F401 - fixtures
    sandbox_server_fixture,
    world_fixture,
)


@pytest.fixture(autouse=True)
def fresh_rule_cache() -> Iterator[None]:
    """Compiled rules are cached per process by app id, which the next test reuses."""
    service.forget_all()
    yield
    service.forget_all()
