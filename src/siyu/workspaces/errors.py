"""Workspaces' refusals: each code, its HTTP status and what an operator reads."""

from __future__ import annotations

from siyu.core.errors import ErrorCatalog

_codes = ErrorCatalog("workspaces")
NOT_FOUND = _codes.add("not_found", 404, "工作区不存在。", en="The workspace does not exist.")
APP_EXISTS = _codes.add(
    "app_exists", 409, "AppID {appid} 已经登记过了。", en="AppID {appid} is registered already."
)
UNKNOWN_APP = _codes.add("unknown_app", 404, "找不到 AppID 为 {appid} 的应用。")
INVALID_AES_KEY = _codes.add("invalid_aes_key", 422, "EncodingAESKey 须为 43 个字母或数字。")
MODE_NEEDS_AES_KEY = _codes.add(
    "mode_needs_aes_key",
    409,
    "应用 {appid} 还没有 EncodingAESKey，不能使用兼容模式或安全模式接收推送。",
)
