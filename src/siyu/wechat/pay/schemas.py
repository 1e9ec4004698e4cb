"""What the Pay domain accepts and returns (amounts are integer fen)."""

from __future__ import annotations

import re
from datetime import date, datetime
from typing import Any, Self

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from siyu.core.params import Id
from siyu.wechat import paycrypto
from siyu.wechat.pay.enums import OrderStatus, RefundStatus

MCHID = re.compile(r"^\d{8,10}$")
REFERENCE = re.compile(r"^[\x21-\x7e]{1,64}$")  # printable ASCII, e.g. "activity:12:member:34"


class MerchantCreate(BaseModel):
    """A merchant's credentials as the merchant platform hands them out (public-key mode)."""

    model_config = ConfigDict(str_strip_whitespace=True)

    mchid: str = Field(pattern=MCHID.pattern)
    name: str = Field(min_length=1, max_length=100)
    apiv3_key: str
    private_key: str = Field(min_length=1, max_length=8192)
    cert_serial_no: str = Field(pattern=r"^[0-9A-Fa-f]{8,64}$")
    platform_public_key: str = Field(min_length=1, max_length=4096)
    platform_public_key_id: str = Field(min_length=1, max_length=64)
    notify_url: str | None = Field(default=None, max_length=255)

    @field_validator("apiv3_key")
    @classmethod
    def _apiv3(cls, value: str) -> str:
        if not paycrypto.apiv3_key_ok(value):
            raise ValueError("the APIv3 key is 32 characters")
        return value

    @model_validator(mode="after")
    def _keys(self) -> Self:
        try:
            paycrypto.load_private_key(self.private_key)
        except paycrypto.PayCryptoError as exc:
            raise ValueError(f"private_key: {exc}") from None
        try:
            paycrypto.load_public_key(self.platform_public_key)
        except paycrypto.PayCryptoError as exc:
            raise ValueError(f"platform_public_key: {exc}") from None
        return self


class MerchantRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    workspace_id: int
    mchid: str
    name: str
    cert_serial_no: str
    platform_public_key_id: str
    notify_url: str
    created_at: datetime


class OrderCreate(BaseModel):
    """An order for a member in a Mini Program; `reference` names what is paid for, so that
    asking again for the same thing returns the same order (and prepay_id) until it expires."""

    appid: str = Field(min_length=2, max_length=64)
    member_id: Id
    amount: int = Field(gt=0, le=10**10, description="fen")
    description: str = Field(min_length=1, max_length=127)
    reference: str = Field(pattern=REFERENCE.pattern)
    mchid: str | None = Field(default=None, pattern=MCHID.pattern)


class OrderRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    workspace_id: int
    merchant_id: int
    app_id: int
    member_id: int
    out_trade_no: str
    reference: str
    description: str
    amount: int
    status: OrderStatus
    transaction_id: str | None
    time_expire: datetime
    paid_at: datetime | None
    closed_at: datetime | None
    refunded: int
    created_at: datetime


class PaymentParams(BaseModel):
    """What the Mini Program passes to wx.requestPayment, paySign included."""

    model_config = ConfigDict(populate_by_name=True)

    app_id: str = Field(alias="appId")
    time_stamp: str = Field(alias="timeStamp")
    nonce_str: str = Field(alias="nonceStr")
    package: str
    sign_type: str = Field(alias="signType")
    pay_sign: str = Field(alias="paySign")
    out_trade_no: str


class RefundCreate(BaseModel):
    """A staff refund: part or all of what was paid, with a reason the payer will see."""

    model_config = ConfigDict(str_strip_whitespace=True)

    amount: int = Field(gt=0, le=10**10, description="fen")
    reason: str = Field(min_length=1, max_length=80)


class RefundRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    order_id: int
    out_refund_no: str
    amount: int
    reason: str
    status: RefundStatus
    refund_id: str | None
    operator_id: int | None
    requested_by: str
    attempts: int
    last_error: str | None
    created_at: datetime
    succeeded_at: datetime | None


class NotificationLogRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    mchid: str
    notification_id: str | None
    event_type: str | None
    code: str
    message: str
    out_trade_no: str | None
    status: int
    received_at: datetime


class ReconciliationRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    merchant_id: int
    bill_date: date
    checked_at: datetime
    payments: int
    refunds: int
    differences: list[dict[str, Any]]
