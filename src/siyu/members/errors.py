"""Members' refusals: each code, its HTTP status and what an operator reads."""

from __future__ import annotations

from siyu.core.errors import ErrorCatalog

_codes = ErrorCatalog("members")

# --- points, sign-in, levels ---------------------------------------------------------------
INSUFFICIENT_POINTS = _codes.add(
    "insufficient_points",
    409,
    "积分不足：余额 {balance}，需要 {amount}。",
    en="Not enough points: the balance is {balance}, {amount} are needed.",
)
SOURCE_KEY_REUSED = _codes.add(
    "source_key_reused",
    409,
    "这个来源编号已经用于另一笔积分记录。",
    en="This source key belongs to another points entry.",
)
INVALID_AMOUNT = _codes.add(
    "invalid_amount", 422, "积分数量必须为正整数。", en="The amount must be a positive integer."
)
REASON_REQUIRED = _codes.add(
    "reason_required", 422, "调整积分必须填写原因。", en="An adjustment needs a reason."
)
ADJUST_BELOW_ZERO = _codes.add(
    "adjust_below_zero",
    409,
    "扣减后余额将小于 0（当前余额 {balance}）。",
    en="The balance ({balance}) cannot go below zero.",
)
RULE_EXISTS = _codes.add(
    "rule_exists", 409, "这个触发条件已有规则。", en="This trigger already has a rule."
)
RULE_NOT_FOUND = _codes.add("rule_not_found", 404, "找不到这条积分规则。", en="No such rule.")
INVALID_POLICY = _codes.add(
    "invalid_policy", 422, "积分设置有误：{problem}", en="The points settings are wrong: {problem}"
)
ALREADY_SIGNED_IN = _codes.add(
    "already_signed_in",
    409,
    "今天（{day}）已经签到过了。",
    en="Already signed in today ({day}).",
    api_only=True,
)
LEVEL_EXISTS = _codes.add("level_exists", 409, "已有这个等级序号。", en="This rank exists.")
LEVEL_NOT_FOUND = _codes.add("level_not_found", 404, "找不到这个等级。", en="No such level.")
INVALID_LEVELS = _codes.add(
    "invalid_levels",
    422,
    "等级门槛必须随等级升高而升高（{problem}）。",
    en="Thresholds must rise with the rank ({problem}).",
)


# --- coupon templates ----------------------------------------------------------------------
TEMPLATE_NOT_FOUND = _codes.add(
    "template_not_found", 404, "找不到这个优惠券模板。", en="No such coupon template."
)
TEMPLATE_EXISTS = _codes.add(
    "template_exists", 409, "已有同名的优惠券模板。", en="A coupon template of this name exists."
)
INVALID_TEMPLATE = _codes.add(
    "invalid_template", 422, "优惠券模板填写有误：{reason}", en="Invalid template: {reason}"
)
KEYWORD_TAKEN = _codes.add(
    "keyword_taken",
    409,
    "关键词“{keyword}”已被另一个优惠券模板使用。",
    en="The keyword “{keyword}” belongs to another template.",
)

# --- claims and issues ---------------------------------------------------------------------
NOT_CLAIMABLE = _codes.add(
    "not_claimable",
    409,
    "这个优惠券现在不能领取（已暂停、已结束或已过有效期）。",
    en="This coupon cannot be claimed now (paused, ended or past its validity).",
)
OUT_OF_STOCK = _codes.add(
    "out_of_stock", 409, "优惠券已经领完了。", en="No coupons of this template are left."
)
LIMIT_REACHED = _codes.add(
    "limit_reached",
    409,
    "每人最多领取 {limit} 张，已经领够了。",
    en="At most {limit} per member, all taken.",
)

# --- redemption ----------------------------------------------------------------------------
COUPON_NOT_FOUND = _codes.add(
    "coupon_not_found", 404, "找不到这张优惠券。", en="No such coupon.", api_only=True
)
COUPON_NOT_YOURS = _codes.add(
    "coupon_not_yours",
    403,
    "这张优惠券不属于这位会员。",
    en="This coupon belongs to another member.",
    api_only=True,
)
COUPON_USED = _codes.add(
    "coupon_used", 409, "这张优惠券已经用过了。", en="This coupon was used.", api_only=True
)
COUPON_EXPIRED = _codes.add(
    "coupon_expired", 409, "这张优惠券已过期。", en="This coupon has expired.", api_only=True
)
COUPON_NOT_STARTED = _codes.add(
    "coupon_not_started",
    409,
    "这张优惠券还没到可用时间。",
    en="This coupon is not valid yet.",
    api_only=True,
)
BELOW_THRESHOLD = _codes.add(
    "below_threshold",
    422,
    "订单金额不足 ¥{threshold}，不能使用这张优惠券。",
    en="The order is below the coupon's threshold of ¥{threshold}.",
    api_only=True,
)
ORDER_HAS_COUPON = _codes.add(
    "order_has_coupon",
    409,
    "这笔订单已经用过另一张优惠券或另一个金额。",
    en="This order was redeemed with another coupon or amount.",
    api_only=True,
)
REDEMPTION_NOT_FOUND = _codes.add(
    "redemption_not_found",
    404,
    "这笔订单没有使用优惠券。",
    en="No coupon was redeemed for this order.",
    api_only=True,
)

# --- the points mall -----------------------------------------------------------------------
ITEM_NOT_FOUND = _codes.add("item_not_found", 404, "找不到这个商品。", en="No such item.")
ITEM_EXISTS = _codes.add("item_exists", 409, "已有同名商品。", en="An item of this name exists.")
INVALID_ITEM = _codes.add(
    "invalid_item", 422, "商品填写有误：{reason}", en="Invalid item: {reason}"
)
ITEM_OUT_OF_STOCK = _codes.add(
    "item_out_of_stock", 409, "这个商品已经兑完了。", en="This item is out of stock.", api_only=True
)
ITEM_UNAVAILABLE = _codes.add(
    "item_unavailable", 409, "这个商品已下架。", en="This item is not offered.", api_only=True
)
ADDRESS_REQUIRED = _codes.add(
    "address_required",
    422,
    "兑换实物礼品需要填写收件人、电话和地址。",
    en="A gift needs a recipient, a phone and an address.",
    api_only=True,
)
FULFILMENT_NOT_FOUND = _codes.add(
    "fulfilment_not_found", 404, "找不到这条发货记录。", en="No such fulfilment."
)
ALREADY_SHIPPED = _codes.add(
    "already_shipped", 409, "这件礼品已经发货。", en="This gift was shipped already."
)
