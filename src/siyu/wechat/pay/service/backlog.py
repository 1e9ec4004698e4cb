"""Refund throughput for operators: refunds WeChat Pay took in the last minutes."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy.orm import Session

from siyu.core import clock
from siyu.wechat.pay import repository


def refunds_last_minutes(session: Session, minutes: int = 5) -> int:
    """Refunds accepted or settled by WeChat Pay in the last `minutes`, every workspace."""
    return repository.count_refunds_sent_since(session, clock.now() - timedelta(minutes=minutes))
