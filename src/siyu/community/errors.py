"""Community's refusals: each code, its HTTP status and what an operator reads.

The message a raise site passes stays the API's English; the Chinese below is what the console
shows (`Translator.refusal`). Codes only the Mini Program, the staff API or the CLI can meet are
`api_only`: no console page offers the operation that is refused.
"""

from __future__ import annotations

from siyu.core.errors import ErrorCatalog, NotFound

_codes = ErrorCatalog("community")

# --- the matrix: themes, series, activities ------------------------------------------------
THEME_EXISTS = _codes.add("theme_exists", 409, "已有同名主题。", en="A theme of this name exists.")
THEME_NOT_FOUND = _codes.add("theme_not_found", 404, "找不到这个主题。", en="No such theme.")
SERIES_EXISTS = _codes.add(
    "series_exists", 409, "这个主题下已有同名系列。", en="This theme has a series of this name."
)
SERIES_NOT_FOUND = _codes.add("series_not_found", 404, "找不到这个系列。", en="No such series.")
ACTIVITY_EXISTS = _codes.add(
    "activity_exists", 409, "这个活动编号已经用过了。", en="This code is taken."
)
ACTIVITY_NOT_FOUND = _codes.add(
    "activity_not_found", 404, "找不到这个活动。", en="No such activity."
)
# A deposit nobody can get back is a fee under another name: members read "押金" as money
# that returns, so the editor asks for it as a fee (or a refund rule) instead.
DEPOSIT_NOT_REFUNDABLE = _codes.add(
    "deposit_not_refundable",
    422,
    "退款规则为“不退”时，押金其实就是报名费：请把 ¥{deposit} 填到“报名费”，"
    "或为押金选择一种退款规则。",
    en="A deposit under the “no refund” rule is a fee: enter ¥{deposit} as the fee, or choose "
    "a refund rule for the deposit.",
)
ALREADY_SETTLED = _codes.add(
    "already_settled",
    409,
    "这个活动已经结算，不会重复退款。",
    en="This activity is settled already; nothing is refunded twice.",
)
SETTLE_BY_SETTLEMENT = _codes.add(
    "settle_by_settlement",
    422,
    "活动通过结算变为已结算。",
    en="An activity is settled by its settlement.",
)
INVALID_WINDOW = _codes.add(
    "invalid_window",
    422,
    "每日打卡结束时间要晚于开始时间。",
    en="The window must close after it opens.",
)
CAPACITY_BELOW_ENROLLED = _codes.add(
    "capacity_below_enrolled",
    409,
    "名额不能少于已报名人数。",
    en="Capacity below the places taken.",
)
ACTIVITY_ALREADY_ENDED = _codes.add(
    "activity_already_ended", 409, "活动已经结束了。", en="The activity has ended already."
)
ACTIVITY_NOT_STARTED = _codes.add(
    "activity_not_started",
    409,
    "活动还没进行满一天，不能提前结束；可以改回草稿。",
    en="The activity has not run a whole day: set it back to draft instead.",
)

# --- enrollment (the Mini Program) ---------------------------------------------------------
ENROLLMENT_CLOSED = _codes.add(
    "enrollment_closed", 409, "活动 {activity} 的报名已经截止。", api_only=True
)
MEMBER_BLACKLISTED = _codes.add(
    "member_blacklisted", 403, "你在黑名单中，不能报名；请联系活动团队。", api_only=True
)
ALREADY_ENROLLED = _codes.add(
    "already_enrolled", 409, "你已经报名了活动 {activity}。", api_only=True
)
ENROLLMENT_IN_PROGRESS = _codes.add(
    "enrollment_in_progress", 409, "报名正在处理，请稍后重试。", api_only=True
)

