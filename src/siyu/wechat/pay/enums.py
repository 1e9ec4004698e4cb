"""Pay's public enums: an order's and a refund's state (the console and other domains read them)."""

from __future__ import annotations

import enum


class OrderStatus(enum.StrEnum):
    pending = "pending"  # created; the member has not paid (yet)
    paid = "paid"
    closed = "closed"  # expired or closed unpaid


class RefundStatus(enum.StrEnum):
    pending = "pending"  # not accepted by WeChat Pay yet: retried with the same out_refund_no
    processing = "processing"  # accepted; the outcome comes by notification or query
    succeeded = "succeeded"
    abnormal = "abnormal"  # the money could not reach the payer: staff must act
    closed = "closed"
    failed = "failed"  # refused for good (staff see why)
