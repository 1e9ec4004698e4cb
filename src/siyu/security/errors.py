"""Security's refusals (operators, sign-in, roles, key rotation, erasure's safety check) and
the `auth.*` codes of the request's credentials: each code, its HTTP status and its words."""

from __future__ import annotations

from siyu.core.errors import ErrorCatalog

_codes = ErrorCatalog("security")
FORBIDDEN = _codes.add(
    "forbidden", 403, "你的角色没有权限执行这个操作。", en="Your role does not allow this."
)
BAD_CREDENTIALS = _codes.add(
    "bad_credentials", 401, "邮箱或密码不正确。", en="Wrong email or password."
)
LOGIN_LOCKED = _codes.add(
    "login_locked",
    429,
    "登录失败次数过多，请稍后再试。",
    en="Too many failed sign-ins; try again later.",
)
INVALID_EMAIL = _codes.add(
    "invalid_email", 422, "邮箱格式不正确，操作员用邮箱登录。", en="The email address is not valid."
)
WEAK_PASSWORD = _codes.add(
    "weak_password",
    422,
    "密码至少需要 {min_length} 个字符。",
    en="A password has at least {min_length} characters.",
)
PASSWORD_TOO_LONG = _codes.add(
    "password_too_long",
    422,
    "密码最多 {max_length} 个字符。",
    en="A password has at most {max_length} characters.",
)
PASSWORD_IS_EMAIL = _codes.add(
    "password_is_email",
    422,
    "密码不能包含登录邮箱或邮箱 @ 前面的部分。",
    en="A password must not contain the sign-in email or its name before the @.",
)
PASSWORD_UNCHANGED = _codes.add(
    "password_unchanged",
    422,
    "新密码不能与当前密码相同。",
    en="The new password must differ from the current one.",
)
PASSWORD_MISMATCH = _codes.add(
    "password_mismatch",
    422,
    "两次输入的新密码不一致。",
    en="The two new passwords differ.",
)
WRONG_PASSWORD = _codes.add(
    "wrong_password",
    422,
    "当前密码不正确，密码没有修改。",
    en="The current password is wrong; nothing was changed.",
)
PASSWORD_CHANGE_REQUIRED = _codes.add(
    "password_change_required",
    403,
    "你正在使用一次性密码：请先在“我的账号”设置自己的密码。",
    en="You signed in with a one-time password: set your own on My account first.",
)
RESET_SELF = _codes.add(
    "reset_self",
    409,
    "不能重置自己的密码，请在“我的账号”修改。",
    en="You cannot reset your own password; change it on My account.",
)
OPERATOR_EXISTS = _codes.add(
    "operator_exists", 409, "这个邮箱已经是操作员了。", en="This email is an operator already."
)
OPERATOR_NOT_FOUND = _codes.add(
    "operator_not_found", 404, "找不到这位操作员。", en="Operator not found."
)
UNKNOWN_OPERATOR = _codes.add("unknown_operator", 422, "没有编号为 {operator_id} 的操作员。")
OPERATOR_DISABLED = _codes.add(
    "operator_disabled", 422, "这位操作员已停用。", en="This operator is disabled."
)
INVALID_ROLE = _codes.add("invalid_role", 422, "请选择有效的角色。", en="Choose a valid role.")
LAST_OWNER = _codes.add(
    "last_owner", 409, "工作区至少要保留一位所有者。", en="A workspace keeps at least one owner."
)
DISABLE_SELF = _codes.add("disable_self", 409, "不能停用自己。", en="You cannot disable yourself.")
INVALID_TOKEN_NAME = _codes.add("invalid_token_name", 422, "API 令牌的名称需为 1–100 个字符。")
TOKEN_NOT_FOUND = _codes.add(
    "token_not_found", 404, "找不到这个 API 令牌。", en="No such API token."
)
# The eraser's own safety check (the eraser lives in identity; the code is security's).
ERASURE_INCOMPLETE = _codes.add(
    "erasure_incomplete",
    500,
    "有数据表未声明删除策略，未做任何删除。",
    en="Some tables declare no erasure policy; nothing was erased.",
)
# Key rotation runs from the command line only.
ROTATION_OVER = _codes.add("rotation_over", 409, "这次密钥轮换已经结束。", api_only=True)
ROTATION_KEY_CHANGED = _codes.add(
    "rotation_key_changed",
    409,
    "当前数据密钥是 {current}，这次轮换针对的是 {target}：请重新开始轮换。",
    api_only=True,
)

_auth = ErrorCatalog("auth")
AUTH_REQUIRED = _auth.add("required", 401, "请先登录。", en="Please sign in.")
CSRF_FAILED = _auth.add(
    "csrf_failed",
    403,
    "页面已过期或请求来源不可信，请刷新页面后重试。",
    en="The page is stale or the request was forged; reload and try again.",
)
INVALID_TOKEN = _auth.add(
    "invalid_token", 401, "API 令牌无效或已吊销。", en="The API token is unknown or revoked."
)
