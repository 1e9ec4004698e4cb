"""Structured logs (JSON outside development) carrying a request id into jobs."""

from __future__ import annotations

import logging
import sys
from contextvars import ContextVar

import structlog

from siyu.core.config import Settings

request_id: ContextVar[str | None] = ContextVar("siyu_request_id", default=None)


def _add_request_id(
    _logger: object, _name: str, event_dict: structlog.types.EventDict
) -> structlog.types.EventDict:
    rid = request_id.get()
    if rid is not None:
        event_dict.setdefault("request_id", rid)
    return event_dict


class _StderrLogger:
    """Writes each line to whatever `sys.stderr` is at that moment, in one call: a logger is
    cached on first use, and the stream it first saw may since have been replaced and closed
    (a CLI runner in tests, a daemon that redirects its output)."""

    def msg(self, message: str) -> None:
        sys.stderr.write(message + "\n")

    log = debug = info = warn = warning = error = critical = exception = fatal = msg


def _stderr_logger(*_args: object) -> _StderrLogger:
    return _StderrLogger()


def configure_logging(settings: Settings) -> None:
    renderer: structlog.types.Processor = (
        structlog.processors.JSONRenderer()
        if settings.json_logs
        else structlog.dev.ConsoleRenderer(colors=sys.stderr.isatty())
    )
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            _add_request_id,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(logging.INFO),
        logger_factory=_stderr_logger,
        cache_logger_on_first_use=True,
    )


def get_logger(name: str) -> structlog.stdlib.BoundLogger:
    logger: structlog.stdlib.BoundLogger = structlog.get_logger(name)
    return logger
