"""Analytics's refusals: each code, its HTTP status and what an operator reads."""

from __future__ import annotations

from siyu.core.errors import ErrorCatalog

_codes = ErrorCatalog("analytics")

BAD_RANGE = _codes.add(
    "bad_range",
    422,
    "日期范围不对：开始日期不能晚于结束日期，且须在 2000–2099 年之间。",
    en="The start date is after the end date, or a date is outside 2000–2099.",
)
SPAN_TOO_LONG = _codes.add(
    "span_too_long",
    422,
    "查询的时间跨度最多 {days} 天。",
    en="The date range may span at most {days} days.",
)
UNKNOWN_EVENT = _codes.add(
    "unknown_event",
    422,
    "没有这个事件：{event}。",
    en="No such event: {event}.",
)
TOO_MANY_STEPS = _codes.add(
    "too_many_steps",
    422,
    "漏斗需要 2 到 {limit} 个步骤。",
    en="A funnel has 2 to {limit} steps.",
)
WINDOW_OUT_OF_RANGE = _codes.add(
    "window_out_of_range",
    422,
    "转化窗口须在 1 分钟到 {days} 天之间。",
    en="The conversion window must be between 1 minute and {days} days.",
)
BAD_STEP = _codes.add("bad_step", 422, "没有第 {step} 步。", en="The funnel has no step {step}.")
MEMBERS_HIDDEN = _codes.add(
    "members_hidden",
    403,
    "分析师只能查看汇总数据，不能查看会员名单。",
    en="The analyst role sees aggregates only, not lists of members.",
)
QUERY_BUDGET = _codes.add(
    "query_budget",
    503,
    "查询超过了 {seconds} 秒的时限，已停止。请缩小时间范围后再试。",
    en="The query ran past its {seconds} s budget and was stopped; narrow the range.",
)
