"""The console's own refusals (no service raises them): a confirmation typed wrong, a form that
cannot be read, an upload, a filter, the sandbox's users. Each code, its HTTP status, what an
operator reads in Chinese and, where the console says it otherwise, in English."""

from __future__ import annotations

from siyu.core.errors import ErrorCatalog

_codes = ErrorCatalog("console")
FORM_INVALID = _codes.add(
    "form_invalid", 422, "表单有误，没有保存：{reason}", en="Nothing was saved: {reason}"
)
INVALID_DATE = _codes.add(
    "invalid_date", 422, "日期格式应为 2026-11-20。", en="Dates look like 2026-11-20."
)
ERASE_UNCONFIRMED = _codes.add(
    "erase_unconfirmed",
    422,
    "请输入正确的学号以确认删除。",
    en="Type the right member number to confirm the erasure.",
)
SETTLEMENT_UNCONFIRMED = _codes.add(
    "settlement_unconfirmed",
    422,
    "请输入正确的活动编号以确认结算。",
    en="Type the activity's code to confirm the settlement.",
)
REFUND_STALE = _codes.add(
    "refund_stale",
    409,
    "这笔订单的退款在你确认期间有了变化（可能是重复点击），没有再次退款；请核对后重新操作。",
    en="The order's refunds changed while you confirmed (a second click?); nothing more was "
    "refunded. Check and try again.",
)
PROFILE_INVALID = _codes.add(
    "profile_invalid",
    422,
    "名字最多 32 个字且只占一行，备注最多 200 个字，都不能含控制字符；没有保存。",
    en="A name is one line of at most 32 characters, a remark at most 200, neither with "
    "control characters; nothing was saved.",
)
MEMBER_NUMBER = _codes.add("member_number", 422, "请输入学号。", en="Type the member's number.")
UPLOAD_TYPE = _codes.add(
    "upload_type",
    422,
    "只接受 .jsonl 文件（每行一个 JSON 事件）。",
    en="Only .jsonl files (one JSON event per line) are accepted.",
)
UPLOAD_EMPTY = _codes.add("upload_empty", 422, "文件是空的。", en="The file is empty.")
UPLOAD_MISSING = _codes.add(
    "upload_missing", 422, "请选择要上传的文件。", en="Choose a file to upload."
)
UPLOAD_TOO_LARGE = _codes.add(
    "upload_too_large", 413, "文件超过 {limit} 上限。", en="The file exceeds the {limit} limit."
)
UPLOAD_INVALID = _codes.add(
    "upload_invalid",
    422,
    "上传内容不完整或格式有误，请重新上传。",
    en="The upload was incomplete or malformed; upload it again.",
)

# The simulator page asks the sandbox's admin API, which names no siyu code: the console
# keeps the code it always showed for a simulated user the sandbox does not know.
_sandbox = ErrorCatalog("sandbox")
SIMULATED_USER_NOT_FOUND = _sandbox.add(
    "user_not_found", 404, "沙箱里没有这位模拟用户。", en="No such simulated user."
)
