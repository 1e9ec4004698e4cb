"""Outbound WeChat Pay v3 calls through `wechatpayv3` (direct merchant, public-key mode).

wechatpayv3 builds the requests and signs them (its `build_authorization`), and its
`rsa_verify` checks the signatures of 2xx answers; its host is the private attribute
`_core._gate_way`, which we point at `SIYU_WECHAT_PAY_API_BASE` (fact sheet §5.1: overriding it
works, checked with a loopback stub). The sending is ours: wechatpayv3 opens a new connection
per call (`requests.post`), so `_core.request` is replaced by `PooledTransport`, which sends
over the process's one keep-alive pool (`httpx.Client`, thread-safe). Calls block: make them
outside any database transaction.

Refund calls are paced per merchant by `RateLimit`: WeChat Pay allows 150 refund requests a
second, and 6 a second of refused or invalid ones ("申请退款 150/s"; "异常或错误的退款申请请求
不超过 6qps"), https://pay.weixin.qq.com/wiki/doc/api/wxpay/ch/pages/ico-guide/chapter1_5.shtml
(API QPS rules: Submit refund 150) and the v3 refund page https://pay.weixin.qq.com/doc/v3/merchant/4012556457
(fact sheet §5).
"""

from __future__ import annotations

import gzip
import json
import threading
import time
from dataclasses import dataclass
from datetime import date
from typing import Any

import httpx
import requests
from prometheus_client import Counter
from wechatpayv3 import WeChatPay, WeChatPayType
from wechatpayv3.type import RequestType
from wechatpayv3.utils import build_authorization, rsa_verify

from siyu.core.logging import get_logger
from siyu.wechat import paycrypto

PAY_CALLS = Counter(
    "siyu_wechat_pay_calls", "WeChat Pay calls by operation and code", ["op", "code"]
)
TIMEOUT = (5, 10)  # connect, read (seconds)
REFUND_QPS = 150  # WeChat Pay's refund rate per merchant (module docstring)
REFUND_ERROR_QPS = 6  # refused or invalid refund requests per second, per merchant
POOL_CONNECTIONS = 64  # keep-alive connections to WeChat Pay, shared by the process
log = get_logger(__name__)


