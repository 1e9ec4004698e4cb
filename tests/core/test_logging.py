"""Logs go to the stderr of the moment, even from a logger cached before it was replaced."""

from __future__ import annotations

import io
import sys

import pytest

from siyu.core.config import Settings
from siyu.core.logging import configure_logging, get_logger


def test_a_cached_logger_writes_to_the_stream_that_is_stderr_now(
    base_settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    # given a logger that wrote once (and was cached) while stderr was a first stream
    configure_logging(base_settings.model_copy(update={"log_json": True}))
    log = get_logger("siyu.test.logging")
    first, second = io.StringIO(), io.StringIO()
    monkeypatch.setattr(sys, "stderr", first)
    log.info("first_line")
    # when that stream is closed and stderr replaced (a CLI runner's capture ends)
    first.close()
    monkeypatch.setattr(sys, "stderr", second)
    log.info("second_line", n=2)
    # then the next line reaches the new stream, whole
    assert '"event": "second_line"' in second.getvalue()
    assert second.getvalue().count("\n") == 1
