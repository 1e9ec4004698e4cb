"""The sandbox's WeChat Pay v3: merchants, orders, refunds, a ledger, signed sealed notifications.

Facts: fact sheet §5 (paths, field limits, 2 h prepay_id, 1-year and 50-refund rules, 1 minute
between refunds of one order, notification format and retry schedule). Error codes and their
HTTP statuses follow the v3 docs' error tables as far as the stored copies show them; where a
status could not be confirmed it is noted beside the code.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import random
import re
import secrets
import threading
import uuid
from collections import deque
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any, Literal
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

import httpx
from cryptography.hazmat.primitives.asymmetric import rsa
from pydantic import BaseModel, Field, field_validator

from siyu.core import clock
from siyu.sandbox.world import SandboxWorld
from siyu.wechat import paycrypto
from siyu.wechat.paycrypto import PayCryptoError

BEIJING = ZoneInfo("Asia/Shanghai")
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

TradeState = Literal["NOTPAY", "SUCCESS", "REFUND", "CLOSED"]
RefundStatus = Literal["PROCESSING", "SUCCESS", "ABNORMAL", "CLOSED"]
Fault = Literal["error_before", "error_after", "not_enough", "frequency_limited"]


class PayError(Exception):
    """A refusal as v3 answers it: an HTTP status and `{"code", "message"}`."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status, self.code, self.message = status, code, message

    def body(self) -> dict[str, str]:
        return {"code": self.code, "message": self.message}


def _param(message: str) -> PayError:
    return PayError(400, "PARAM_ERROR", message)


def _invalid(message: str) -> PayError:
    return PayError(400, "INVALID_REQUEST", message)


def rfc3339(at: datetime) -> str:
    """WeChat's times: RFC 3339 in Beijing time, `2018-06-08T10:34:56+08:00`."""
    return at.astimezone(BEIJING).isoformat(timespec="seconds")


class MerchantSpec(BaseModel):
    """What `/sandbox-admin/pay/merchants` registers: the merchant as WeChat Pay knows it."""

    mchid: str = Field(pattern=MCHID.pattern)
    name: str = "沙箱商户"
    apiv3_key: str
    merchant_public_key: str
    cert_serial_no: str = Field(min_length=1, max_length=64)
    appids: list[str] = Field(default_factory=list)
    balance: int | None = Field(default=None, description="fen available for refunds; None: paid")

    @field_validator("apiv3_key")
    @classmethod
    def _apiv3(cls, value: str) -> str:
        if not paycrypto.apiv3_key_ok(value):
            raise ValueError("the APIv3 key is 32 characters")
        return value

    @field_validator("merchant_public_key")
    @classmethod
    def _public(cls, value: str) -> str:
        paycrypto.load_public_key(value)
        return value


@dataclass
class Refund:
    out_refund_no: str
    refund_id: str
    out_trade_no: str
    transaction_id: str
    amount: int
    total: int
    reason: str
    notify_url: str | None
    created_at: datetime
    due_at: datetime
    status: RefundStatus = "PROCESSING"
    success_time: datetime | None = None

    def view(self, mchid: str) -> dict[str, Any]:
        data: dict[str, Any] = {
            "refund_id": self.refund_id,
            "out_refund_no": self.out_refund_no,
            "transaction_id": self.transaction_id,
            "out_trade_no": self.out_trade_no,
            "channel": "ORIGINAL",
            "user_received_account": "支付用户零钱",
            "create_time": rfc3339(self.created_at),
            "status": self.status,
            "funds_account": "AVAILABLE",
            "amount": {
                "total": self.total,
                "refund": self.amount,
                "payer_total": self.total,
                "payer_refund": self.amount,
                "settlement_refund": self.amount,
                "settlement_total": self.total,
                "discount_refund": 0,
                "currency": "CNY",
            },
        }
        if self.success_time is not None:
            data["success_time"] = rfc3339(self.success_time)
        return data

    def notification_resource(self, mchid: str) -> dict[str, Any]:
        resource = {
            "mchid": mchid,
            "out_trade_no": self.out_trade_no,
            "transaction_id": self.transaction_id,
            "out_refund_no": self.out_refund_no,
            "refund_id": self.refund_id,
            "refund_status": self.status,
            "user_received_account": "支付用户零钱",
            "amount": {
                "total": self.total,
                "refund": self.amount,
                "payer_total": self.total,
                "payer_refund": self.amount,
            },
        }
        if self.success_time is not None:
            resource["success_time"] = rfc3339(self.success_time)
        return resource


