"""The sandbox Pay's state behind one lock: its platform key, merchants, request authentication
and injected faults. The topics (orders, refunds, notifications, bills) build on it."""

from __future__ import annotations

import random
import secrets
import threading
import uuid
from collections import deque
from datetime import datetime, timedelta
from typing import Any

import httpx
from cryptography.hazmat.primitives.asymmetric import rsa

from siyu.core import clock
from siyu.sandbox.pay.records import Fault, Merchant, MerchantSpec, Notification
from siyu.sandbox.pay.rules import NOTIFY_TIMEOUT, PayError
from siyu.sandbox.world import SandboxWorld
from siyu.wechat import paycrypto
from siyu.wechat.paycrypto import PayCryptoError


class PayState:
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
