"""Errors with stable codes, rendered by every entrypoint as `{code, message, data}`."""

from __future__ import annotations

from typing import Any


class SiyuError(Exception):
    """A refusal the caller can act on. `code` is stable; `message` is for people."""

    def __init__(self, code: str, message: str, *, status: int = 400, data: Any = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.status = status
        self.data = data

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
