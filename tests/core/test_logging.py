"""Logs go to the stderr of the moment, even from a logger cached before it was replaced."""

from __future__ import annotations

import io
import sys

import orjson
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


def _raise_busy() -> None:
    raise ConnectionError("pool exhausted at https://api.weixin.qq.com/cgi-bin/x?access_token=TOK")


def test_a_logged_exception_is_in_the_json_line(
    base_settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    # given JSON logs (the default outside development)
    configure_logging(base_settings.model_copy(update={"log_json": True}))
    out = io.StringIO()
    monkeypatch.setattr(sys, "stderr", out)
    # when an exception is logged while it is handled, as the push writer logs a failed store
    try:
        _raise_busy()
    except ConnectionError:
        get_logger("siyu.test.logging").exception("push_store_failed", count=3)
    # then the line names its type and message, and carries the traceback down to the raise
    line = orjson.loads(out.getvalue())
    assert line["event"] == "push_store_failed"
    assert line["count"] == 3
    assert line["exc_type"] == "builtins.ConnectionError"
    assert line["exc_message"].startswith("pool exhausted at https://api.weixin.qq.com")
    assert line["exception"].startswith("Traceback (most recent call last):")
    assert "in _raise_busy" in line["exception"]
    assert line["exception"].rstrip().endswith("access_token=***")
    assert "exc_info" not in line
    # and the credential in the URL is in neither
    assert "TOK" not in out.getvalue()


def test_an_exception_passed_by_value_is_rendered_too(
    base_settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    configure_logging(base_settings.model_copy(update={"log_json": True}))
    out = io.StringIO()
    monkeypatch.setattr(sys, "stderr", out)
    get_logger("siyu.test.logging").warning("push_enqueue_failed", exc_info=KeyError("queue"))
    line = orjson.loads(out.getvalue())
    assert line["exc_type"] == "builtins.KeyError"
    assert line["exc_message"] == "'queue'"
    assert "KeyError: 'queue'" in line["exception"]


def test_a_line_without_an_exception_has_no_exception_fields(
    base_settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    configure_logging(base_settings.model_copy(update={"log_json": True}))
    out = io.StringIO()
    monkeypatch.setattr(sys, "stderr", out)
    get_logger("siyu.test.logging").info("push_stored", exc_info=False)
    line = orjson.loads(out.getvalue())
    assert not {"exc_type", "exc_message", "exception", "exc_info"} & set(line)
