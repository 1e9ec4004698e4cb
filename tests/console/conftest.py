"""Console tests keep uploads in a directory of their own."""

from __future__ import annotations

from pathlib import Path

import pytest

from siyu.core.config import Settings
from tests.community.conftest import campaign  # noqa: F401 - the community pages' fixtures
from tests.wechat.pay.conftest import (  # noqa: F401
    merchant_key,
    pay_env,
    pay_server,
    staff,
)


@pytest.fixture
def settings(settings: Settings, tmp_path: Path) -> Settings:
    return settings.model_copy(update={"data_dir": tmp_path / "data"})
