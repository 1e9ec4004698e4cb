"""What the sandbox Pay holds: merchants, orders, refunds and notifications, each with the view
v3 answers for it."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from cryptography.hazmat.primitives.asymmetric import rsa
from pydantic import BaseModel, Field, field_validator

from siyu.sandbox.pay.rules import MCHID, rfc3339
from siyu.wechat import paycrypto

TradeState = Literal["NOTPAY", "SUCCESS", "REFUND", "CLOSED"]
RefundStatus = Literal["PROCESSING", "SUCCESS", "ABNORMAL", "CLOSED"]
Fault = Literal["error_before", "error_after", "not_enough", "frequency_limited"]


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