# --- check-ins -----------------------------------------------------------------------------
NOT_ENROLLED = _codes.add(
    "not_enrolled", 403, "只有已报名的成员才能在活动 {activity} 打卡。", api_only=True
)
CHECKIN_TOO_EARLY = _codes.add("checkin_too_early", 409, "还不能打卡：{when}。", api_only=True)
CHECKIN_TOO_LATE = _codes.add("checkin_too_late", 409, "已经不能打卡了：{when}。", api_only=True)
EVIDENCE_REQUIRED = _codes.add(
    "evidence_required", 422, "这次打卡需要提交{evidence}。", api_only=True
)
ALREADY_CHECKED_IN = _codes.add("already_checked_in", 409, "{day} 已经打过卡了。", api_only=True)
IMAGE_TYPE = _codes.add("image_type", 422, "打卡图片只能是 JPEG、PNG、GIF 或 WebP。", api_only=True)
IMAGE_TOO_LARGE = _codes.add(
    "image_too_large", 413, "打卡图片不能超过 {limit} 字节。", api_only=True
)
CHECKIN_NOT_FOUND = _codes.add("checkin_not_found", 404, "找不到这次打卡。", en="No such check-in.")
CHECKIN_ALREADY_REJECTED = _codes.add(
    "checkin_already_rejected",
    409,
    "这次打卡已经驳回过了。",
    en="This check-in is rejected already.",
)
REJECT_REASON_REQUIRED = _codes.add(
    "reject_reason_required", 422, "请填写驳回原因。", en="Give the reason for the rejection."
)

# --- settlement ----------------------------------------------------------------------------
SETTLED_ELSEWHERE = _codes.add(
    "settled_elsewhere",
    409,
    "{activity} 是导入的历史活动，已在 siyu 之外结算；它的报名、收款与退款见复盘。",
    en="An imported activity was settled outside siyu; its review shows its figures.",
)
ACTIVITY_NOT_ENDED = _codes.add(
    "activity_not_ended", 409, "活动还没结束，不能结算。", en="The activity has not ended yet."
)
# Confirming before computing is a conflict (409); reading a settlement not yet computed is
# the same code as a 404 (`settlement_not_found` below): one code, two statuses, as ever.
NO_SETTLEMENT = _codes.add(
    "no_settlement", 409, "请先计算结算。", en="Compute the settlement first."
)

# --- groups --------------------------------------------------------------------------------
GROUP_NOT_FOUND = _codes.add("group_not_found", 404, "找不到这个群。")
GROUP_EXISTS = _codes.add("group_exists", 409, "这个群已经登记过了：{reason}。")
GROUP_STATE = _codes.add("group_state", 409, "{current}的群不能改为{wanted}。")
GROUP_DISSOLVED = _codes.add("group_dissolved", 409, "这个群已解散。")
GROUP_CLOSED = _codes.add(
    "group_closed",
    409,
    "这个群已归档或解散，不能再记录发布。",
    en="This group is archived or dissolved.",
)
NOT_IN_GROUP = _codes.add("not_in_group", 404, "这位会员不在群里。", api_only=True)
NO_OPEN_GID = _codes.add("no_open_gid", 422, "分享信息里没有群。", api_only=True)

# --- service records -----------------------------------------------------------------------
INVALID_SERVICE_RECORD = _codes.add(
    "invalid_service_record", 422, "服务记录为 1–2000 字。", en="A record is 1–2000 characters."
)

# --- the history import (`siyu import activities`) -----------------------------------------
IMPORT_NOT_A_LIST = _codes.add(
    "import_not_a_list", 422, "文件应为活动的 JSON 列表。", api_only=True
)
IMPORT_TOO_LARGE = _codes.add(
    "import_too_large", 422, "一次最多导入 {limit} 个活动。", api_only=True
)
INVALID_IMPORT = _codes.add(
    "invalid_import", 422, "{total} 个活动中有 {invalid} 个有误，什么都没有写入。", api_only=True
)

# The group states as the console names them (`community.group_state.*`), for GROUP_STATE.
GROUP_STATE_NAMES = {
    "active": "活跃",
    "continuing": "延续",
    "archived": "已归档",
    "dissolved": "已解散",
}


def settlement_not_found(message: str) -> NotFound:
    """NO_SETTLEMENT as a read answers it: 404, nothing computed yet."""
    return NotFound(NO_SETTLEMENT.code, message)
