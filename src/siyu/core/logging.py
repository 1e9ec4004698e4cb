"""Structured logs (JSON outside development) carrying a request id into jobs."""

from __future__ import annotations

import logging
import re
import sys
import traceback
from contextvars import ContextVar
from types import TracebackType

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


# Tracebacks quote URLs and messages, and WeChat puts credentials in query strings
# (access_token, secret, js_code, code): their values never reach a log line.
_SECRET_QUERY = re.compile(r"(?<![A-Za-z_])((?:access_token|secret|js_code|code)=)[^&\s\"']+")
ExcInfo = tuple[type[BaseException], BaseException, TracebackType | None]


def _exc_info(value: object) -> ExcInfo | None:
    """What `exc_info=` names: True (the exception being handled), an exception or a tuple."""
    if isinstance(value, BaseException):
        return type(value), value, value.__traceback__
    if isinstance(value, tuple) and len(value) == 3 and isinstance(value[1], BaseException):
        return value[0], value[1], value[2]
    if value is True:
        current = sys.exc_info()
        if current[1] is not None:
            return current[0], current[1], current[2]
    return None


def _render_exception(
    _logger: object, _name: str, event_dict: structlog.types.EventDict
) -> structlog.types.EventDict:
    """JSON lines carry the exception itself: its type, its message and the traceback as text
    (a bare `"exc_info": true` told an operator only that something had failed)."""
    raw = event_dict.pop("exc_info", None)
    info = _exc_info(raw) if raw else None
    if info is None:
        return event_dict
    exc_type, exc, tb = info
    event_dict.setdefault("exc_type", f"{exc_type.__module__}.{exc_type.__qualname__}")
    event_dict.setdefault("exc_message", _SECRET_QUERY.sub(r"\1***", str(exc))[:2000])
    text = "".join(traceback.format_exception(exc_type, exc, tb))
    event_dict["exception"] = _SECRET_QUERY.sub(r"\1***", text)
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
    # The console renderer prints exceptions itself; JSON needs them turned into fields.
    rendering: list[structlog.types.Processor] = (
        [_render_exception, structlog.processors.JSONRenderer()]
        if settings.json_logs
        else [structlog.dev.ConsoleRenderer(colors=sys.stderr.isatty())]
    )
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            _add_request_id,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            *rendering,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(logging.INFO),
        logger_factory=_stderr_logger,
        cache_logger_on_first_use=True,
    )


def get_logger(name: str) -> structlog.stdlib.BoundLogger:
    logger: structlog.stdlib.BoundLogger = structlog.get_logger(name)
    return logger
