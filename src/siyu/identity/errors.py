"""Identity's refusals (members, merges, the review list, tags), those of event ingestion
(`events.*`) and of import runs (`imports.*`): each code, its HTTP status and its words."""

from __future__ import annotations

from siyu.core.errors import ErrorCatalog

_codes = ErrorCatalog("identity")
MEMBER_NOT_FOUND = _codes.add("member_not_found", 404, "找不到这位会员。", en="Member not found.")
MEMBER_MERGED = _codes.add(
    "member_merged",
    409,
    "会员 {number} 已被合并到其他会员，不能再合并。",
    en="Member {number} was merged into another already.",
)
MERGE_SELF = _codes.add(
    "merge_self", 422, "不能把会员合并到自己。", en="A member cannot be merged into itself."
)
MERGE_NOT_FOUND = _codes.add("merge_not_found", 404, "找不到这条合并记录。", en="Merge not found.")
MERGE_ALREADY_UNDONE = _codes.add(
    "merge_already_undone", 409, "这次合并已经撤销过了。", en="This merge was already undone."
)
MERGE_UNDO_CONFLICT = _codes.add(
    "merge_undo_conflict",
    409,
    "无法撤销：之后又有涉及这两位会员的合并或身份变动，请先撤销较晚的那次。",
    en="Cannot undo: a later merge or identity change involves these members; undo that first.",
)
CONFLICT_NOT_FOUND = _codes.add(
    "conflict_not_found", 404, "找不到这条待审记录。", en="Review item not found."
)
CONFLICT_CLOSED = _codes.add(
    "conflict_closed",
    409,
    "这条待审记录已经处理过了（可能同事刚刚处理），未做任何更改。",
    en="This review item was already resolved (perhaps by a colleague); nothing was changed.",
)
CONFLICT_MISMATCH = _codes.add(
    "conflict_mismatch",
    422,
    "所选会员与待审记录不一致。",
    en="The chosen members do not match this review item.",
)
INVALID_PHONE = _codes.add(
    "invalid_phone", 422, "手机号格式不正确。", en="The phone number is not valid."
)
INVALID_CURSOR = _codes.add(
    "invalid_cursor",
    422,
    "分页参数无效，请刷新页面。",
    en="The page cursor is not valid; reload the page.",
)
INVALID_TAG = _codes.add(
    "invalid_tag",
    422,
    "标签为 1–{max_length} 个字符，不能换行，也不能含控制字符。",
    en="A tag is 1–{max_length} characters on one line, without control characters.",
)
UNIONID_MISMATCH = _codes.add(
    "unionid_mismatch", 409, "这个 openid 已经属于另一个 UnionID，未做任何更改。"
)
RESOLVE_CONTENTION = _codes.add("resolve_contention", 409, "这个人的资料正被同时修改，请稍后重试。")
# Resolving people from outside: the API's callers (CRM syncs, Mini Program back ends).
APP_MISMATCH = _codes.add("app_mismatch", 422, "人员的 AppID 与所选应用不一致。", api_only=True)
INVALID_PERSON = _codes.add("invalid_person", 422, "人员标识不正确：{reason}", api_only=True)
INVALID_BATCH = _codes.add(
    "invalid_batch", 422, "有 {invalid} 个人员无法解析，未写入任何数据。", api_only=True
)

_events = ErrorCatalog("events")
# The code of a rejected line of an import (listed on the imports page), never raised.
EVENT_INVALID = _events.add("invalid", 422, "这一行不是有效的事件：{reason}")
EVENTS_BATCH_TOO_LARGE = _events.add(
    "batch_too_large", 413, "一批最多 {limit} 个事件，这批有 {count} 个。", api_only=True
)
EVENTS_INVALID_BATCH = _events.add(
    "invalid_batch", 422, "有 {invalid} 个事件无效或无法解析，未写入任何数据。", api_only=True
)

_imports = ErrorCatalog("imports")
IMPORT_NOT_FOUND = _imports.add("not_found", 404, "找不到这次导入。", en="Import not found.")
