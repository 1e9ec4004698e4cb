"""WeChat's custom-menu rules, checked before anything is sent (fact sheet §2.2).

The same rules as the sandbox's `validate_menu` (src/siyu/sandbox/rules.py; the sandbox may not
be imported from here), with WeChat's error codes, but the refusal names the rule and the button
so that an operator can fix it: 1–3 top buttons, ≤5 sub-buttons, names ≤16 bytes (top) and ≤60
bytes (sub), keys ≤128 bytes, urls ≤1024 bytes, miniprogram buttons only for linked Mini
Programs and with a fallback url. A test holds the two validators to the same verdicts. Each
refusal says what is wrong twice: in English for the API, in Chinese for the console.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from siyu.core.errors import SiyuError
from siyu.entries import errors

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
TOP_NAME_BYTES = 16
SUB_NAME_BYTES = 60
MAX_KEY_BYTES = 128
MAX_URL_BYTES = 1024
# WeChat's codes for each rule, top level / sub level (global return-code page, as the sandbox).
CODES = {
    "buttons": (40016, 40023),
    "type": (40017, 40024),
    "name_bytes": (40018, 40025),
    "key_bytes": (40019, 40026),
    "url_bytes": (40020, 40027),
    "levels": (40022, 40022),
    "miniprogram_unlinked": (45064, 45064),
    "pagepath": (40165, 40165),
    "media_id": (40007, 40007),
    "article_id": (40035, 40035),
}


FIELD_NAMES = {"name": "名称", "key": "key 值", "url": "链接"}  # how the console names them
_NOT_AN_OBJECT = ("a button is an object", "按钮应是一个 JSON 对象")


@dataclass(frozen=True)
class MenuRuleBroken:
    rule: str
    button: str  # "button[2]" or "button[1].sub_button[3]" (1-based, as people count)
    message: str
    errcode: int
    limit: int | None = None
    problem: str = ""  # the message in Chinese

    def error(self) -> SiyuError:
        return errors.MENU_INVALID(
            f"{self.button}: {self.message}",
            data={
                "rule": self.rule,
                "button": self.button,
                "limit": self.limit,
                "errcode": self.errcode,
            },
            place=place(self.button),
            button=self.button,
            problem=self.problem,
        )


def place(button: str) -> str:
    """Where a button is, as an operator counts: "第 2 个按钮的第 3 个子按钮" ("": the menu)."""
    top, *sub = re.findall(r"\[(\d+)\]", button)[:2] or [""]
    if not top:
        return ""
    return f"第 {top} 个按钮" + (f"的第 {sub[0]} 个子按钮" if sub else "")


def _bytes(value: object) -> int | None:
    return len(value.encode("utf-8")) if isinstance(value, str) else None


class _Checker:
    def __init__(self, linked_mps: set[str]) -> None:
        self.linked_mps = linked_mps

    def fail(
        self,
        rule: str,
        where: str,
        sub: bool,
        message: tuple[str, str],
        limit: int | None = None,
    ) -> MenuRuleBroken:
        """`message`: (English, Chinese)."""
        english, chinese = message
        return MenuRuleBroken(rule, where, english, CODES[rule][1 if sub else 0], limit, chinese)

    def within(
        self, button: dict[str, Any], field: str, most: int, rule: str, *, where: str, sub: bool
    ) -> MenuRuleBroken | None:
        size = _bytes(button.get(field))
        if size is None or not 1 <= size <= most:
            missing = size is None or size == 0
            shown = "missing" if missing else f"{size} bytes"
            named = f"{FIELD_NAMES.get(field, field)}（{field}）"
            zh = f"{named}缺失" if missing else f"{named}为 {size} 字节"
            message = (f"{field} is {shown}; 1–{most} bytes", f"{zh}，应为 1–{most} 字节")
            return self.fail(rule, where, sub, message, most)
        return None

    def menu(self, body: object) -> MenuRuleBroken | None:
        buttons = body.get("button") if isinstance(body, dict) else None
        if not isinstance(buttons, list) or not 1 <= len(buttons) <= MAX_TOP_BUTTONS:
            count = len(buttons) if isinstance(buttons, list) else 0
            return self.fail(
                "buttons",
                "button",
                False,
                (
                    f"a menu has 1–{MAX_TOP_BUTTONS} top buttons, not {count}",
                    f"一级按钮应有 1–{MAX_TOP_BUTTONS} 个，这里有 {count} 个",
                ),
                MAX_TOP_BUTTONS,
            )
        for i, button in enumerate(buttons, 1):
            where = f"button[{i}]"
            if not isinstance(button, dict):
                return self.fail("buttons", where, False, _NOT_AN_OBJECT)
            broken = self.within(
                button, "name", TOP_NAME_BYTES, "name_bytes", where=where, sub=False
            )
            if broken:
                return broken
            subs = button.get("sub_button")
            broken = self.subs(subs, where) if subs else self.action(button, where, False)
            if broken:
                return broken
        return None

    def subs(self, subs: object, parent: str) -> MenuRuleBroken | None:
        if not isinstance(subs, list) or len(subs) > MAX_SUB_BUTTONS:
            count = len(subs) if isinstance(subs, list) else 0
            return self.fail(
                "buttons",
                parent,
                True,
                (
                    f"a top button holds at most {MAX_SUB_BUTTONS} sub buttons, not {count}",
                    f"一级按钮下最多 {MAX_SUB_BUTTONS} 个子按钮，这里有 {count} 个",
                ),
                MAX_SUB_BUTTONS,
            )
        for j, sub in enumerate(subs, 1):
            where = f"{parent}.sub_button[{j}]"
            if not isinstance(sub, dict):
                return self.fail("buttons", where, True, _NOT_AN_OBJECT)
            if sub.get("sub_button"):
                return self.fail(
                    "levels", where, True, ("menus have two levels only", "菜单只有两级")
                )
            broken = self.within(sub, "name", SUB_NAME_BYTES, "name_bytes", where=where, sub=True)
            if broken or (broken := self.action(sub, where, True)):
                return broken
        return None

    def action(self, button: dict[str, Any], where: str, sub: bool) -> MenuRuleBroken | None:
        kind = button.get("type")
        if kind not in BUTTON_TYPES:
            return self.fail(
                "type",
                where,
                sub,
                (f"type {kind!r} is not a WeChat button type", f"类型 {kind!r} 不是微信的按钮类型"),
            )
        if kind in KEY_TYPES:
            return self.within(button, "key", MAX_KEY_BYTES, "key_bytes", where=where, sub=sub)
        if kind == "view":
            return self.within(button, "url", MAX_URL_BYTES, "url_bytes", where=where, sub=sub)
        if kind == "miniprogram":
            # url is the fallback for clients without Mini Programs, and is required.
            broken = self.within(button, "url", MAX_URL_BYTES, "url_bytes", where=where, sub=sub)
            if broken:
                return broken
            if button.get("appid") not in self.linked_mps:
                return self.fail(
                    "miniprogram_unlinked",
                    where,
                    sub,
                    (
                        f"Mini Program {button.get('appid')!r} is not linked to this account",
                        f"小程序 {button.get('appid')} 未关联到这个公众号",
                    ),
                )
            if not isinstance(button.get("pagepath"), str) or not button["pagepath"]:
                return self.fail(
                    "pagepath",
                    where,
                    sub,
                    (
                        "a miniprogram button needs a pagepath",
                        "小程序按钮需要 pagepath（小程序页面）",
                    ),
                )
            return None
        if kind in ("media_id", "view_limited"):
            if not isinstance(button.get("media_id"), str) or not button["media_id"]:
                return self.fail(
                    "media_id",
                    where,
                    sub,
                    (f"a {kind} button needs a media_id", f"{kind} 类型的按钮需要 media_id"),
                )
            return None
        if not isinstance(button.get("article_id"), str) or not button["article_id"]:
            return self.fail(
                "article_id",
                where,
                sub,
                (f"a {kind} button needs an article_id", f"{kind} 类型的按钮需要 article_id"),
            )
        return None


def check_menu(body: object, linked_mps: set[str]) -> MenuRuleBroken | None:
    """The first rule the menu breaks, or None when WeChat would take it."""
    return _Checker(linked_mps).menu(body)


def button_key(button: dict[str, Any], where: str) -> str:
    """The attribution key of a button: its own key, else its position (b1, b1_2)."""
    key = button.get("key")
    if isinstance(key, str) and key:
        return key
    return "b" + "_".join(re.findall(r"\[(\d+)\]", where))


def _with_source(target: str, key: str) -> str:
    if "from=menu" in target:
        return target
    joiner = "&" if "?" in target else "?"
    return f"{target}{joiner}from=menu&key={quote(key, safe='')}"


def with_sources(buttons: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The buttons with `from=menu&key=…` on every view url and miniprogram pagepath, so that
    clicks and what follows them are attributed to the button."""

    def tagged(button: dict[str, Any], where: str) -> dict[str, Any]:
        out = dict(button)
        key = button_key(button, where)
        if out.get("type") == "view" and isinstance(out.get("url"), str):
            out["url"] = _with_source(out["url"], key)
        elif out.get("type") == "miniprogram" and isinstance(out.get("pagepath"), str):
            out["pagepath"] = _with_source(out["pagepath"], key)
        return out

    result = []
    for i, button in enumerate(buttons, 1):
        where = f"button[{i}]"
        if button.get("sub_button"):
            subs = [
                tagged(sub, f"{where}.sub_button[{j}]")
                for j, sub in enumerate(button["sub_button"], 1)
            ]
            result.append({**button, "sub_button": subs})
        else:
            result.append(tagged(button, where))
    return result


def walk(buttons: list[dict[str, Any]]) -> list[tuple[str, dict[str, Any]]]:
    """Every button with an action, with its position."""
    found: list[tuple[str, dict[str, Any]]] = []
    for i, button in enumerate(buttons, 1):
        where = f"button[{i}]"
        if button.get("sub_button"):
            found.extend(
                (f"{where}.sub_button[{j}]", sub) for j, sub in enumerate(button["sub_button"], 1)
            )
        else:
            found.append((where, button))
    return found


def click_key(button: dict[str, Any]) -> str | None:
    """What the button's push carries as EventKey (oa.menu_click props.key)."""
    field = {"view": "url", "miniprogram": "pagepath"}.get(str(button.get("type")))
    if field is None and button.get("type") in KEY_TYPES:
        field = "key"
    value = button.get(field) if field else None
    return value if isinstance(value, str) else None
