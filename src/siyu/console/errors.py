"""The console's own refusals (confirmations typed wrong, uploads, filters): each code, its
HTTP status and what an operator reads."""

from __future__ import annotations

from siyu.core.errors import ErrorCatalog

_codes = ErrorCatalog("console")
INVALID_DATE = _codes.add("invalid_date", 422, "日期格式应为 2026-11-20。")
ERASE_UNCONFIRMED = _codes.add("erase_unconfirmed", 422, "请输入正确的学号以确认删除。")
SETTLEMENT_UNCONFIRMED = _codes.add(
    "settlement_unconfirmed", 422, "请输入正确的活动编号以确认结算。"
)
MEMBER_NUMBER = _codes.add("member_number", 422, "请输入学号。")
UPLOAD_MISSING = _codes.add("upload_missing", 422, "请选择要上传的文件。")
UPLOAD_TYPE = _codes.add("upload_type", 422, "只接受 .jsonl 文件（每行一个 JSON 事件）。")
UPLOAD_EMPTY = _codes.add("upload_empty", 422, "文件是空的。")
UPLOAD_TOO_LARGE = _codes.add("upload_too_large", 413, "文件超过 {limit} 字节的上限。")
UPLOAD_INVALID = _codes.add("upload_invalid", 422, "上传内容不完整或格式有误，请重新上传。")
