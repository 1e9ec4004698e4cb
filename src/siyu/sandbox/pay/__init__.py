"""The sandbox's WeChat Pay v3: merchants, orders, refunds, a ledger, signed sealed notifications.

Facts: fact sheet §5 (paths, field limits, 2 h prepay_id, 1-year and 50-refund rules, 1 minute
between refunds of one order, notification format and retry schedule). Error codes and their
HTTP statuses follow the v3 docs' error tables as far as the stored copies show them; where a
status could not be confirmed it is noted beside the code.

By topic: `rules` (limits, refusals, field readers), `records` (what is held), `state` (keys,
merchants, authentication, faults), `notifications`, `orders`, `refunds`, `bills`; `world`
puts them together as `PayWorld`.
"""

from siyu.sandbox.pay.bills import BILL_COLUMNS, BILL_SUMMARY, bill_csv
from siyu.sandbox.pay.records import (
    TRADE_STATE_DESC,
    Fault,
    Merchant,
    MerchantSpec,
    Notification,
    Order,
    Refund,
    RefundStatus,
    TradeState,
)
from siyu.sandbox.pay.rules import (
    DEFAULT_ORDER_TTL,
    MAX_ORDER_TTL,
    MAX_REFUNDS,
    MCHID,
    NOTIFY_TIMEOUT,
    OUT_REFUND_NO,
    OUT_TRADE_NO,
    PREPAY_TTL,
    REFUND_GAP,
    REFUND_WINDOW,
    RETRY_SCHEDULE,
    PayError,
    rfc3339,
)
from siyu.sandbox.pay.world import PayWorld

__all__ = [
    "BILL_COLUMNS",
    "BILL_SUMMARY",
    "DEFAULT_ORDER_TTL",
    "MAX_ORDER_TTL",
    "MAX_REFUNDS",
    "MCHID",
    "NOTIFY_TIMEOUT",
    "OUT_REFUND_NO",
    "OUT_TRADE_NO",
    "PREPAY_TTL",
    "REFUND_GAP",
    "REFUND_WINDOW",
    "RETRY_SCHEDULE",
    "TRADE_STATE_DESC",
    "Fault",
    "Merchant",
    "MerchantSpec",
    "Notification",
    "Order",
    "PayError",
    "PayWorld",
    "Refund",
    "RefundStatus",
    "TradeState",
    "bill_csv",
    "rfc3339",
]