@dataclass
class Order:
    appid: str
    mchid: str
    out_trade_no: str
    description: str
    amount: int
    openid: str
    notify_url: str
    attach: str
    time_expire: datetime
    created_at: datetime
    fingerprint: str
    prepay_id: str = ""
    prepay_expires_at: datetime | None = None
    trade_state: TradeState = "NOTPAY"
    transaction_id: str = ""
    success_time: datetime | None = None
    refunds: list[str] = field(default_factory=list)

    def state_at(self, now: datetime) -> TradeState:
        # An unpaid order past time_expire is closed; WeChat answers CLOSED for it.
        if self.trade_state == "NOTPAY" and now >= self.time_expire:
            return "CLOSED"
        return self.trade_state

    def view(self, now: datetime) -> dict[str, Any]:
        state = self.state_at(now)
        data: dict[str, Any] = {
            "appid": self.appid,
            "mchid": self.mchid,
            "out_trade_no": self.out_trade_no,
            "trade_type": "JSAPI",
            "trade_state": state,
            "trade_state_desc": TRADE_STATE_DESC[state],
            "attach": self.attach,
            "payer": {"openid": self.openid},
            "amount": {"total": self.amount, "currency": "CNY"},
        }
        if self.transaction_id:
            data |= {
                "transaction_id": self.transaction_id,
                "bank_type": "OTHERS",
                "success_time": rfc3339(self.success_time or now),
            }
            data["amount"] |= {"payer_total": self.amount, "payer_currency": "CNY"}
        return data


TRADE_STATE_DESC = {
    "NOTPAY": "订单未支付",
    "SUCCESS": "支付成功",
    "REFUND": "转入退款",
    "CLOSED": "订单已关闭",
}


@dataclass
class Merchant:
    spec: MerchantSpec
    public_key: rsa.RSAPublicKey
    platform_key_id: str
    orders: dict[str, Order] = field(default_factory=dict)
    refunds: dict[str, Refund] = field(default_factory=dict)
    received: int = 0  # fen paid in
    refunded: int = 0  # fen paid out (accepted refunds)
    abnormal_openids: set[str] = field(default_factory=set)

    @property
    def mchid(self) -> str:
        return self.spec.mchid

    @property
    def balance(self) -> int:
        base = self.spec.balance if self.spec.balance is not None else self.received
        return base - self.refunded

    def ledger(self, now: datetime) -> dict[str, Any]:
        """What the merchant's account shows: every payment and refund, and the totals."""
        paid = [o for o in self.orders.values() if o.transaction_id]
        refunds = [r for r in self.refunds.values() if r.status != "CLOSED"]
        return {
            "mchid": self.mchid,
            "balance": self.balance,
            "paid_total": sum(o.amount for o in paid),
            "refunded_total": sum(r.amount for r in refunds),
            "orders": [o.view(now) for o in self.orders.values()],
            "refunds": [r.view(self.mchid) for r in self.refunds.values()],
        }


@dataclass
class Notification:
    id: str
    mchid: str
    url: str
    event_type: str
    summary: str
    original_type: str
    resource: dict[str, Any]
    created_at: datetime
    body: str = ""
    attempts: int = 0
    due_at: datetime | None = None  # None: acknowledged, or given up
    acknowledged: bool = False
    history: list[dict[str, Any]] = field(default_factory=list)

    def view(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "mchid": self.mchid,
            "url": self.url,
            "event_type": self.event_type,
            "resource": self.resource,
            "attempts": self.attempts,
            "acknowledged": self.acknowledged,
            "due_at": self.due_at.isoformat() if self.due_at else None,
            "history": self.history,
        }


