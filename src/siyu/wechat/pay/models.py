"""Pay tables: merchants, orders, refunds, refused notifications, reconciliations."""

from __future__ import annotations

import enum
from datetime import date, datetime
from typing import Any

from sqlalchemy import Enum, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from siyu.core.crypto import EncryptedText
from siyu.core.db import Base, BigId, IdPK, JSONType
from siyu.core.privacy import ERASED, Erasure
from siyu.wechat.pay.enums import OrderStatus, RefundStatus


def _enum(cls: type[enum.StrEnum]) -> Enum:
    return Enum(cls, native_enum=False, length=32, validate_strings=True)


class PayMerchant(Base):
    """A WeChat Pay merchant (direct mode, public-key mode) and its secrets, encrypted."""

    __tablename__ = "pay_merchants"
    __erasure__ = Erasure.none("merchant credentials, no member's data")

    id: Mapped[IdPK]
    workspace_id: Mapped[int] = mapped_column(BigId, ForeignKey("workspaces.id"), index=True)
    mchid: Mapped[str] = mapped_column(String(32), unique=True)
    name: Mapped[str] = mapped_column(String(100))
    apiv3_key: Mapped[str] = mapped_column(EncryptedText("pay_merchants.apiv3_key"))
    private_key: Mapped[str] = mapped_column(EncryptedText("pay_merchants.private_key"))
    cert_serial_no: Mapped[str] = mapped_column(String(64))
    # WeChat Pay's public key (public-key mode): it verifies notifications and answers.
    platform_public_key: Mapped[str] = mapped_column(Text)
    platform_public_key_id: Mapped[str] = mapped_column(String(64))
    notify_url: Mapped[str] = mapped_column(String(255))
    created_at: Mapped[datetime]


class PayOrder(Base):
    """One JSAPI order. (merchant, reference, attempt) makes re-creating an order idempotent."""

    __tablename__ = "pay_orders"
    # Amounts and WeChat's transaction ids stay (the ledger and reconciliation need them); the
    # payer's openid goes.
    __erasure__ = Erasure.anonymize(
        member=("member_id",), wechat_ids=("openid",), scrub={"openid": ERASED}
    )
    __table_args__ = (
        UniqueConstraint("merchant_id", "out_trade_no"),
        UniqueConstraint("merchant_id", "reference", "attempt"),
        Index("ix_pay_orders_status_created", "status", "created_at"),
    )

    id: Mapped[IdPK]
    workspace_id: Mapped[int] = mapped_column(BigId, ForeignKey("workspaces.id"))
    merchant_id: Mapped[int] = mapped_column(BigId, ForeignKey("pay_merchants.id"))
    app_id: Mapped[int] = mapped_column(BigId, ForeignKey("apps.id"))
    member_id: Mapped[int] = mapped_column(BigId, ForeignKey("members.id"), index=True)
    openid: Mapped[str] = mapped_column(String(64))
    out_trade_no: Mapped[str] = mapped_column(String(32))
    reference: Mapped[str] = mapped_column(String(64))
    attempt: Mapped[int] = mapped_column(default=0)
    description: Mapped[str] = mapped_column(String(127))
    amount: Mapped[int]  # fen
    status: Mapped[OrderStatus] = mapped_column(_enum(OrderStatus), default=OrderStatus.pending)
    prepay_id: Mapped[str | None] = mapped_column(String(64))
    prepay_expires_at: Mapped[datetime | None]
    time_expire: Mapped[datetime]
    transaction_id: Mapped[str | None] = mapped_column(String(32), unique=True)
    paid_at: Mapped[datetime | None]
    closed_at: Mapped[datetime | None]
    refunded: Mapped[int] = mapped_column(default=0)  # fen of succeeded refunds
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class PayRefund(Base):
    """One refund; its out_refund_no never changes, so a retried call refunds once."""

    __tablename__ = "pay_refunds"
    __erasure__ = Erasure.none("refunds refer to orders, not to members; the ledger keeps them")
    __table_args__ = (
        UniqueConstraint("merchant_id", "out_refund_no"),
        # A staff refund asked again with the same Idempotency-Key is the same refund.
        UniqueConstraint("order_id", "idempotency_key"),
        Index("ix_pay_refunds_status_next", "status", "next_attempt_at"),
    )

    id: Mapped[IdPK]
    workspace_id: Mapped[int] = mapped_column(BigId, ForeignKey("workspaces.id"))
    merchant_id: Mapped[int] = mapped_column(BigId, ForeignKey("pay_merchants.id"))
    order_id: Mapped[int] = mapped_column(BigId, ForeignKey("pay_orders.id"), index=True)
    out_refund_no: Mapped[str] = mapped_column(String(64))
    amount: Mapped[int]  # fen
    reason: Mapped[str] = mapped_column(String(80))
    status: Mapped[RefundStatus] = mapped_column(_enum(RefundStatus), default=RefundStatus.pending)
    refund_id: Mapped[str | None] = mapped_column(String(64))
    # Who asked: an operator (staff refund, with the reason above) or a system actor.
    operator_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("operators.id"))
    requested_by: Mapped[str] = mapped_column(String(64))
    # The client's Idempotency-Key of a staff refund (None: asked without one).
    idempotency_key: Mapped[str | None] = mapped_column(String(64))
    attempts: Mapped[int] = mapped_column(default=0)
    last_error: Mapped[str | None] = mapped_column(String(255))
    next_attempt_at: Mapped[datetime | None]
    # A runner sending this refund holds it until then (its call's outcome clears it); another
    # runner skips it meanwhile, so one out_refund_no is asked of WeChat once at a time.
    claimed_until: Mapped[datetime | None]
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    succeeded_at: Mapped[datetime | None]


class PayNotificationLog(Base):
    """A notification siyu refused or found wrong, kept for staff (accepted ones are not)."""

    __tablename__ = "pay_notification_log"
    __erasure__ = Erasure.none("refused notifications: WeChat's ids and codes, no member")

    id: Mapped[IdPK]
    merchant_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("pay_merchants.id"))
    mchid: Mapped[str] = mapped_column(String(32))
    notification_id: Mapped[str | None] = mapped_column(String(64))
    event_type: Mapped[str | None] = mapped_column(String(64))
    code: Mapped[str] = mapped_column(String(64))
    message: Mapped[str] = mapped_column(String(255))
    out_trade_no: Mapped[str | None] = mapped_column(String(64))
    status: Mapped[int]  # the HTTP status answered
    received_at: Mapped[datetime] = mapped_column(index=True)


class PayReconciliation(Base):
    """One day's comparison of siyu's ledger with the merchant's trade bill."""

    __tablename__ = "pay_reconciliations"
    __erasure__ = Erasure.none("daily ledger comparisons: trade numbers and amounts")
    __table_args__ = (UniqueConstraint("merchant_id", "bill_date"),)

    id: Mapped[IdPK]
    merchant_id: Mapped[int] = mapped_column(BigId, ForeignKey("pay_merchants.id"))
    bill_date: Mapped[date]
    checked_at: Mapped[datetime]
    payments: Mapped[int]
    refunds: Mapped[int]
    differences: Mapped[list[dict[str, Any]]] = mapped_column(JSONType)
