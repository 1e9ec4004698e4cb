"""The WeChat border's refusals: each code, its HTTP status and what an operator reads.

Most are answered to WeChat's servers (pushes) or to a Mini Program, never shown in the
console (`api_only`); the gateway's are met by console pages that call WeChat (menus, codes).
"""

from __future__ import annotations

from siyu.core.errors import ErrorCatalog

_codes = ErrorCatalog("wechat")

# Pushes (WeChat's servers are the caller).
MALFORMED_PUSH = _codes.add(
    "malformed_push", 400, "微信推送的内容不是微信会发送的格式。", api_only=True
)
BAD_SIGNATURE = _codes.add("bad_signature", 401, "推送的签名与应用的 Token 不符。", api_only=True)
APPID_MISMATCH = _codes.add("appid_mismatch", 400, "这条推送是发给另一个 AppID 的。", api_only=True)
UNDECRYPTABLE = _codes.add(
    "undecryptable",
    400,
    "当前和上一个 EncodingAESKey 都无法解密这条推送。",
    api_only=True,
)
PLAINTEXT_REFUSED = _codes.add(
    "plaintext_refused",
    403,
    "应用 {appid} 使用安全模式，拒收明文推送。",
    api_only=True,
)
STALE_PUSH = _codes.add(
    "stale_push",
    403,
    "推送的时间戳与当前时间相差超过 {window} 秒，可能是重放的旧推送或服务器时钟有误。",
    api_only=True,
)
REPLAYED_PUSH = _codes.add(
    "replayed_push",
    403,
    "这条推送的时间戳和随机数（nonce）已被另一条推送用过，按重放拒收。",
    api_only=True,
)
PUSH_STORE_UNAVAILABLE = _codes.add(
    "push_store_unavailable",
    503,
    "推送暂时无法保存（数据库不可用），微信会重试。",
    api_only=True,
)
PUSH_NOT_CONFIGURED = _codes.add(
    "push_not_configured",
    404,
    "应用 {appid} 不接收推送：请先为它填写 Token。",
    api_only=True,
)

# Calls to WeChat (the console publishes menus and issues codes through them).
APP_WITHOUT_SECRET = _codes.add(
    "app_without_secret", 409, "应用 {appid} 还没有配置 AppSecret，无法调用微信接口。"
)
TOKEN_BUSY = _codes.add(
    "token_busy", 503, "另一个进程正在刷新应用 {appid} 的 access_token，请稍后重试。"
)
UNAVAILABLE = _codes.add("unavailable", 503, "暂时无法连接微信，请稍后重试。")
REFUSED = _codes.add("refused", 502, "微信拒绝了这次操作（错误码 {errcode}）。")

# The Mini Program's calls (login, phone, sealed data).
NOT_MINI_PROGRAM = _codes.add("not_mini_program", 400, "应用 {appid} 不是小程序。", api_only=True)
INVALID_CODE = _codes.add(
    "invalid_code", 400, "登录凭证无效或已过期（有效期 5 分钟），请重新获取。", api_only=True
)
CODE_USED = _codes.add("code_used", 400, "这个凭证已经用过了，请重新获取。", api_only=True)
RATE_LIMITED = _codes.add(
    "rate_limited", 429, "微信限制了这位用户的登录次数，请一分钟后再试。", api_only=True
)
USER_BLOCKED = _codes.add("user_blocked", 403, "微信禁止了这位用户登录。", api_only=True)
UPSTREAM_ERROR = _codes.add(
    "upstream_error", 502, "微信拒绝了这次请求（错误码 {errcode}）。", api_only=True
)
MP_SESSION_REQUIRED = _codes.add("mp_session_required", 401, "请先登录小程序。", api_only=True)
MP_SESSION_EXPIRED = _codes.add(
    "mp_session_expired", 401, "小程序登录已过期，请重新进入小程序。", api_only=True
)
BAD_ENCRYPTED_DATA = _codes.add(
    "bad_encrypted_data", 422, "这段加密数据无法用当前的小程序会话解开。", api_only=True
)
