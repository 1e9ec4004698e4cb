"""WeChat's request validation rules, as pure functions that raise `WeChatError`."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from siyu.sandbox.errors import WeChatError

# -- custom menu (fact sheet §2.2; codes: global return-code page, top 4001x / sub 4002x) -------

BUTTON_TYPES = frozenset(
    {
        "click",
        "view",
        "scancode_push",
        "scancode_waitmsg",
        "pic_sysphoto",
        "pic_photo_or_album",
        "pic_weixin",
        "location_select",
        "media_id",
        "view_limited",
        "article_id",
        "article_view_limited",
        "miniprogram",
    }
)
KEY_TYPES = frozenset(
    {
        "click",
        "scancode_push",
        "scancode_waitmsg",
        "pic_sysphoto",
        "pic_photo_or_album",
        "pic_weixin",
        "location_select",
    }
)
MAX_TOP_BUTTONS = 3
MAX_SUB_BUTTONS = 5
MAX_KEY_BYTES = 128
MAX_URL_BYTES = 1024


@dataclass(frozen=True)
class Level:
    """The limits and error codes of one menu level.

    Codes from https://developers.weixin.qq.com/doc/oplatform/en/Return_codes/Return_code_descriptions_new
    (40016 invalid button size, 40017 invalid button type, 40018 name size, 40019 key size,
    40020 url size; 40023-40027 the same for sub buttons). Community threads show them in use:
    40016 for a 4th top button (cnblogs.com/grandyang/p/10010885.html), 40027 for a sub `view`
    without url (developers.weixin.qq.com community, "invalid sub button url size").
    """

    name_bytes: int
    type_code: int
    name_code: int
    key_code: int
    url_code: int


TOP = Level(16, 40017, 40018, 40019, 40020)
SUB = Level(60, 40024, 40025, 40026, 40027)


def _bytes_within(value: object, most: int, code: int) -> str:
    if not isinstance(value, str) or not 1 <= len(value.encode("utf-8")) <= most:
        raise WeChatError(code)
    return value


def validate_menu(body: dict[str, Any], linked_mps: set[str]) -> list[dict[str, Any]]:
    """The menu's buttons, or the error WeChat answers for the first rule they break."""
    buttons = body.get("button")
    if not isinstance(buttons, list) or not 1 <= len(buttons) <= MAX_TOP_BUTTONS:
        raise WeChatError(40016)
    for button in buttons:
        if not isinstance(button, dict):
            raise WeChatError(40016)
        _bytes_within(button.get("name"), TOP.name_bytes, TOP.name_code)
        subs = button.get("sub_button")
        if subs:
            _check_subs(subs, linked_mps)
        else:
            _check_action(button, TOP, linked_mps)
    return buttons


def _check_subs(subs: object, linked_mps: set[str]) -> None:
    if not isinstance(subs, list) or len(subs) > MAX_SUB_BUTTONS:
        raise WeChatError(40023)
    for sub in subs:
        if not isinstance(sub, dict):
            raise WeChatError(40023)
        if sub.get("sub_button"):
            raise WeChatError(40022)  # menus have two levels only
        _bytes_within(sub.get("name"), SUB.name_bytes, SUB.name_code)
        _check_action(sub, SUB, linked_mps)


def _check_action(button: dict[str, Any], level: Level, linked_mps: set[str]) -> None:
    kind = button.get("type")
    if kind not in BUTTON_TYPES:
        raise WeChatError(level.type_code)
    if kind in KEY_TYPES:
        _bytes_within(button.get("key"), MAX_KEY_BYTES, level.key_code)
    elif kind == "view":
        _bytes_within(button.get("url"), MAX_URL_BYTES, level.url_code)
    elif kind == "miniprogram":
        # url is the fallback for old clients and is required; the MP must be linked (45064);
        # a bad pagepath is 40165 (blog.csdn.net/VLilyV/article/details/82351076).
        _bytes_within(button.get("url"), MAX_URL_BYTES, level.url_code)
        if button.get("appid") not in linked_mps:
            raise WeChatError(45064)
        pagepath = button.get("pagepath")
        if not isinstance(pagepath, str) or not pagepath:
            raise WeChatError(40165)
    elif kind in ("media_id", "view_limited"):
        if not isinstance(button.get("media_id"), str) or not button["media_id"]:
            raise WeChatError(40007)
    elif not isinstance(button.get("article_id"), str) or not button["article_id"]:
        raise WeChatError(40035)  # no dedicated code found; 40035 is "invalid parameter"


