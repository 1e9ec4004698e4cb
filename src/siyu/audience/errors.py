"""Audience's refusals: each code, its HTTP status and what an operator reads."""

from __future__ import annotations

from siyu.core.errors import ErrorCatalog

_codes = ErrorCatalog("audience")

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
