"""Audience's refusals: each code, its HTTP status and what an operator reads.

The message a raise site passes stays the API's English (a segment definition's problem names
its path: `conditions[2].within_days: must be 1..3650`); the Chinese below is what the console
shows, with the same path.
"""

from __future__ import annotations

from siyu.core.errors import ErrorCatalog

_codes = ErrorCatalog("audience")

# --- segments ------------------------------------------------------------------------------
INVALID_DEFINITION = _codes.add(
    "invalid_definition",
    422,
    "人群条件有误：{problem}",
    en="The segment's conditions are wrong: {problem}",
)
SEGMENT_CYCLE = _codes.add(
    "segment_cycle",
    422,
    "人群不能引用自己，也不能互相引用（{path}）。",
    en="A segment cannot refer to itself, directly or through others ({path}).",
)
SEGMENT_NOT_FOUND = _codes.add("segment_not_found", 404, "找不到这个人群。", en="No such segment.")
SEGMENT_EXISTS = _codes.add(
    "segment_exists", 409, "已有同名人群。", en="A segment of this name exists."
)
SEGMENT_IN_USE = _codes.add(
    "segment_in_use",
    409,
    "人群“{name}”的条件引用了它，请先修改那个人群。",
    en="The segment “{name}” refers to it: change that segment first.",
)
RULE_TAG_TAKEN = _codes.add(
    "rule_tag_taken",
    409,
    "标签“{tag}”已在使用（手动标签或另一个人群的规则标签），请换一个名字。",
    en="The tag “{tag}” is in use (by hand or by another segment's rule): choose another name.",
)
AUDIENCE_TOO_LARGE = _codes.add(
    "audience_too_large",
    422,
    "这个人群有 {count} 人，一次通知最多 {limit} 人：请缩小人群。",
    en="The segment has {count} members; a notice reaches at most {limit}: narrow it.",
)
EMPTY_SEGMENT = _codes.add(
    "empty_segment", 422, "这个人群现在没有成员。", en="The segment has no member now."
)

# --- tag groups ----------------------------------------------------------------------------
TAG_GROUP_EXISTS = _codes.add(
    "tag_group_exists", 409, "已有同名标签组。", en="A tag group of this name exists."
)
TAG_GROUP_NOT_FOUND = _codes.add(
    "tag_group_not_found", 404, "找不到这个标签组。", en="No such tag group."
)
