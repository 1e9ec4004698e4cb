"""The console's own refusals on the pages of members, imports and the audit log (a
confirmation typed wrong, an upload, a filter): each code, its HTTP status and what an operator
reads. (The community pages list theirs in `console.community`.)"""

from __future__ import annotations

from siyu.core.errors import ErrorCatalog

_codes = ErrorCatalog("console")
INVALID_DATE = _codes.add("invalid_date", 422, "日期格式应为 2026-11-20。")
ERASE_UNCONFIRMED = _codes.add("erase_unconfirmed", 422, "请输入正确的学号以确认删除。")
UPLOAD_TYPE = _codes.add("upload_type", 422, "只接受 .jsonl 文件（每行一个 JSON 事件）。")
UPLOAD_EMPTY = _codes.add("upload_empty", 422, "文件是空的。")