class PayCallError(Exception):
    """WeChat Pay refused a call (4xx) with `{code, message}`: the request must change."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(f"WeChat Pay answered {status} {code}: {message}")
        self.status, self.code, self.message = status, code, message


class PayUnavailable(PayCallError):
    """No usable answer (network, timeout, 5xx, unverifiable): the outcome is unknown, so the
    same request may be sent again (same out_trade_no / out_refund_no)."""


@dataclass(frozen=True)
class MerchantKeys:
    """Decrypted merchant credentials, for the border only; never rendered."""

    mchid: str
    appid: str
    apiv3_key: str
    private_key: str
    cert_serial_no: str
    platform_public_key: str
    platform_public_key_id: str
    notify_url: str


class RateLimit:
    """A token bucket shared by threads: `acquire` reserves the next slot and sleeps until it.

    `charge` spends a slot without waiting (the bucket may go into debt) and `wait` sleeps
    until the debt is paid: refused refund calls are charged to the error bucket, and every
    refund call waits on it, so a burst of refusals slows all calls to WeChat's 6 a second.
    A rate of 0 or less means no limit.
    """

    def __init__(self, per_second: float, burst: float | None = None) -> None:
        self.rate = per_second
        # A tenth of a second's worth at once (at least one): close to an even pace.
        self.capacity = burst if burst is not None else max(1.0, per_second / 10)
        self._tokens = self.capacity
        self._at = time.monotonic()
        self._lock = threading.Lock()

    def _take(self, wait_for_it: bool) -> float:
        with self._lock:
            now = time.monotonic()
            self._tokens = min(self.capacity, self._tokens + (now - self._at) * self.rate)
            self._at = now
            if wait_for_it:
                self._tokens -= 1
            return max(0.0, -self._tokens / self.rate)

    def acquire(self) -> None:
        if self.rate > 0 and (delay := self._take(True)) > 0:
            time.sleep(delay)  # pacing calls to WeChat's rate, not timing anything

    def charge(self) -> None:
        if self.rate > 0:
            self._take(True)

    def delay(self) -> float:
        """Seconds `wait` would sleep now."""
        return self._take(False) if self.rate > 0 else 0.0

    def wait(self) -> None:
        if (delay := self.delay()) > 0:
            time.sleep(delay)


class PooledTransport:
    """`Core.request` of wechatpayv3 over a shared keep-alive pool (JSON calls, public-key mode).

    wechatpayv3 signs (`build_authorization`) and verifies (`rsa_verify`); this only sends.
    """

    def __init__(self, core: Any, http: httpx.Client) -> None:
        self._core, self._http = core, http

    def __call__(
        self,
        path: str,
        method: RequestType = RequestType.GET,
        data: Any = None,
        skip_verify: bool = False,
        sign_data: Any = None,
        **_unused: Any,
    ) -> tuple[int, Any]:
        core = self._core
        body = "" if data is None else data if isinstance(data, str) else json.dumps(data)
        signed = sign_data if sign_data is not None else body
        headers = {
            "Content-Type": "application/json",
            "Accept": "application/json",
            "User-Agent": "siyu (wechatpayv3 signing)",
            "Wechatpay-Serial": core._public_key_id,
            "Authorization": build_authorization(
                path,
                method.value,
                core._mchid,
                core._cert_serial_no,
                core._private_key,
                data=signed or None,
            ),
        }
        response = self._http.request(
            method.value, core._gate_way + path, content=body or None, headers=headers
        )
        text = response.text
        if 200 <= response.status_code < 300 and not skip_verify:
            h = response.headers
            if h.get("Wechatpay-Serial") != core._public_key_id or not rsa_verify(
                h.get("Wechatpay-Timestamp", ""),
                h.get("Wechatpay-Nonce", ""),
                text,
                h.get("Wechatpay-Signature", ""),
                core._public_key,
            ):
                raise PayUnavailable(response.status_code, "UNVERIFIED", "unsigned answer")
        if "application/json" in response.headers.get("Content-Type", ""):
            return response.status_code, text
        return response.status_code, response.content


class PayClient:
    """The calls siyu makes, for one merchant and appid."""

    def __init__(
        self,
        keys: MerchantKeys,
        api_base: str,
        http: httpx.Client | None = None,
        limits: tuple[RateLimit, RateLimit] | None = None,
    ) -> None:
        self.keys = keys
        self.refund_limit, self.error_limit = limits or (RateLimit(0), RateLimit(0))
        self._pay = WeChatPay(
            wechatpay_type=WeChatPayType.MINIPROG,
            mchid=keys.mchid,
            private_key=keys.private_key,
            cert_serial_no=keys.cert_serial_no,
            appid=keys.appid,
            apiv3_key=keys.apiv3_key,
            notify_url=keys.notify_url,
            timeout=TIMEOUT,
            public_key=keys.platform_public_key,
            public_key_id=keys.platform_public_key_id,
        )
        self._pay._core._gate_way = api_base.rstrip("/")
        if http is not None:
            self._pay._core.request = PooledTransport(self._pay._core, http)

    def _call(self, op: str, fn: Any, *args: Any, **kwargs: Any) -> tuple[int, Any]:
        started = time.perf_counter()
        code = "unavailable"
        try:
            try:
                status, text = fn(*args, **kwargs)
            except (requests.RequestException, httpx.HTTPError) as exc:
                code = "TIMEOUT" if isinstance(exc, httpx.TimeoutException) else "NETWORK"
                raise PayUnavailable(0, code, type(exc).__name__) from None
            except PayCallError:
                raise
            except Exception as exc:  # wechatpayv3 raises bare Exception on a bad signature
                raise PayUnavailable(0, "UNVERIFIED", str(exc)[:200]) from None
            data = _json(text)
            if status >= 500:
                code = str(data.get("code", status)) if isinstance(data, dict) else str(status)
                raise PayUnavailable(status, code, _message(data))
            if status >= 400:
                code = str(data.get("code", status)) if isinstance(data, dict) else str(status)
                raise PayCallError(status, code, _message(data))
            code = "OK"
            return status, data
        finally:
            PAY_CALLS.labels(op, code).inc()
            log.info(
                "wechat_pay_call",
                op=op,
                mchid=self.keys.mchid,
                code=code,
                duration_ms=round((time.perf_counter() - started) * 1000, 1),
            )

    def jsapi(
        self,
        *,
        out_trade_no: str,
        description: str,
        amount: int,
        openid: str,
        time_expire: str,
        attach: str | None = None,
    ) -> str:
        """POST /v3/pay/transactions/jsapi → prepay_id (the same one again before expiry)."""
        _status, data = self._call(
            "jsapi",
            self._pay.pay,
            description=description,
            out_trade_no=out_trade_no,
            amount={"total": amount, "currency": "CNY"},
            payer={"openid": openid},
            time_expire=time_expire,
            attach=attach,
            pay_type=WeChatPayType.MINIPROG,
        )
        prepay_id = data.get("prepay_id") if isinstance(data, dict) else None
        if not isinstance(prepay_id, str):
            raise PayUnavailable(200, "UNEXPECTED", "no prepay_id in the answer")
        return prepay_id

    def query(self, out_trade_no: str) -> dict[str, Any]:
        return _object(self._call("query", self._pay.query, out_trade_no=out_trade_no)[1])

    def close(self, out_trade_no: str) -> None:
        self._call("close", self._pay.close, out_trade_no=out_trade_no)

    def refund(
        self, *, out_refund_no: str, out_trade_no: str, amount: int, total: int, reason: str
    ) -> dict[str, Any]:
        """POST /v3/refund/domestic/refunds, paced to WeChat's refund rates (module docstring)."""
        self.error_limit.wait()
        self.refund_limit.acquire()
        try:
            _status, data = self._call(
                "refund",
                self._pay.refund,
                out_refund_no=out_refund_no,
                out_trade_no=out_trade_no,
                amount={"refund": amount, "total": total, "currency": "CNY"},
                reason=reason or None,
            )
        except PayCallError as exc:
            if not isinstance(exc, PayUnavailable):
                self.error_limit.charge()
            raise
        return _object(data)

    def query_refund(self, out_refund_no: str) -> dict[str, Any]:
        return _object(
            self._call("query_refund", self._pay.query_refund, out_refund_no=out_refund_no)[1]
        )

    def trade_bill(self, day: date) -> str:
        """The day's ALL trade bill (CSV text), fetched gzipped and unpacked."""
        _status, data = self._call("trade_bill", self._pay.trade_bill, bill_date=day.isoformat())
        url = _object(data).get("download_url")
        if not isinstance(url, str):
            raise PayUnavailable(200, "UNEXPECTED", "no download_url in the answer")
        _status, raw = self._call("download_bill", self._pay.download_bill, url=url)
        content = raw if isinstance(raw, bytes) else str(raw).encode("utf-8")
        if content[:2] == b"\x1f\x8b":
            content = gzip.decompress(content)
        return content.decode("utf-8-sig")

    def payment_params(self, prepay_id: str) -> dict[str, str]:
        """wx.requestPayment's parameters, paySign made here with the merchant key (§5)."""
        timestamp, nonce_str = str(int(time.time())), paycrypto.nonce()
        package = f"prepay_id={prepay_id}"
        pay_sign = self._pay.sign([self.keys.appid, timestamp, nonce_str, package])
        return {
            "appId": self.keys.appid,
            "timeStamp": timestamp,
            "nonceStr": nonce_str,
            "package": package,
            "signType": "RSA",
            "paySign": str(pay_sign),
        }


