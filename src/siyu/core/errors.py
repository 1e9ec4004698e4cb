"""Errors with stable codes, rendered by every entrypoint as `{code, message, data}`.

Each domain lists its codes in its own `errors.py` (an `ErrorCatalog`): the code, the HTTP
status and the words an operator reads in Chinese. A refusal is raised by calling the code:
`raise errors.ENROLLMENT_CLOSED("enrollment closed on 2026-12-01", closed_on="12月1日")` — the
message is the API's (English), the keyword arguments fill the Chinese text's `{placeholders}`.
"""

from __future__ import annotations

import string
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel


class SiyuError(Exception):
    """A refusal the caller can act on. `code` is stable; `message` is for people.

    `on_refused` is what the refusal must leave behind although its transaction is rolled
    back (an audit entry): the entrypoint that renders the refusal runs it, once.
    `params` fill the placeholders of the code's Chinese text (see `ErrorCode`).
    """

    def __init__(
        self,
        code: str,
        message: str,
        *,
        status: int = 400,
        data: Any = None,
        params: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.status = status
        self.data = data
        self.params: dict[str, Any] = dict(params or {})
        self.on_refused: Callable[[], None] | None = None

    def refused(self) -> None:
        """Run `on_refused` (after the refused transaction ended); a second call does nothing."""
        hook, self.on_refused = self.on_refused, None
        if hook is not None:
            hook()

    def as_dict(self) -> dict[str, Any]:
        return {"code": self.code, "message": self.message, "data": self.data}


class ErrorBody(BaseModel):
    """Every refusal's body, as the OpenAPI document shows it: `{code, message, data}`."""

    code: str
    message: str
    data: Any = None


class NotFound(SiyuError):
    def __init__(self, code: str, message: str, *, data: Any = None, **kw: Any) -> None:
        super().__init__(code, message, status=404, data=data, **kw)


class Conflict(SiyuError):
    def __init__(self, code: str, message: str, *, data: Any = None, **kw: Any) -> None:
        super().__init__(code, message, status=409, data=data, **kw)


class Invalid(SiyuError):
    def __init__(self, code: str, message: str, *, data: Any = None, **kw: Any) -> None:
        super().__init__(code, message, status=422, data=data, **kw)


class Forbidden(SiyuError):
    def __init__(self, code: str, message: str, *, data: Any = None, **kw: Any) -> None:
        super().__init__(code, message, status=403, data=data, **kw)


class Unauthorized(SiyuError):
    def __init__(self, code: str, message: str, *, data: Any = None, **kw: Any) -> None:
        super().__init__(code, message, status=401, data=data, **kw)


_BY_STATUS: dict[int, type[SiyuError]] = {
    404: NotFound,
    409: Conflict,
    422: Invalid,
    403: Forbidden,
    401: Unauthorized,
}


class _Blank(dict[str, Any]):
    def __missing__(self, key: str) -> str:
        return "…"  # a raise site that forgot a value still reads as a sentence


@dataclass(frozen=True, slots=True)
class ErrorCode:
    """One refusal: its stable code, its HTTP status and its Chinese text (`{name}` slots).

    `api_only` marks a code no console page can show (a Mini Program's or a machine's call):
    it still has Chinese text, but the console's catalogue test does not ask for it.
    `en` is what an English-speaking operator reads in the console, where it should differ
    from the API's message (without it, the console shows the API's message); its slots are
    among the Chinese text's, so that every raise site that fills one fills the other.
    """

    code: str
    status: int
    zh: str
    api_only: bool = False
    en: str | None = None

    def __call__(self, message: str, /, *, data: Any = None, **params: Any) -> SiyuError:
        """The refusal, ready to raise: `message` for the API, `params` for the Chinese text."""
        kind = _BY_STATUS.get(self.status)
        if kind is None:
            return SiyuError(self.code, message, status=self.status, data=data, params=params)
        return kind(self.code, message, data=data, params=params)

    def text(self, params: Mapping[str, Any] | None = None) -> str:
        """The Chinese text with its slots filled (a missing value reads "…")."""
        return string.Formatter().vformat(self.zh, (), _Blank(params or {}))

    def english(self, params: Mapping[str, Any] | None = None) -> str | None:
        """The console's English text with its slots filled, or None when it has none."""
        if self.en is None:
            return None
        return string.Formatter().vformat(self.en, (), _Blank(params or {}))

    def slots(self) -> set[str]:
        return _slots(self.zh)


def _slots(text: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(text) if name}


_CODES: dict[str, ErrorCode] = {}


class ErrorCatalog:
    """The codes of one area (`ErrorCatalog("community")` makes `community.*` codes)."""

    def __init__(self, prefix: str) -> None:
        self.prefix = prefix

    def add(
        self, name: str, status: int, zh: str, *, api_only: bool = False, en: str | None = None
    ) -> ErrorCode:
        code = f"{self.prefix}.{name}"
        if code in _CODES:
            raise ValueError(f"error code {code} is listed twice")
        entry = ErrorCode(code, status, zh, api_only, en)
        if en is not None and not _slots(en) <= entry.slots():
            raise ValueError(f"the English text of {code} has slots the Chinese text lacks")
        _CODES[code] = entry
        return entry


ERRORS_SHOWN = 100


def capped(errors: Sequence[Any]) -> dict[str, Any]:
    """A refusal's list of problems as its `data`: the first hundred, and how many more.

    A client that sends thousands of bad items learns what is wrong from the first ones; an
    answer listing them all ran to tens of megabytes (and seconds to build and send)."""
    return {"errors": list(errors[:ERRORS_SHOWN]), "more": max(0, len(errors) - ERRORS_SHOWN)}


def error_code(code: str) -> ErrorCode | None:
    """The listed code, or None (a code nobody listed: a bug the catalogue test catches)."""
    return _CODES.get(code)


def all_error_codes() -> Iterator[ErrorCode]:
    return iter(tuple(_CODES.values()))


# Codes of the core and of every entrypoint's request handling.
_request = ErrorCatalog("request")
REQUEST_INVALID = _request.add("invalid", 422, "请求参数不正确。", en="The request is not valid.")
REQUEST_TOO_LARGE = _request.add("too_large", 413, "提交的内容太大（上限 {limit} 字节）。")
REQUEST_INCOMPLETE = _request.add("incomplete", 400, "请求没有收完整，请重试。", api_only=True)
_http = ErrorCatalog("http")
HTTP_NOT_FOUND = _http.add("404", 404, "找不到这个页面或接口。")
HTTP_METHOD_NOT_ALLOWED = _http.add("405", 405, "这个地址不接受这种请求方式。")
INTERNAL = _CODES["internal"] = ErrorCode(
    "internal", 500, "系统内部错误（请求编号 {request_id}）。"
)
