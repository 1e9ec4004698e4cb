"""The WeChat border's refusals: each code, its HTTP status and what an operator reads.

Most are answered to WeChat's servers (pushes) or to a Mini Program, never shown in the
console (`api_only`); the gateway's are met by console pages that call WeChat (menus, codes).
"""

from __future__ import annotations

from siyu.core.errors import ErrorCatalog, SiyuError

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

# WeChat's own refusals of tag and conditional-menu calls, in words an operator can act on
# (fact sheet §2.2, §2.7; `explain` below picks them by errcode).
OA_TAG_LIMIT = _codes.add(
    "oa_tag_limit", 409, "公众号的标签已达上限（100 个），请先在公众平台删除不用的标签。"
)
OA_TAG_TOO_MANY_FANS = _codes.add(
    "oa_tag_too_many_fans", 409, "这个标签的粉丝超过 10 万，微信不允许直接删除：请先移除部分粉丝。"
)
OA_SYSTEM_TAG = _codes.add(
    "oa_system_tag", 400, "微信保留的标签（0、1、2 号，如“星标组”）不能修改、删除或用于此操作。"
)
OA_USER_TAG_LIMIT = _codes.add(
    "oa_user_tag_limit", 409, "有粉丝已带满 20 个公众号标签，微信不允许再为他打新标签。"
)
OA_TAG_NAME_INVALID = _codes.add(
    "oa_tag_name_invalid", 400, "公众号标签名无效或与已有标签重名，请换一个名字。"
)
OA_TAG_NAME_TOO_LONG = _codes.add(
    "oa_tag_name_too_long", 400, "公众号标签名不能超过 30 个字节（约 10 个汉字）。"
)
OA_TAG_UNKNOWN = _codes.add(
    "oa_tag_unknown", 404, "公众号上没有这个标签（可能已在公众平台被删除），请重新同步。"
)
OA_TAG_BATCH_SIZE = _codes.add(
    "oa_tag_batch_size", 400, "微信每次最多为 50 位粉丝打标签或取消标签。"
)
OA_NOT_FOLLOWER = _codes.add(
    "oa_not_follower", 409, "这位用户不是该公众号的粉丝（或 openid 属于另一个公众号）。"
)
NO_DEFAULT_MENU = _codes.add(
    "no_default_menu", 409, "请先发布公众号的默认菜单，才能发布个性化菜单。"
)
CONDITIONAL_MENU_UNKNOWN = _codes.add(
    "conditional_menu_unknown", 404, "微信上没有这个个性化菜单（可能已被删除）。"
)
MATCHRULE_EMPTY = _codes.add("matchrule_empty", 400, "个性化菜单要指定匹配的公众号标签。")
MATCHRULE_PRIVACY = _codes.add(
    "matchrule_privacy",
    400,
    "个性化菜单不能再按性别、地区或语言匹配，只能按公众号标签和手机系统。",
)
QUOTA_EXCEEDED = _codes.add("quota_exceeded", 429, "今天调用这个微信接口的次数已用完，请明天再试。")
MASS_QUOTA_USED = _codes.add(
    "mass_quota_used", 409, "公众号今天的群发次数已用完（订阅号每天 1 次）。"
)

_EXPLAINED = {
    40003: OA_NOT_FOLLOWER,
    49003: OA_NOT_FOLLOWER,
    40032: OA_TAG_BATCH_SIZE,
    45009: QUOTA_EXCEEDED,
    45028: MASS_QUOTA_USED,
    45056: OA_TAG_LIMIT,
    45057: OA_TAG_TOO_MANY_FANS,
    45058: OA_SYSTEM_TAG,
    45059: OA_USER_TAG_LIMIT,
    45157: OA_TAG_NAME_INVALID,
    45158: OA_TAG_NAME_TOO_LONG,
    45159: OA_TAG_UNKNOWN,
    65301: CONDITIONAL_MENU_UNKNOWN,
    65303: NO_DEFAULT_MENU,
    65304: MATCHRULE_EMPTY,
    65320: MATCHRULE_PRIVACY,
}


def explain(errcode: int, errmsg: str, what: str, *, reachable: bool = True) -> SiyuError:
    """WeChat's answer as the caller's refusal: a listed code where WeChat's errcode has one
    (tags, conditional menus, quotas), else unreachable (503) or refused (502)."""
    data = {"errcode": errcode, "errmsg": errmsg}
    if not reachable:
        return UNAVAILABLE(f"WeChat cannot be reached to {what}", data={"errcode": errcode})
    code = _EXPLAINED.get(errcode)
    if code is not None:
        return code(f"WeChat refused to {what}: {errcode} {errmsg}", data=data)
    return REFUSED(f"WeChat refused to {what}: {errcode} {errmsg}", data=data, errcode=errcode)
