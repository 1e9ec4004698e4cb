"""The sandbox Pay's rules: v3's limits and retry schedule, its refusals, and the readers of a
request's fields that refuse as v3 does (fact sheet §5)."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from siyu.core.clock import BEIJING

PREPAY_TTL = timedelta(hours=2)
DEFAULT_ORDER_TTL = timedelta(days=7)  # unpaid orders without time_expire die after 7 days
MAX_ORDER_TTL = timedelta(days=90)
REFUND_WINDOW = timedelta(days=365)
MAX_REFUNDS = 50
REFUND_GAP = timedelta(minutes=1)  # "同一笔订单多次退款的请求需相隔1分钟"
# WeChat Pay re-notifies after 15s/15s/30s/3m/10m/20m/30m/30m/30m/60m/3h/3h/3h/6h/6h (§5).
RETRY_SCHEDULE = (
    15,
    15,
    30,
    180,
    600,
    1200,
    1800,
    1800,
    1800,
    3600,
    10800,
    10800,
    10800,
    21600,
    21600,
)
NOTIFY_TIMEOUT = 5.0  # WeChat gives the merchant 5 s to verify, decrypt and answer
OUT_TRADE_NO = re.compile(r"^[0-9A-Za-z_\-|*]{6,32}$")
OUT_REFUND_NO = re.compile(r"^[0-9A-Za-z_\-|*@]{1,64}$")
MCHID = re.compile(r"^\d{8,10}$")


class PayError(Exception):
    """A refusal as v3 answers it: an HTTP status and `{"code", "message"}`."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status, self.code, self.message = status, code, message

    def body(self) -> dict[str, str]:
        return {"code": self.code, "message": self.message}


def param_error(message: str) -> PayError:
    return PayError(400, "PARAM_ERROR", message)


def invalid_request(message: str) -> PayError:
    return PayError(400, "INVALID_REQUEST", message)


def rfc3339(at: datetime) -> str:
    """WeChat's times: RFC 3339 in Beijing time, `2018-06-08T10:34:56+08:00`."""
    return at.astimezone(BEIJING).isoformat(timespec="seconds")


def text_field(body: dict[str, Any], name: str, limit: int, *, required: bool = True) -> str:
    value = body.get(name)
    if value is None and not required:
        return ""
    if not isinstance(value, str) or (required and not value):
        raise param_error(f"缺少参数 {name}" if value is None else f"{name} 须为字符串")
    if len(value) > limit:
        raise param_error(f"{name} 长度不能超过 {limit}")
    return value


def url_field(value: str) -> str:
    # WeChat wants an https URL without a query; the sandbox accepts http too (siyu on a laptop).
    parts = urlsplit(value)
    if parts.scheme not in ("https", "http") or not parts.netloc or parts.query:
        raise param_error("notify_url 须为不带参数的 http(s) 地址")
    return value


def time_field(raw: object) -> datetime:
    if not isinstance(raw, str):
        raise param_error("time_expire 须为 RFC 3339 时间")
    try:
        at = datetime.fromisoformat(raw)
    except ValueError:
        raise param_error("time_expire 须为 RFC 3339 时间") from None
    if at.tzinfo is None:
        raise param_error("time_expire 须带时区")
    return at.astimezone(UTC)
