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
