"""HTTP to WeChat: errcode → typed errors, bounded retries, metrics and redacted logs."""

from __future__ import annotations

import json
import logging
import re
import time
from collections.abc import Callable
from typing import Any, TypeVar

import httpx
from prometheus_client import Counter
from pydantic import BaseModel, ValidationError
from structlog.stdlib import BoundLogger

from siyu.core.logging import get_logger
from siyu.wechat.gateway.errcodes import (
    RETRYABLE,
    ConnectFailed,
    CredentialsRejected,
    TokenInvalid,
    WeChatError,
    WeChatUnavailable,
    error_for,
)
from siyu.wechat.schemas.outbound import Code2Session, StableToken

API_CALLS = Counter(
    "siyu_wechat_api_calls", "WeChat API calls by path and errcode", ["path", "errcode"]
)
DEFAULT_TIMEOUT = 10.0
# One keep-alive pool per gateway (one gateway per process, `shared_gateway`): concurrent
# callers (reach's delivery batches) reuse warm connections instead of opening one per call;
# httpx's default keeps only 20 alive and closes the rest after each request.
POOL_CONNECTIONS = 32
POOL_KEEPALIVE_S = 30.0
DEFAULT_ATTEMPTS = 3
DEFAULT_BACKOFF = 0.5
MAX_BACKOFF = 4.0
M = TypeVar("M", bound=BaseModel)

# httpx logs every request URL at INFO, and WeChat puts access_token, secret and codes in the
# query string: redact them before any handler sees the record.
_SECRET_QUERY = re.compile(r"((?:access_token|secret|js_code|code)=)[^&\s\"']+")


def redact(text: str) -> str:
    """`text` with credential query values replaced by `***`."""
    return _SECRET_QUERY.sub(r"\1***", text)


