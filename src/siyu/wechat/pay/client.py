"""Outbound WeChat Pay v3 calls through `wechatpayv3` (direct merchant, public-key mode).

wechatpayv3 signs requests and verifies the signatures of 2xx answers; its host is the private
attribute `_core._gate_way`, which we point at `SIYU_WECHAT_PAY_API_BASE` (fact sheet §5.1:
overriding it works, checked with a loopback stub). Its calls block on `requests`: call them
outside any database transaction.
"""

from __future__ import annotations

import gzip
import json
import threading
import time
from dataclasses import dataclass
from datetime import date
from typing import Any

import requests
from prometheus_client import Counter
from wechatpayv3 import WeChatPay, WeChatPayType

from siyu.core.logging import get_logger
from siyu.wechat import paycrypto

PAY_CALLS = Counter(
    "siyu_wechat_pay_calls", "WeChat Pay calls by operation and code", ["op", "code"]
)
TIMEOUT = (5, 10)  # connect, read (seconds)
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


class PayClient:
    """The calls siyu makes, for one merchant and appid."""

    def __init__(self, keys: MerchantKeys, api_base: str) -> None:
        self.keys = keys
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

    def _call(self, op: str, fn: Any, *args: Any, **kwargs: Any) -> tuple[int, Any]:
        started = time.perf_counter()
        code = "unavailable"
        try:
            try:
                status, text = fn(*args, **kwargs)
            except requests.RequestException as exc:
                raise PayUnavailable(0, "NETWORK", type(exc).__name__) from None
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
        _status, data = self._call(
            "refund",
            self._pay.refund,
            out_refund_no=out_refund_no,
            out_trade_no=out_trade_no,
            amount={"refund": amount, "total": total, "currency": "CNY"},
            reason=reason or None,
        )
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
    """One client per merchant and appid, rebuilt when the merchant's keys change."""

    def __init__(self, api_base: str) -> None:
        self.api_base = api_base
        self._clients: dict[MerchantKeys, PayClient] = {}
        self._lock = threading.Lock()

    def get(self, keys: MerchantKeys) -> PayClient:
        with self._lock:
            client = self._clients.get(keys)
            if client is None:
                client = self._clients[keys] = PayClient(keys, self.api_base)
            return client
