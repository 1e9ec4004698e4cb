"""Errors with stable codes, rendered by every entrypoint as `{code, message, data}`."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any


class SiyuError(Exception):
    """A refusal the caller can act on. `code` is stable; `message` is for people.

    `on_refused` is what the refusal must leave behind although its transaction is rolled
    back (an audit entry): the entrypoint that renders the refusal runs it, once.
    """

    def __init__(self, code: str, message: str, *, status: int = 400, data: Any = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.status = status
        self.data = data
        self.on_refused: Callable[[], None] | None = None

    def refused(self) -> None:
        """Run `on_refused` (after the refused transaction ended); a second call does nothing."""
        hook, self.on_refused = self.on_refused, None
        if hook is not None:
            hook()

    def as_dict(self) -> dict[str, Any]:
        return {"code": self.code, "message": self.message, "data": self.data}


class NotFound(SiyuError):
    def __init__(self, code: str, message: str, *, data: Any = None) -> None:
        super().__init__(code, message, status=404, data=data)


class Conflict(SiyuError):
    def __init__(self, code: str, message: str, *, data: Any = None) -> None:
        super().__init__(code, message, status=409, data=data)


class Invalid(SiyuError):
    def __init__(self, code: str, message: str, *, data: Any = None) -> None:
        super().__init__(code, message, status=422, data=data)


class Forbidden(SiyuError):
    def __init__(self, code: str, message: str, *, data: Any = None) -> None:
        super().__init__(code, message, status=403, data=data)


class Unauthorized(SiyuError):
    def __init__(self, code: str, message: str, *, data: Any = None) -> None:
        super().__init__(code, message, status=401, data=data)
