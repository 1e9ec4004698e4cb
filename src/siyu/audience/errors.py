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


# Official Account tag sync (fact sheet §2.7: ≤ 100 tags an account, names ≤ 30 bytes, unique).
OA_TAG_SYNC_NOT_FOUND = _codes.add("oa_tag_sync_not_found", 404, "没有这个公众号标签同步。")
NOT_AN_OFFICIAL_ACCOUNT = _codes.add(
    "not_an_official_account", 400, "{appid} 不是公众号：只有公众号有用户标签。"
)
UNKNOWN_SOURCE = _codes.add(
    "unknown_source", 400, "不能按“{kind}”同步：目前只能把 siyu 标签同步到公众号标签。"
)
OA_TAG_NAME_INVALID = _codes.add(
    "oa_tag_name_invalid",
    400,
    "公众号标签名要有 1–30 个字节（约 10 个汉字），不能是“星标组”，不能换行。",
)
OA_TAG_ALREADY_MAPPED = _codes.add(
    "oa_tag_already_mapped", 409, "公众号标签“{name}”已经有同步来源了，请直接同步它。"
)
SOURCE_ALREADY_MAPPED = _codes.add(
    "source_already_mapped", 409, "“{source}”已经同步到这个公众号的一个标签了。"
)
TOO_MANY_OA_TAGS = _codes.add(
    "too_many_oa_tags", 409, "一个公众号最多 {limit} 个标签，这个公众号的同步已经这么多了。"
)
NOT_SYNCED_YET = _codes.add(
    "not_synced_yet", 409, "这个公众号标签还没有同步过：请先同步，再按它群发或设置菜单。"
)
SYNC_TAKEN_OVER = _codes.add("sync_taken_over", 409, "另一次同步接手了这个标签，本次同步已停止。")