def selfmenu_info(buttons: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The `get_current_selfmenu_info` shape: sub buttons wrapped in `{"list": [...]}`."""
    shown = []
    for button in buttons:
        item = {k: v for k, v in button.items() if k != "sub_button"}
        if button.get("sub_button"):
            item["sub_button"] = {"list": [dict(sub) for sub in button["sub_button"]]}
        shown.append(item)
    return shown


def as_created(buttons: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The `menu/get` shape: every button carries a `sub_button` list."""
    return [
        {
            **button,
            "sub_button": [{**sub, "sub_button": []} for sub in button.get("sub_button") or []],
        }
        for button in buttons
    ]


# -- parametric QR codes (fact sheet §2.3) ------------------------------------------------------

TEMPORARY_QR = frozenset({"QR_SCENE", "QR_STR_SCENE"})
PERMANENT_QR = frozenset({"QR_LIMIT_SCENE", "QR_LIMIT_STR_SCENE"})
MAX_QR_EXPIRE = 2_592_000
DEFAULT_QR_EXPIRE = 60
MAX_PERMANENT_QR = 100_000
MAX_PERMANENT_SCENE_ID = 100_000
MAX_TEMP_SCENE_ID = 2**32 - 1  # "32-bit non-zero integer"
MAX_SCENE_STR = 64


@dataclass(frozen=True)
class QrRequest:
    action_name: str
    scene: str
    expire_seconds: int | None


def parse_qr(body: dict[str, Any]) -> QrRequest:
    """40052 for an unknown action_name; 40053 for a scene out of range (community answers:
    developers.weixin.qq.com/community/develop/doc/000a048ca1002062eefa900ce51800)."""
    action = body.get("action_name")
    if action not in TEMPORARY_QR | PERMANENT_QR:
        raise WeChatError(40052)
    info = body.get("action_info")
    scene = info.get("scene") if isinstance(info, dict) else None
    if not isinstance(scene, dict):
        raise WeChatError(40053)
    if action.endswith("STR_SCENE"):
        value = scene.get("scene_str")
        if not isinstance(value, str) or not 1 <= len(value) <= MAX_SCENE_STR:
            raise WeChatError(40053)
        text = value
    else:
        number = scene.get("scene_id")
        most = MAX_TEMP_SCENE_ID if action in TEMPORARY_QR else MAX_PERMANENT_SCENE_ID
        if isinstance(number, bool) or not isinstance(number, int) or not 1 <= number <= most:
            raise WeChatError(40053)
        text = str(number)
    if action in PERMANENT_QR:
        return QrRequest(action, text, None)
    return QrRequest(action, text, _qr_expiry(body.get("expire_seconds")))


def _qr_expiry(value: object) -> int:
    # Absent means 60 s; the doc caps it at 30 days without naming an error, so we cap too.
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        return DEFAULT_QR_EXPIRE
    return min(value, MAX_QR_EXPIRE)


# -- subscribe message data values (fact sheet §3 "Value rules") ---------------------------------

CJK = r"\u4e00-\u9fff"
DATE = r"\d{4}(年\d{1,2}月\d{1,2}日|-\d{1,2}-\d{1,2}|/\d{1,2}/\d{1,2})"
CLOCK = r"\d{1,2}:\d{2}(:\d{2})?"
TIME_RE = re.compile(rf"^({DATE}( {CLOCK})?|{CLOCK})(\s*~\s*({DATE}( {CLOCK})?|{CLOCK}))?$")
DATE_RE = re.compile(rf"^{DATE}( {CLOCK})?(\s*~\s*{DATE}( {CLOCK})?)?$")


def _matches(pattern: str, most: int) -> Callable[[str], bool]:
    compiled = re.compile(pattern)
    return lambda value: len(value) <= most and compiled.match(value) is not None


def _name(value: str) -> bool:
    return len(value) <= (10 if re.search(f"[{CJK}]", value) else 20)


VALUE_RULES: dict[str, Callable[[str], bool]] = {
    "thing": lambda value: len(value) <= 20,
    "number": _matches(r"^\d+(\.\d+)?$", 32),
    "letter": _matches(r"^[A-Za-z]+$", 32),
    "symbol": _matches(r"^[^\w\s]+$", 5),
    "character_string": _matches(r"^[\x21-\x7e]+$", 32),
    "time": lambda value: TIME_RE.match(value) is not None,
    "date": lambda value: DATE_RE.match(value) is not None,
    "amount": _matches(r"^[¥$€£￥]?\d{1,10}(\.\d{1,2})?元?$", 14),
    "phone_number": _matches(r"^[\d+\-() ]+$", 17),
    "car_number": lambda value: len(value) <= 8,
    "name": _name,
    "phrase": _matches(rf"^[{CJK}]+$", 5),
}


def value_type(key: str) -> str:
    """Subscribe template keys carry their type: `thing1`, `time2`, `character_string3`."""
    return key.rstrip("0123456789")


def check_subscribe_data(data: object, keys: list[str]) -> None:
    """47003 naming the first field that is missing or breaks its type's rule."""
    if not isinstance(data, dict):
        raise WeChatError(47003, "data")
    for key in keys:
        entry = data.get(key)
        value = entry.get("value") if isinstance(entry, dict) else None
        if not isinstance(value, str) or not value:
            raise WeChatError(47003, f"data.{key}.value is empty")
        rule = VALUE_RULES.get(value_type(key), VALUE_RULES["thing"])
        if not rule(value):
            raise WeChatError(47003, f"data.{key}.value invalid")


# -- Mini Program codes, schemes and links (fact sheet §3) ---------------------------------------

SCENE_RE = re.compile(r"^[0-9A-Za-z!#$&'()*+,/:;=?@\-._~]+$")
ENV_VERSIONS = frozenset({"release", "trial", "develop"})
MIN_WXACODE_WIDTH = 280
MAX_WXACODE_WIDTH = 1280
DEFAULT_WXACODE_WIDTH = 430
MAX_LINK_DAYS = 30  # since 2022-04-11: at most 30 days, no permanent schemes or links
QUERY_RE = re.compile(r"^[0-9A-Za-z!#$&'()*+,/:;=?@\-._~%]*$")
MAX_QUERY = 1024


def check_wxacode(body: dict[str, Any], pages: set[str]) -> int:
    """The code's width after checks: 40169 scene length, 40129 scene charset, 41030 page
    (community threads quote these errmsgs for getwxacodeunlimit), 40097 env_version."""
    scene = body.get("scene")
    if not isinstance(scene, str) or not 1 <= len(scene) <= 32:
        raise WeChatError(40169)
    if not SCENE_RE.match(scene):
        raise WeChatError(40129)
    if body.get("env_version", "release") not in ENV_VERSIONS:
        raise WeChatError(40097)
    page = body.get("page") or ""
    if not isinstance(page, str) or page.startswith("/") or "?" in page:
        raise WeChatError(41030)
    if page and body.get("check_path", True) and page not in pages:
        raise WeChatError(41030)  # check_path=true: the page must exist in the published MP
    width = body.get("width", DEFAULT_WXACODE_WIDTH)
    if isinstance(width, bool) or not isinstance(width, int):
        width = DEFAULT_WXACODE_WIDTH
    # The doc states 280..1280 without an error code; WeChat draws within the bounds.
    return max(MIN_WXACODE_WIDTH, min(width, MAX_WXACODE_WIDTH))


def check_jump(path: object, query: object, env_version: object, pages: set[str]) -> None:
    """A scheme/link target: 40165 unknown page, 40212 bad query, 40097 bad env_version."""
    if env_version is not None and env_version not in ENV_VERSIONS:
        raise WeChatError(40097)
    if path not in (None, "") and path not in pages:
        raise WeChatError(40165)
    if query is None:
        return
    if not isinstance(query, str) or len(query) > MAX_QUERY or not QUERY_RE.match(query):
        raise WeChatError(40212)


def link_expiry(body: dict[str, Any], now: datetime) -> datetime:
    """When a scheme or link dies: `is_expire=false` is treated as true and the longest life
    is 30 days (community answer 00000885eec6b01a9ff043ad864c00); out of range is 85401."""
    most = now + timedelta(days=MAX_LINK_DAYS)
    if body.get("expire_type", 0) == 1:
        days = body.get("expire_interval")
        if isinstance(days, bool) or not isinstance(days, int) or not 1 <= days <= MAX_LINK_DAYS:
            raise WeChatError(85401)
        return now + timedelta(days=days)
    stamp = body.get("expire_time")
    if stamp is None:
        return most
    if isinstance(stamp, bool) or not isinstance(stamp, int):
        raise WeChatError(85401)
    at = datetime.fromtimestamp(stamp, tz=now.tzinfo)
    if not now + timedelta(minutes=1) <= at <= most:
        raise WeChatError(85401)
    return at