class _RedactQuery(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(
                redact(str(arg)) if isinstance(arg, httpx.URL | str) else arg for arg in record.args
            )
        return True


logging.getLogger("httpx").addFilter(_RedactQuery())


def _log() -> BoundLogger:
    # A fresh proxy per call, so that a reconfiguration (tests capturing logs) applies.
    return get_logger(__name__)


def read_answer(model: type[M], data: Any, path: str) -> M:
    """`data` as `model`; another shape is reported without echoing it (it may hold a token)."""
    try:
        return model.model_validate(data)
    except ValidationError:
        raise WeChatUnavailable(-1, f"unexpected {model.__name__} answer", path=path) from None


class Transport:
    """HTTP to WeChat: errcode → typed errors, bounded retries, metrics and redacted logs."""

    def __init__(
        self,
        base_url: str,
        *,
        client: httpx.Client | None = None,
        timeout: float = DEFAULT_TIMEOUT,
        attempts: int = DEFAULT_ATTEMPTS,
        backoff: float = DEFAULT_BACKOFF,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.client = client or httpx.Client(
            base_url=self.base_url,
            timeout=timeout,
            limits=httpx.Limits(
                max_connections=POOL_CONNECTIONS,
                max_keepalive_connections=POOL_CONNECTIONS,
                keepalive_expiry=POOL_KEEPALIVE_S,
            ),
        )
        self.attempts = max(attempts, 1)
        self.backoff = backoff
        self.sleep = sleep

    def close(self) -> None:
        self.client.close()

    def json(
        self,
        appid: str,
        method: str,
        path: str,
        *,
        params: dict[str, str] | None = None,
        body: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        result = self._call(appid, method, path, params, body, binary=False)
        assert isinstance(result, dict)
        return result

    def binary(
        self, appid: str, path: str, *, params: dict[str, str], body: dict[str, Any]
    ) -> bytes:
        """A POST answered by a file (an image), or by a JSON error."""
        result = self._call(appid, "POST", path, params, body, binary=True)
        assert isinstance(result, bytes)
        return result

    def stable_token(self, appid: str, secret: str, *, force_refresh: bool = False) -> StableToken:
        """POST /cgi-bin/stable_token: the app's current token (a new one if `force_refresh`)."""
        body = {
            "grant_type": "client_credential",
            "appid": appid,
            "secret": secret,
            "force_refresh": force_refresh,
        }
        try:
            data = self.json(appid, "POST", "/cgi-bin/stable_token", body=body)
        except TokenInvalid as exc:
            # Without a token in the request, 40001 can only mean the AppSecret is wrong.
            raise CredentialsRejected(exc.errcode, exc.errmsg, path=exc.path) from None
        return read_answer(StableToken, data, "/cgi-bin/stable_token")

    def code2session(self, appid: str, secret: str, js_code: str) -> Code2Session:
        """GET /sns/jscode2session: a wx.login code → openid, session_key, unionid."""
        params = {
            "appid": appid,
            "secret": secret,
            "js_code": js_code,
            "grant_type": "authorization_code",
        }
        data = self.json(appid, "GET", "/sns/jscode2session", params=params)
        return read_answer(Code2Session, data, "/sns/jscode2session")

    def _call(
        self,
        appid: str,
        method: str,
        path: str,
        params: dict[str, str] | None,
        body: dict[str, Any] | None,
        *,
        binary: bool,
    ) -> dict[str, Any] | bytes:
        for attempt in range(1, self.attempts + 1):
            try:
                return self._once(appid, method, path, params, body, binary=binary)
            except (*RETRYABLE, ConnectFailed):
                if attempt == self.attempts:
                    raise
                self.sleep(min(self.backoff * 2 ** (attempt - 1), MAX_BACKOFF))
        raise AssertionError("unreachable")  # pragma: no cover

    def _once(
        self,
        appid: str,
        method: str,
        path: str,
        params: dict[str, str] | None,
        body: dict[str, Any] | None,
        *,
        binary: bool,
    ) -> dict[str, Any] | bytes:
        started = time.perf_counter()
        errcode: int | str = "unavailable"
        try:
            response = self._send(method, path, params, body)
            result = self._parse(response, path, binary=binary)
            errcode = 0
            return result
        except WeChatUnavailable:
            raise
        except WeChatError as exc:
            errcode = exc.errcode
            raise
        finally:
            API_CALLS.labels(path, str(errcode)).inc()
            _log().info(
                "wechat_api_call",
                appid=appid,
                path=path,
                errcode=errcode,
                duration_ms=round((time.perf_counter() - started) * 1000, 1),
            )

    def _send(
        self,
        method: str,
        path: str,
        params: dict[str, str] | None,
        body: dict[str, Any] | None,
    ) -> httpx.Response:
        # Raw UTF-8, as wechatpy sends it: WeChat has shown \u escapes literally (menu names).
        content = None if body is None else json.dumps(body, ensure_ascii=False).encode("utf-8")
        headers = {"Content-Type": "application/json"} if content is not None else None
        try:
            return self.client.request(
                method, path, params=params, content=content, headers=headers
            )
        except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
            raise ConnectFailed(-1, f"cannot connect: {type(exc).__name__}", path=path) from None
        except httpx.HTTPError as exc:
            raise WeChatUnavailable(
                -1, f"request failed: {type(exc).__name__}", path=path
            ) from None

    @staticmethod
    def _parse(response: httpx.Response, path: str, *, binary: bool) -> dict[str, Any] | bytes:
        if response.status_code >= 400:
            raise WeChatUnavailable(-1, f"HTTP {response.status_code}", path=path)
        kind = response.headers.get("content-type", "")
        if binary and "json" not in kind and "text" not in kind:
            return response.content
        try:
            data = json.loads(response.content)
        except ValueError:
            raise WeChatUnavailable(-1, "the answer is not JSON", path=path) from None
        if not isinstance(data, dict):
            raise WeChatUnavailable(-1, "the answer is not a JSON object", path=path)
        errcode = int(data.get("errcode") or 0)
        if errcode != 0:
            raise error_for(errcode, str(data.get("errmsg", "")), path)
        return data
