"""Pay's refusals: each code, its HTTP status and what an operator reads.

Staff meet the refund and order codes (the console's refund form, a settlement's refunds);
WeChat Pay's notifications and the Mini Program's checkout are machine callers (`api_only`).
"""

from __future__ import annotations

from siyu.core.errors import ErrorCatalog

_codes = ErrorCatalog("pay")

# Merchants.
MERCHANT_EXISTS = _codes.add("merchant_exists", 409, "商户号 {mchid} 已经登记过了。")
UNKNOWN_MERCHANT = _codes.add("unknown_merchant", 404, "找不到商户 {mchid}。")
NO_MERCHANT = _codes.add("no_merchant", 409, "这个工作区还没有配置微信支付商户。")

# Orders.
INVALID_AMOUNT = _codes.add(
    "invalid_amount",
    422,
    "请填写正确的金额（元，最多两位小数）。",
    en="Enter an amount in yuan (at most two decimals).",
)
NOT_MINI_PROGRAM = _codes.add("not_mini_program", 400, "应用 {appid} 不是小程序，不能下单。")
MEMBER_WITHOUT_OPENID = _codes.add(
    "member_without_openid", 409, "会员 {number} 还没有登录过小程序 {appid}，无法为其下单。"
)
ORDER_NOT_FOUND = _codes.add("order_not_found", 404, "找不到这笔订单。")
ORDER_PAID = _codes.add("order_paid", 409, "这笔订单已经支付过了。")
ORDER_CHANGED = _codes.add(
    "order_changed", 409, "{reference} 已有一笔金额、描述或会员不同的待支付订单，须等它过期。"
)
ORDER_CONTENTION = _codes.add("order_contention", 409, "同一笔订单的并发请求太多，请重试。")
ORDER_CLOSED = _codes.add("order_closed", 409, "订单已过期，请重新下单。", api_only=True)
NOT_YOUR_ORDER = _codes.add("not_your_order", 403, "这笔订单属于另一位会员。", api_only=True)
DEMO_DISABLED = _codes.add("demo_disabled", 404, "示例收银台只在沙箱中提供。", api_only=True)

# Refunds (staff ask for them; a settlement asks for many at once).
REFUND_REASON_REQUIRED = _codes.add(
    "refund_reason_required", 422, "请填写退款原因。", en="Give a reason for the refund."
)
REFUND_REASON_TOO_LONG = _codes.add("refund_reason_too_long", 422, "退款原因最多 80 个字。")
ORDER_NOT_PAID = _codes.add(
    "order_not_paid", 409, "订单未支付，不能退款。", en="The order is not paid."
)
REFUND_TOO_LATE = _codes.add(
    "refund_too_late",
    409,
    "支付超过一年的订单不能退款。",
    en="Orders paid more than a year ago cannot be refunded.",
)
TOO_MANY_REFUNDS = _codes.add(
    "too_many_refunds",
    409,
    "一笔订单最多退款 {limit} 次。",
    en="An order is refunded at most {limit} times.",
)
IDEMPOTENCY_KEY_REUSED = _codes.add(
    "idempotency_key_reused",
    409,
    "这个 Idempotency-Key 已用于这笔订单另一笔金额或原因不同的退款，请换一个。",
    api_only=True,
)
REFUND_EXCEEDS_PAID = _codes.add(
    "refund_exceeds_paid",
    409,
    "退款总额不能超过已支付金额。",
    en="Refunds cannot exceed what was paid.",
)

# Calls to WeChat Pay (the checkout and the bills; jobs retry them).
UNAVAILABLE = _codes.add("unavailable", 503, "暂时无法连接微信支付，请稍后重试。", api_only=True)
UPSTREAM_REFUSED = _codes.add(
    "upstream_refused", 502, "微信支付拒绝了这次请求（{wechat_code}）。", api_only=True
)

# WeChat Pay's notifications: refused with its FAIL answer and kept for staff to read.
BAD_SIGNATURE = _codes.add(
    "bad_signature", 401, "支付通知的签名与微信支付公钥不符。", api_only=True
)
UNKNOWN_SERIAL = _codes.add(
    "unknown_serial", 401, "支付通知不是用我们保存的微信支付公钥签名的。", api_only=True
)
STALE_NOTIFICATION = _codes.add(
    "stale_notification", 401, "支付通知的时间戳不是最近的：疑似重放。", api_only=True
)
UNDECRYPTABLE = _codes.add("undecryptable", 400, "APIv3 密钥无法解密支付通知。", api_only=True)
MALFORMED_NOTIFICATION = _codes.add(
    "malformed_notification", 400, "这不是一条格式正确的微信支付通知。", api_only=True
)
MERCHANT_MISMATCH = _codes.add(
    "merchant_mismatch", 400, "支付通知写的是另一个商户号。", api_only=True
)
UNKNOWN_ORDER = _codes.add("unknown_order", 404, "支付通知中的订单不存在。", api_only=True)
UNKNOWN_REFUND = _codes.add("unknown_refund", 404, "支付通知中的退款单不存在。", api_only=True)
AMOUNT_MISMATCH = _codes.add(
    "amount_mismatch", 409, "通知的金额与订单或退款单的金额不一致。", api_only=True
)
PAYER_MISMATCH = _codes.add(
    "payer_mismatch", 409, "付款人不是下单的用户（openid 不同）。", api_only=True
)
TRANSACTION_MISMATCH = _codes.add(
    "transaction_mismatch", 409, "这笔订单已由另一笔微信支付交易付过。", api_only=True
)