def _json(text: Any) -> Any:
    if isinstance(text, bytes):
        return text
    if not text:
        return {}
    try:
        return json.loads(text)
    except ValueError:
        return {}


def _object(data: Any) -> dict[str, Any]:
    if not isinstance(data, dict):
        raise PayUnavailable(200, "UNEXPECTED", "the answer is not a JSON object")
    return data


def _message(data: Any) -> str:
    return str(data.get("message", ""))[:200] if isinstance(data, dict) else ""


class ClientCache:
    """One client per merchant and appid, rebuilt when the merchant's keys change; one
    keep-alive pool for them all, and one pair of refund rate limits per merchant."""

    def __init__(self, api_base: str, refund_qps: float = REFUND_QPS) -> None:
        self.api_base = api_base
        self.refund_qps = refund_qps
        self._clients: dict[MerchantKeys, PayClient] = {}
        self._limits: dict[str, tuple[RateLimit, RateLimit]] = {}
        self._lock = threading.Lock()
        connect, read = TIMEOUT
        self.http = httpx.Client(
            timeout=httpx.Timeout(read, connect=connect),
            limits=httpx.Limits(
                max_connections=POOL_CONNECTIONS, max_keepalive_connections=POOL_CONNECTIONS
            ),
        )

    def close(self) -> None:
        self.http.close()

    def get(self, keys: MerchantKeys) -> PayClient:
        with self._lock:
            client = self._clients.get(keys)
            if client is None:
                limits = self._limits.get(keys.mchid)
                if limits is None:
                    error_qps = REFUND_ERROR_QPS if self.refund_qps > 0 else 0
                    # Refusals: a second's worth at once (WeChat counts them per second).
                    limits = (RateLimit(self.refund_qps), RateLimit(error_qps, error_qps))
                    self._limits[keys.mchid] = limits
                client = PayClient(keys, self.api_base, self.http, limits)
                self._clients[keys] = client
            return client
