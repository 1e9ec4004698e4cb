"""Entries' refusals: each code, its HTTP status and what an operator reads in Chinese."""

from __future__ import annotations

from siyu.core.errors import ErrorCatalog, ErrorCode

_codes = ErrorCatalog("entries")

# --- apps and associations (fact sheet §4) -------------------------------------------------
NOT_OFFICIAL_ACCOUNT = _codes.add("not_official_account", 422, "应用 {appid} 不是公众号。")
NOT_MINI_PROGRAM = _codes.add("not_mini_program", 422, "应用 {appid} 不是小程序。")
ASSOCIATION_NOT_FOUND = _codes.add("association_not_found", 404, "找不到这条关联记录。")
# One code per platform limit (`entries.limit.<name>`): scripts and the CLI read the name.
LIMIT_OA_SAME_ENTITY_MPS = _codes.add(
    "limit.oa_same_entity_mps",
    409,
    "一个公众号最多关联 {most} 个同主体小程序（{setting}），已关联 {count} 个。",
)
LIMIT_OA_OTHER_ENTITY_MPS = _codes.add(
    "limit.oa_other_entity_mps",
    409,
    "一个公众号最多关联 {most} 个其他主体的小程序（{setting}），已关联 {count} 个。",
)
LIMIT_OA_LINKS_PER_MONTH = _codes.add(
    "limit.oa_links_per_month",
    409,
    "一个公众号每月最多新关联 {most} 次（{setting}），本月已关联 {count} 次。",
)
LIMIT_MP_OAS = _codes.add(
    "limit.mp_oas",
    409,
    "一个小程序最多被 {most} 个公众号关联（{setting}），已被 {count} 个关联。",
)
LIMIT_ENTITY_MPS = _codes.add(
    "limit.entity_mps",
    409,
    "一个主体最多注册 {most} 个小程序（{setting}），已有 {count} 个。",
)
LIMIT_INDIVIDUAL_BUSINESS_MPS = _codes.add(
    "limit.individual_business_mps",
    409,
    "个体工商户最多注册 {most} 个小程序（{setting}），已有 {count} 个。",
)
ASSOCIATION_LIMITS: dict[str, ErrorCode] = {
    "oa_same_entity_mps": LIMIT_OA_SAME_ENTITY_MPS,
    "oa_other_entity_mps": LIMIT_OA_OTHER_ENTITY_MPS,
    "oa_links_per_month": LIMIT_OA_LINKS_PER_MONTH,
    "mp_oas": LIMIT_MP_OAS,
    "entity_mps": LIMIT_ENTITY_MPS,
    "individual_business_mps": LIMIT_INDIVIDUAL_BUSINESS_MPS,
}

# --- channels and codes --------------------------------------------------------------------
CHANNEL_EXISTS = _codes.add("channel_exists", 409, "场景值 {slug} 已被另一个渠道使用，请换一个。")
CHANNEL_NOT_FOUND = _codes.add("channel_not_found", 404, "找不到这个渠道。")
CHANNEL_ARCHIVED = _codes.add(
    "channel_archived", 409, "渠道“{name}”已归档，不能再生成新码或转到公众号。"
)
CODE_NEEDS_OFFICIAL_ACCOUNT = _codes.add(
    "code_needs_official_account", 422, "公众号二维码只能由公众号生成，{appid} 不是公众号。"
)
CODE_NEEDS_MINI_PROGRAM = _codes.add(
    "code_needs_mini_program", 422, "小程序码和 URL Link 只能由小程序生成，{appid} 不是小程序。"
)
LIMIT_PERMANENT_QR = _codes.add(
    "limit.permanent_qr",
    409,
    "{app} 的 {most} 个永久二维码已经用完（SIYU_ENTRIES_PERMANENT_QR_CAP），请改用临时二维码。",
)
CODE_NOT_FOUND = _codes.add("code_not_found", 404, "找不到这个码。")
IMAGE_FORMAT = _codes.add("image_format", 422, "码的图片格式只能是 png 或 svg。")
IMAGE_SIZE = _codes.add("image_size", 422, "码的图片尺寸只能是 {sizes} 像素。")
IMAGE_UNAVAILABLE = _codes.add(
    "image_unavailable", 404, "这个码没有这种格式的图片（小程序码只有微信生成的 PNG）。"
)

# --- the MP → OA hand-off ------------------------------------------------------------------
HANDOFF_WITHOUT_OA_CODE = _codes.add(
    "handoff_without_oa_code",
    409,
    "这个渠道没有有效的公众号二维码，无法转到公众号。",
    en="This channel has no current OA QR code to hand off to.",
)
PUBLIC_URL_MISSING = _codes.add(
    "public_url_missing",
    409,
    "请先设置 SIYU_PUBLIC_URL：用户在那里打开转公众号页面。",
    en="Set SIYU_PUBLIC_URL first: users open the hand-off page there.",
)
# What a WeChat user meets on the public hand-off page, never an operator.
HANDOFF_NOT_FOUND = _codes.add("handoff_not_found", 404, "这个二维码已经失效。", api_only=True)

# --- menus ---------------------------------------------------------------------------------
# `place` reads "第 2 个按钮" (or "第 2 个按钮的第 3 个子按钮", or nothing: the whole menu),
# `button` is the API's path ("button[2].sub_button[3]"), `problem` the broken rule in
# Chinese (see menu_rules).
MENU_INVALID = _codes.add(
    "menu_invalid", 422, "菜单{place}（{button}）不符合微信的规则：{problem}。"
)
MENU_NOT_JSON = _codes.add(
    "menu_not_json", 422, "菜单不是有效的 JSON（第 {line} 行第 {column} 列附近）。"
)
MENU_NOT_FOUND = _codes.add("menu_not_found", 404, "{appid} 没有第 {version} 版菜单。")

# --- articles ------------------------------------------------------------------------------
ARTICLE_EXISTS = _codes.add(
    "article_exists", 409, "这篇文章已经登记过了。", en="This article is registered already."
)
# Both met only by the Mini Program opening an article (/api/mp/...).
ARTICLE_NOT_FOUND = _codes.add("article_not_found", 404, "找不到这篇文章。", api_only=True)
ARTICLE_OA_NOT_LINKED = _codes.add(
    "article_oa_not_linked",
    409,
    "小程序只能打开已关联公众号的文章。",
    api_only=True,
    en="The Mini Program opens only articles of OAs linked to it.",
)

# --- reports -------------------------------------------------------------------------------
UNKNOWN_EVENT = _codes.add(
    "unknown_event", 422, "{event} 不是标准事件名，转化事件请用例如 pay.paid。"
)
CONDITIONAL_MENU_NOT_FOUND = _codes.add("conditional_menu_not_found", 404, "找不到这个个性化菜单。")
MEMBER_NOT_FOLLOWER = _codes.add(
    "member_not_follower", 409, "会员 {number} 没有关注公众号 {appid}，看不到它的菜单。"
)