class PayWorld:
    """All of the sandbox's Pay state, behind one lock; deliveries happen outside it."""

    def __init__(
        self,
        world: SandboxWorld,
        http: httpx.Client | None = None,
        *,
        retry_scale: float = 1.0,
        refund_delay: timedelta = timedelta(0),
        seed: int = 0,
    ) -> None:
        self.world = world
        self.http = http or httpx.Client(timeout=NOTIFY_TIMEOUT)
        self._owns_http = http is None
        self.lock = threading.RLock()
        self.merchants: dict[str, Merchant] = {}
        self.prepays: dict[str, tuple[str, str]] = {}  # prepay_id → (mchid, out_trade_no)
        self.transactions: dict[str, tuple[str, str]] = {}
        self.outbox: dict[str, Notification] = {}
        self.retry_scale = retry_scale
        self.refund_delay = refund_delay
        # Faults tests and benchmarks inject: a queue per operation, or a rate per operation.
        self.faults: dict[str, deque[Fault]] = {}
        self.fault_rates: dict[str, tuple[Fault, float]] = {}
        self._rng = random.Random(seed)  # noqa: S311 - reproducible fault injection
        self._platform_key: rsa.RSAPrivateKey | None = None
        self._bills: dict[str, bytes] = {}
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()

    # -- keys -----------------------------------------------------------------------------

    @property
    def platform_key(self) -> rsa.RSAPrivateKey:
        """The sandbox's WeChat Pay platform key, made at first use and never stored."""
        with self.lock:
            if self._platform_key is None:
                self._platform_key = paycrypto.generate_private_key()
            return self._platform_key

    def platform_public_key(self) -> str:
        return paycrypto.public_pem(self.platform_key)

    def now(self) -> datetime:
        return self.world.now()

    # -- merchants ------------------------------------------------------------------------

    def register(self, spec: MerchantSpec) -> Merchant:
        """Add or update a merchant; its orders and refunds survive re-registration."""
        with self.lock:
            merchant = self.merchants.get(spec.mchid)
            public = paycrypto.load_public_key(spec.merchant_public_key)
            if merchant is None:
                key_id = f"PUB_KEY_ID_01{spec.mchid}{secrets.token_hex(4).upper()}"
                merchant = self.merchants[spec.mchid] = Merchant(spec, public, key_id)
            else:
                merchant.spec, merchant.public_key = spec, public
            return merchant

    def merchant(self, mchid: str) -> Merchant:
        with self.lock:
            merchant = self.merchants.get(mchid)
            if merchant is None:
                raise PayError(400, "MCH_NOT_EXISTS", "商户号不存在")
            return merchant

    def merchant_view(self, merchant: Merchant) -> dict[str, Any]:
        return {
            "mchid": merchant.mchid,
            "name": merchant.spec.name,
            "appids": merchant.spec.appids,
            "cert_serial_no": merchant.spec.cert_serial_no,
            "platform_public_key": self.platform_public_key(),
            "platform_public_key_id": merchant.platform_key_id,
        }

    # -- request authentication -----------------------------------------------------------

    def authenticate(
        self, authorization: str | None, method: str, target: str, body: str
    ) -> Merchant:
        """The merchant whose key signed this request (401 SIGN_ERROR otherwise)."""
        try:
            auth = paycrypto.Authorization.parse(authorization)
        except PayCryptoError as exc:
            raise PayError(401, "SIGN_ERROR", f"签名错误: {exc}") from None
        merchant = self.merchant(auth.mchid)
        if auth.serial_no != merchant.spec.cert_serial_no:
            raise PayError(401, "SIGN_ERROR", "商户证书序列号有误")
        if not paycrypto.check_request(merchant.public_key, auth, method, target, body):
            raise PayError(401, "SIGN_ERROR", "签名错误")
        return merchant

    def signed_headers(self, merchant: Merchant | None, body: str) -> dict[str, str]:
        """Wechatpay-* headers over an answer, so that clients can verify it came from here."""
        timestamp, nonce_str = str(int(clock.now().timestamp())), paycrypto.nonce()
        key_id = merchant.platform_key_id if merchant is not None else "PUB_KEY_ID_UNKNOWN"
        return {
            "Wechatpay-Timestamp": timestamp,
            "Wechatpay-Nonce": nonce_str,
            "Wechatpay-Signature": paycrypto.sign_response(
                self.platform_key, timestamp, nonce_str, body
            ),
            "Wechatpay-Serial": key_id,
            "Wechatpay-Signature-Type": paycrypto.SCHEMA,
            "Request-ID": uuid.uuid4().hex,
        }

    # -- faults ---------------------------------------------------------------------------

    def inject(self, operation: str, fault: Fault, count: int = 1) -> None:
        with self.lock:
            self.faults.setdefault(operation, deque()).extend([fault] * count)

    def _fault(self, operation: str) -> Fault | None:
        queued = self.faults.get(operation)
        if queued:
            return queued.popleft()
        rate = self.fault_rates.get(operation)
        if rate is not None and self._rng.random() < rate[1]:
            return rate[0]
        return None

    # -- orders ---------------------------------------------------------------------------

    def jsapi(self, merchant: Merchant, body: dict[str, Any]) -> dict[str, str]:
        """`POST /v3/pay/transactions/jsapi` → `{prepay_id}`; the same order again, the same id."""
        with self.lock:
            now = self.now()
            order = self._new_order(merchant, body, now)
            existing = merchant.orders.get(order.out_trade_no)
            if existing is not None:
                order = self._same_order(existing, order, now)
            else:
                merchant.orders[order.out_trade_no] = order
            if order.prepay_expires_at is None or now >= order.prepay_expires_at:
                order.prepay_id = f"wx{now.astimezone(BEIJING):%d%H%M%S}{secrets.token_hex(14)}"
                order.prepay_expires_at = now + PREPAY_TTL
                self.prepays[order.prepay_id] = (merchant.mchid, order.out_trade_no)
            return {"prepay_id": order.prepay_id}

    def _same_order(self, existing: Order, order: Order, now: datetime) -> Order:
        state = existing.state_at(now)
        if state in ("SUCCESS", "REFUND"):
            raise PayError(400, "ORDERPAID", "该订单已支付")  # status as recalled, unverified
        if state == "CLOSED":
            raise PayError(400, "ORDER_CLOSED", "订单已关闭")
        if existing.fingerprint != order.fingerprint:
            raise PayError(400, "INVALID_REQUEST", "商户订单号重复，且参数与原订单不一致")
        return existing

    def _new_order(self, merchant: Merchant, body: dict[str, Any], now: datetime) -> Order:
        appid, mchid = _text(body, "appid", 32), _text(body, "mchid", 32)
        if mchid != merchant.mchid:
            raise _invalid("请求体中的 mchid 与签名的商户号不一致")
        if appid not in merchant.spec.appids:
            raise PayError(400, "APPID_MCHID_NOT_MATCH", "appid 和 mchid 不匹配")
        description = _text(body, "description", 127)
        out_trade_no = _text(body, "out_trade_no", 32)
        if not OUT_TRADE_NO.match(out_trade_no):
            raise _param("out_trade_no 须为 6-32 位数字、大小写字母或 _-|*")
        notify_url = _url(_text(body, "notify_url", 255))
        attach = _text(body, "attach", 128, required=False)
        amount = body.get("amount")
        total = amount.get("total") if isinstance(amount, dict) else None
        if not isinstance(total, int) or isinstance(total, bool) or total < 1:
            raise _param("amount.total 须为正整数（分）")
        currency = amount.get("currency", "CNY") if isinstance(amount, dict) else "CNY"
        if currency != "CNY":
            raise _param("amount.currency 仅支持 CNY")
        payer = body.get("payer")
        openid = payer.get("openid") if isinstance(payer, dict) else None
        if not isinstance(openid, str) or not openid:
            raise _param("JSAPI 下单须有 payer.openid")
        try:
            self.world.by_openid(openid, appid)
        except Exception:
            raise _param("payer.openid 不是该 appid 下的用户") from None
        time_expire = now + DEFAULT_ORDER_TTL
        if (raw := body.get("time_expire")) is not None:
            time_expire = _time(raw)
            if time_expire < now + timedelta(minutes=1) or time_expire > now + MAX_ORDER_TTL:
                raise _param("time_expire 须在 1 分钟之后、90 天之内")
        fingerprint = json.dumps(
            {k: body.get(k) for k in ("appid", "description", "amount", "payer", "attach")},
            sort_keys=True,
            ensure_ascii=False,
        )
        return Order(
            appid,
            mchid,
            out_trade_no,
            description,
            total,
            openid,
            notify_url,
            attach,
            time_expire,
            now,
            fingerprint,
        )

    def find_order(self, merchant: Merchant, out_trade_no: str) -> Order:
        order = merchant.orders.get(out_trade_no)
        if order is None:
            raise PayError(404, "ORDER_NOT_EXIST", "订单不存在")
        return order

    def query(self, merchant: Merchant, out_trade_no: str) -> dict[str, Any]:
        with self.lock:
            return self.find_order(merchant, out_trade_no).view(self.now())

    def query_transaction(self, merchant: Merchant, transaction_id: str) -> dict[str, Any]:
        with self.lock:
            found = self.transactions.get(transaction_id)
            if found is None or found[0] != merchant.mchid:
                raise PayError(404, "ORDER_NOT_EXIST", "订单不存在")
            return merchant.orders[found[1]].view(self.now())

    def close(self, merchant: Merchant, out_trade_no: str, body: dict[str, Any]) -> None:
        with self.lock:
            if body.get("mchid") != merchant.mchid:
                raise _param("mchid 与签名的商户号不一致")
            order = self.find_order(merchant, out_trade_no)
            if order.trade_state in ("SUCCESS", "REFUND"):
                raise PayError(400, "ORDERPAID", "订单已支付，不能关闭")
            order.trade_state = "CLOSED"

    # -- paying ---------------------------------------------------------------------------

    def pay(self, openid: str, params: dict[str, str]) -> Notification:
        """wx.requestPayment: checks paySign with the merchant's key, pays, queues the notice."""
        with self.lock:
            package = params.get("package", "")
            prepay_id = package.removeprefix("prepay_id=")
            found = self.prepays.get(prepay_id) if package.startswith("prepay_id=") else None
            if found is None:
                raise PayError(400, "PARAM_ERROR", "package 无效")
            merchant = self.merchants[found[0]]
            order = merchant.orders[found[1]]
            now = self.now()
            if order.prepay_id != prepay_id or now >= (order.prepay_expires_at or now):
                raise PayError(400, "PARAM_ERROR", "prepay_id 已过期")
            if params.get("appId") != order.appid or params.get("signType") != "RSA":
                raise PayError(400, "PARAM_ERROR", "appId 或 signType 与订单不符")
            lines = (order.appid, params.get("timeStamp", ""), params.get("nonceStr", ""), package)
            if not paycrypto.verify(merchant.public_key, params.get("paySign", ""), *lines):
                raise PayError(400, "SIGN_ERROR", "支付验证签名失败")
            if openid != order.openid:
                raise PayError(403, "NO_AUTH", "下单用户与支付用户不一致")
            state = order.state_at(now)
            if state != "NOTPAY":
                raise PayError(400, "ORDERPAID" if state != "CLOSED" else "ORDER_CLOSED", state)
            order.trade_state = "SUCCESS"
            order.transaction_id = (
                f"42000{now.astimezone(BEIJING):%Y%m%d}{secrets.randbelow(10**15):015d}"
            )
            order.success_time = now
            merchant.received += order.amount
            self.transactions[order.transaction_id] = (merchant.mchid, order.out_trade_no)
            event = ("TRANSACTION.SUCCESS", "支付成功", "transaction")
            return self._queue(merchant, order.notify_url, event, order.view(now))

    # -- refunds --------------------------------------------------------------------------

    def refund(
        self, merchant: Merchant, body: dict[str, Any]
    ) -> tuple[dict[str, Any], Fault | None]:
        """`POST /v3/refund/domestic/refunds`; an injected `error_after` fault answers 500
        after accepting, as a timed-out call looks to the merchant."""
        with self.lock:
            fault = self._fault("refund")
            if fault == "error_before":
                raise PayError(500, "SYSTEM_ERROR", "系统繁忙，请稍后重试")
            out_refund_no = _text(body, "out_refund_no", 64)
            if not OUT_REFUND_NO.match(out_refund_no):
                raise _param("out_refund_no 须为 1-64 位数字、大小写字母或 _-|*@")
            reason = _text(body, "reason", 80, required=False)
            notify_url = body.get("notify_url")
            if notify_url is not None:
                notify_url = _url(_text(body, "notify_url", 255))
            order = self._refund_order(merchant, body)
            amount = body.get("amount")
            refund = amount.get("refund") if isinstance(amount, dict) else None
            total = amount.get("total") if isinstance(amount, dict) else None
            if not all(isinstance(v, int) and not isinstance(v, bool) for v in (refund, total)):
                raise _param("amount.refund 和 amount.total 须为整数（分）")
            assert isinstance(refund, int)
            assert isinstance(total, int)
            existing = merchant.refunds.get(out_refund_no)
            if existing is not None:  # "同一退款单号多次请求只退一笔": the same refund again
                if existing.out_trade_no != order.out_trade_no or existing.amount != refund:
                    raise _invalid("退款单号已用于其他退款，且金额或订单不一致")
                return existing.view(merchant.mchid), fault
            self._check_refund(merchant, order, refund, total, fault)
            now = self.now()
            created = Refund(
                out_refund_no,
                f"50{secrets.randbelow(10**27):027d}",
                order.out_trade_no,
                order.transaction_id,
                refund,
                total,
                reason,
                notify_url or order.notify_url,
                now,
                now + self.refund_delay,
            )
            merchant.refunds[out_refund_no] = created
            merchant.refunded += refund
            order.refunds.append(out_refund_no)
            order.trade_state = "REFUND"
            return created.view(merchant.mchid), fault

    def _refund_order(self, merchant: Merchant, body: dict[str, Any]) -> Order:
        if isinstance(tid := body.get("transaction_id"), str) and tid:
            found = self.transactions.get(tid)
            if found is None or found[0] != merchant.mchid:
                raise PayError(404, "RESOURCE_NOT_EXISTS", "订单不存在")
            return merchant.orders[found[1]]
        if isinstance(otn := body.get("out_trade_no"), str) and otn:
            order = merchant.orders.get(otn)
            if order is None:
                raise PayError(404, "RESOURCE_NOT_EXISTS", "订单不存在")
            return order
        raise _param("transaction_id 与 out_trade_no 须填其一")

    def _check_refund(
        self, merchant: Merchant, order: Order, refund: int, total: int, fault: Fault | None
    ) -> None:
        now = self.now()
        if not order.transaction_id or order.success_time is None:
            raise _invalid("订单未支付，不能退款")
        if total != order.amount:
            raise _invalid("amount.total 与订单金额不一致")
        if refund < 1:
            raise _param("amount.refund 须为正整数（分）")
        if now > order.success_time + REFUND_WINDOW:
            raise _invalid("订单已超过一年退款期限")
        if len(order.refunds) >= MAX_REFUNDS:
            raise _invalid(f"一笔订单最多退款 {MAX_REFUNDS} 次")
        taken = sum(
            merchant.refunds[n].amount
            for n in order.refunds
            if merchant.refunds[n].status != "CLOSED"
        )
        if taken + refund > order.amount:
            raise _invalid("退款金额超过订单可退金额")
        last = max((merchant.refunds[n].created_at for n in order.refunds), default=None)
        if fault == "frequency_limited" or (last is not None and now - last < REFUND_GAP):
            raise PayError(429, "FREQUENCY_LIMITED", "同一笔订单多次退款的请求需相隔1分钟")
        if fault == "not_enough" or merchant.balance < refund:
            raise PayError(403, "NOT_ENOUGH", "基本账户余额不足，请充值后重新发起")

    def query_refund(self, merchant: Merchant, out_refund_no: str) -> dict[str, Any]:
        with self.lock:
            refund = merchant.refunds.get(out_refund_no)
            if refund is None:
                raise PayError(404, "RESOURCE_NOT_EXISTS", "退款单不存在")
            return refund.view(merchant.mchid)

    def settle_refunds(self) -> list[Notification]:
        """Refunds whose processing time is over succeed (ABNORMAL for a blocked account)."""
        queued = []
        with self.lock:
            now = self.now()
            for merchant in self.merchants.values():
                for refund in merchant.refunds.values():
                    if refund.status != "PROCESSING" or refund.due_at > now:
                        continue
                    openid = merchant.orders[refund.out_trade_no].openid
                    if openid in merchant.abnormal_openids:
                        refund.status = "ABNORMAL"
                        event, summary = "REFUND.ABNORMAL", "退款异常"
                    else:
                        refund.status, refund.success_time = "SUCCESS", now
                        event, summary = "REFUND.SUCCESS", "退款成功"
                    if refund.notify_url:
                        queued.append(
                            self._queue(
                                merchant,
                                refund.notify_url,
                                (event, summary, "refund"),
                                refund.notification_resource(merchant.mchid),
                            )
                        )
        return queued

    # -- notifications --------------------------------------------------------------------

    def _queue(
        self,
        merchant: Merchant,
        url: str,
        event: tuple[str, str, str],
        resource: dict[str, Any],
    ) -> Notification:
        event_type, summary, original_type = event
        now = self.now()
        nonce_str = paycrypto.nonce(12)
        plain = json.dumps(resource, ensure_ascii=False, separators=(",", ":"))
        notification = Notification(
            id=str(uuid.uuid4()),
            mchid=merchant.mchid,
            url=url,
            event_type=event_type,
            summary=summary,
            original_type=original_type,
            resource=resource,
            created_at=now,
            due_at=now,
        )
        notification.body = json.dumps(
            {
                "id": notification.id,
                "create_time": rfc3339(now),
                "resource_type": "encrypt-resource",
                "event_type": event_type,
                "summary": summary,
                "resource": {
                    "original_type": original_type,
                    "algorithm": "AEAD_AES_256_GCM",
                    "ciphertext": paycrypto.seal(
                        merchant.spec.apiv3_key, plain, original_type, nonce_str
                    ),
                    "associated_data": original_type,
                    "nonce": nonce_str,
                },
            },
            ensure_ascii=False,
            separators=(",", ":"),
        )
        self.outbox[notification.id] = notification
        return notification

    def deliver(self, notification: Notification, *, duplicate: bool = False) -> bool:
        """POST one notification (outside the lock); schedules the next try on failure.

        `duplicate` sends it again whatever happened before, as WeChat sometimes does.
        """
        with self.lock:
            if not duplicate and notification.due_at is None:
                return notification.acknowledged
            merchant = self.merchants[notification.mchid]
            headers = {
                "Content-Type": "application/json",
                "User-Agent": "Mozilla/4.0",
                **self.signed_headers(merchant, notification.body),
            }
            headers.pop("Request-ID")
        status: int | None = None
        error = ""
        try:
            response = self.http.post(
                notification.url,
                content=notification.body.encode(),
                headers=headers,
            )
            status = response.status_code
        except httpx.HTTPError as exc:
            error = type(exc).__name__
        ok = status in (200, 204)
        with self.lock:
            now = self.now()
            notification.history.append(
                {"at": now.isoformat(), "status": status, "error": error, "duplicate": duplicate}
            )
            if duplicate:
                return ok
            notification.attempts += 1
            if ok:
                notification.acknowledged, notification.due_at = True, None
            elif notification.attempts > len(RETRY_SCHEDULE):
                notification.due_at = None  # 24 h 4 min of tries: WeChat gives up
            else:
                delay = RETRY_SCHEDULE[notification.attempts - 1] * self.retry_scale
                notification.due_at = now + timedelta(seconds=delay)
        return ok

    def due(self) -> list[Notification]:
        with self.lock:
            now = self.now()
            return [n for n in self.outbox.values() if n.due_at is not None and n.due_at <= now]

    def tick(self) -> int:
        """Settle due refunds and deliver every due notification once; how many were sent."""
        self.settle_refunds()
        sent = 0
        for notification in self.due():
            self.deliver(notification)
            sent += 1
        return sent

    def start(self, every: float = 1.0) -> None:
        """Tick in a background thread (a served sandbox; tests tick by hand)."""
        if self._thread is not None:
            return

        def loop() -> None:
            while not self._stop.wait(every):
                try:
                    self.tick()
                except Exception:  # noqa: S112 - keep ticking; a failed delivery is retried
                    continue

        self._thread = threading.Thread(target=loop, name="sandbox-pay", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._owns_http:
            self.http.close()

    # -- bills ----------------------------------------------------------------------------

    def trade_bill(
        self, merchant: Merchant, bill_date: str, tar_type: str | None
    ) -> tuple[str, str]:
        """A day's trade bill (Beijing date): its download token and SHA1."""
        try:
            day = date.fromisoformat(bill_date)
        except ValueError:
            raise _param("bill_date 格式为 yyyy-MM-DD") from None
        with self.lock:
            if day >= self.now().astimezone(BEIJING).date():
                raise PayError(400, "NO_STATEMENT_EXIST", "账单日期须早于今天")
            raw = self._bill_csv(merchant, day).encode("utf-8")
            if tar_type == "GZIP":
                raw = gzip.compress(raw, mtime=0)
            token = secrets.token_urlsafe(24)
            self._bills[token] = raw
            return token, hashlib.sha1(raw).hexdigest()  # noqa: S324 - WeChat's hash_type SHA1

    def bill_file(self, token: str) -> bytes:
        with self.lock:
            found = self._bills.get(token)
            if found is None:
                raise PayError(404, "RESOURCE_NOT_EXISTS", "账单不存在或已过期")
            return found

    def _bill_csv(self, merchant: Merchant, day: date) -> str:
        # The ALL bill's columns as WeChat's trade bill lists them (values prefixed with `
        # so spreadsheets keep long numbers as text), then a summary header and line.
        out = io.StringIO()
        out.write(",".join(BILL_COLUMNS) + "\r\n")
        orders = rows = 0
        paid = refunded = 0
        for order in merchant.orders.values():
            if order.success_time and order.success_time.astimezone(BEIJING).date() == day:
                out.write(_bill_row(merchant, order, None) + "\r\n")
                orders, paid, rows = orders + 1, paid + order.amount, rows + 1
        for refund in merchant.refunds.values():
            at = refund.success_time
            if refund.status == "SUCCESS" and at and at.astimezone(BEIJING).date() == day:
                order = merchant.orders[refund.out_trade_no]
                out.write(_bill_row(merchant, order, refund) + "\r\n")
                refunded, rows = refunded + refund.amount, rows + 1
        out.write(",".join(BILL_SUMMARY) + "\r\n")
        out.write(
            ",".join(
                f"`{v}"
                for v in (rows, _yuan(paid), _yuan(refunded), "0.00", "0.00", _yuan(paid), "0.00")
            )
            + "\r\n"
        )
        return out.getvalue()


BILL_COLUMNS = (
    "交易时间",
    "公众账号ID",
    "商户号",
    "特约商户号",
    "设备号",
    "微信订单号",
    "商户订单号",
    "用户标识",
    "交易类型",
    "交易状态",
    "付款银行",
    "货币种类",
    "应结订单金额",
    "代金券金额",
    "微信退款单号",
    "商户退款单号",
    "退款金额",
    "充值券退款金额",
    "退款类型",
    "退款状态",
    "商品名称",
    "商户数据包",
    "手续费",
    "费率",
    "订单金额",
    "申请退款金额",
    "费率备注",
)
BILL_SUMMARY = (
    "总交易单数",
    "应结订单总金额",
    "退款总金额",
    "充值券退款总金额",
    "手续费总金额",
    "订单总金额",
    "申请退款总金额",
)


def _yuan(fen: int) -> str:
    return f"{fen // 100}.{fen % 100:02d}"


def _bill_row(merchant: Merchant, order: Order, refund: Refund | None) -> str:
    at = refund.success_time if refund is not None else order.success_time
    assert at is not None
    values = [
        at.astimezone(BEIJING).strftime("%Y-%m-%d %H:%M:%S"),
        order.appid,
        merchant.mchid,
        "0",
        "",
        order.transaction_id,
        order.out_trade_no,
        order.openid,
        "JSAPI",
        "REFUND" if refund is not None else "SUCCESS",
        "OTHERS",
        "CNY",
        _yuan(order.amount) if refund is None else "0.00",
        "0.00",
        refund.refund_id if refund is not None else "0",
        refund.out_refund_no if refund is not None else "0",
        _yuan(refund.amount) if refund is not None else "0.00",
        "0.00",
        "ORIGINAL" if refund is not None else "",
        refund.status if refund is not None else "",
        order.description.replace(",", "，"),
        order.attach.replace(",", "，"),
        "0.00",
        "0.60%",
        _yuan(order.amount),
        _yuan(refund.amount) if refund is not None else "0.00",
        "",
    ]
    return ",".join(f"`{v}" for v in values)


def _text(body: dict[str, Any], name: str, limit: int, *, required: bool = True) -> str:
    value = body.get(name)
    if value is None and not required:
        return ""
    if not isinstance(value, str) or (required and not value):
        raise _param(f"缺少参数 {name}" if value is None else f"{name} 须为字符串")
    if len(value) > limit:
        raise _param(f"{name} 长度不能超过 {limit}")
    return value


def _url(value: str) -> str:
    # WeChat wants an https URL without a query; the sandbox accepts http too (siyu on a laptop).
    parts = urlsplit(value)
    if parts.scheme not in ("https", "http") or not parts.netloc or parts.query:
        raise _param("notify_url 须为不带参数的 http(s) 地址")
    return value


def _time(raw: object) -> datetime:
    if not isinstance(raw, str):
        raise _param("time_expire 须为 RFC 3339 时间")
    try:
        at = datetime.fromisoformat(raw)
    except ValueError:
        raise _param("time_expire 须为 RFC 3339 时间") from None
    if at.tzinfo is None:
        raise _param("time_expire 须带时区")
    return at.astimezone(UTC)
