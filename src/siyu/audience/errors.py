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

# --- sales leads (线索) ----------------------------------------------------------------------
LEAD_NOT_FOUND = _codes.add("lead_not_found", 404, "找不到这条线索。", en="No such lead.")
LEAD_NOT_YOURS = _codes.add(
    "lead_not_yours",
    403,
    "这条线索属于其他销售，您只能查看自己的线索和公海。",
    en="This lead belongs to another salesperson: you see only your leads and the pool.",
)
LEAD_TAKEN = _codes.add(
    "lead_taken",
    409,
    "这条线索已被领取或已关闭，请刷新公海。",
    en="This lead was claimed or closed already: refresh the pool.",
)
CLAIM_CAP_REACHED = _codes.add(
    "claim_cap_reached",
    409,
    "今天已领取 {cap} 条线索，达到每日上限，明天再来。",
    en="You claimed {cap} leads today, the daily cap: come back tomorrow.",
)
LEAD_BAD_TRANSITION = _codes.add(
    "lead_bad_transition",
    409,
    "线索不能从“{current}”改为“{wanted}”。",
    en="A lead cannot go from {current} to {wanted}.",
)
LEAD_LOST_REASON = _codes.add(
    "lead_lost_reason",
    422,
    "标记为流失时请填写原因。",
    en="A lost lead needs a reason.",
)
LEAD_RULE_INVALID = _codes.add(
    "lead_rule_invalid",
    422,
    "评分规则有误：{problem}",
    en="The scoring rule is wrong: {problem}",
)
LEAD_RULE_EXISTS = _codes.add(
    "lead_rule_exists", 409, "已有同名评分规则。", en="A scoring rule of this name exists."
)
LEAD_RULE_NOT_FOUND = _codes.add(
    "lead_rule_not_found", 404, "找不到这条评分规则。", en="No such scoring rule."
)
LEAD_ASSIGNEE_INVALID = _codes.add(
    "lead_assignee_invalid",
    422,
    "操作员 {operator_id} 不能接收线索（不存在、已停用或没有领取线索的权限）。",
    en="Operator {operator_id} cannot take leads (unknown, disabled or without leads.claim).",
)
# --- lifecycle tiers and RFM ------------------------------------------------------------------
INVALID_TIER_POLICY = _codes.add("invalid_tier_policy", 422, "分层策略没有保存：{reason}")
