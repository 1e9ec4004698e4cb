"""What pay's topics share: WeChat Pay's timing rules, the notification refusal, merchant-side
numbers, and the payer followed through member merges."""

from __future__ import annotations

import secrets
import string
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any, Protocol

from prometheus_client import Counter
from sqlalchemy.orm import Session

from siyu.core import clock
from siyu.core.clock import BEIJING
from siyu.core.errors import ErrorCode, SiyuError
from siyu.identity import service as identity

QUERY_AFTER = timedelta(minutes=10)  # the notification was due by then: ask instead
MAX_MERGE_HOPS = 16
ACTOR = "pay"
_OUT_NO = string.ascii_uppercase + string.digits

NOTIFICATIONS = Counter(
    "siyu_wechat_pay_notifications_total", "Pay notifications answered, by outcome", ["outcome"]
)


class MerchantRef(Protocol):
    """A merchant as outcomes need it: its row id (a PayMerchant, or cached NotifyKeys)."""

    @property
    def id(self) -> int: ...


class PayRefused(SiyuError):
    """A notification refused: answered with WeChat's FAIL body, logged for staff (with the
    order it names, when it names one)."""

    def __init__(self, code: ErrorCode, message: str, *, out_trade_no: str | None = None) -> None:
        super().__init__(code.code, message, status=code.status)
        self.out_trade_no = out_trade_no


def out_no(prefix: str, length: int = 24) -> str:
    """A merchant-side number: prefix + date + random, inside WeChat's alphabets (6–32)."""
    stamp = clock.now().astimezone(BEIJING).strftime("%y%m%d")
    body = "".join(secrets.choice(_OUT_NO) for _ in range(length - len(prefix) - len(stamp)))
    return f"{prefix}{stamp}{body}"


def success_time(data: Mapping[str, Any]) -> datetime:
    """When WeChat Pay says the payment or refund succeeded (Beijing time when it gives no
    offset); now, when it says nothing readable."""
    raw = data.get("success_time")
    try:
        at = datetime.fromisoformat(str(raw))
    except ValueError:
        return clock.now()
    return at if at.tzinfo is not None else at.replace(tzinfo=BEIJING)


def current_member(session: Session, workspace_id: int, member_id: int) -> int:
    # The payer may have been merged into another member since ordering: follow the chain.
    return identity.surviving_member_id(session, workspace_id, member_id, max_hops=MAX_MERGE_HOPS)
