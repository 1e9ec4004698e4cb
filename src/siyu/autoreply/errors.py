"""Auto-reply's refusals: each code, its HTTP status and what an operator reads."""

from __future__ import annotations

from siyu.core.errors import ErrorCatalog

_codes = ErrorCatalog("autoreply")
# One code covers several causes: `reason` says which, in Chinese, at the raise site.
INVALID_RULE = _codes.add("invalid_rule", 422, "规则没有保存：{reason}")
INVALID_REPLY = _codes.add("invalid_reply", 422, "回复没有保存：{reason}")
INVALID_REGEX = _codes.add(
    "invalid_regex",
    422,
    "正则表达式 {pattern} 不能使用：它无法编译，或可能导致灾难性回溯。",
    en="The pattern {pattern} does not compile or could backtrack catastrophically.",
)
UNKNOWN_RULE = _codes.add("unknown_rule", 404, "找不到这条自动回复规则。")
