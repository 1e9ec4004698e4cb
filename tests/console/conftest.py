"""Console tests keep uploads in a directory of their own (a local override of `settings`)."""

from __future__ import annotations

from pathlib import Path

import pytest

from siyu.core.config import Settings


@pytest.fixture
def settings(settings: Settings, tmp_path: Path) -> Settings:
    return settings.model_copy(update={"data_dir": tmp_path / "data"})
