"""Reach's refusals: each code, its HTTP status and what an operator reads."""

from __future__ import annotations

from siyu.core.errors import ErrorCatalog

_codes = ErrorCatalog("reach")
# Where one code covers several causes, `reason` says which, in Chinese, at the raise site.
WRONG_APP = _codes.add("wrong_app", 422, "这个应用发不了这种消息：{reason}")
INVALID_TEMPLATE = _codes.add("invalid_template", 422, "模板没有保存：{reason}")
TEMPLATE_EXISTS = _codes.add("template_exists", 409, "通知 {key} 已经有{kind}形式的模板了。")
TEMPLATE_NOT_FOUND = _codes.add(
    "template_not_found", 404, "找不到这个模板。", en="No such template."
)
UNKNOWN_TEMPLATE = _codes.add(
    "unknown_template", 404, "没有这个模板：{key}。", en="No such template: {key}."
)
INVALID_FIELD = _codes.add(
    "invalid_field",
    422,
    "模板字段 {field}（{wechat_key}）不符合微信的规则：{problem}。",
    en="Template field {field} ({wechat_key}) breaks WeChat's rule: {problem}.",
)
INVALID_DATA = _codes.add("invalid_data", 422, "通知内容的格式不对：{reason}")
INVALID_POLICY = _codes.add("invalid_policy", 422, "发送策略没有保存：{reason}")
UNKNOWN_CATEGORY = _codes.add("unknown_category", 422, "没有这个通知类别：{categories}。")
MEMBER_ERASED = _codes.add(
    "member_erased", 409, "这位会员的数据已被删除。", en="This member was erased."
)
INVALID_BROADCAST = _codes.add("invalid_broadcast", 422, "群发没有创建：{reason}")
EMPTY_AUDIENCE = _codes.add(
    "empty_audience", 422, "这个人群里没有会员。", en="The audience has no member."
)
DAILY_MASS_USED = _codes.add(
    "daily_mass_used",
    409,
    "订阅号 {app} 今天已经群发过了（每天一次），请明天再发。",
    en="Subscription account {app} broadcast today already (once a day).",
)
UNKNOWN_BROADCAST = _codes.add("unknown_broadcast", 404, "找不到这次群发。")
BROADCAST_DONE = _codes.add("broadcast_done", 409, "这次群发已经结束，不能再暂停或继续。")
INVALID_PERIOD = _codes.add("invalid_period", 422, "结束时间必须晚于开始时间。")
LEGACY_RULES_OFF = _codes.add(
    "legacy_rules_off",
    409,
    "{appid} 没有按旧版模板消息规则统计：请先把它加入发送策略的 legacy_template_apps。",
)
