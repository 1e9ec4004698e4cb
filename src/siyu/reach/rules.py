"""Pure checks: subscribe-message field values and customer-service text slots.

The field rules are WeChat's (fact sheet §3 "Value rules": thing ≤ 20 characters, number ≤ 32
digits, letter ≤ 32, symbol ≤ 5, character_string ≤ 32, time/date formats, amount = a currency
sign and ≤ 10 digits, phone_number ≤ 17). Checking them before sending means WeChat's 47003
("a data field violates its type rule") is never reached.
"""

from __future__ import annotations

import re
import string
from collections.abc import Callable, Mapping
from typing import Any

CJK = r"\u4e00-\u9fff"
_DATE = r"\d{4}(年\d{1,2}月\d{1,2}日|-\d{1,2}-\d{1,2}|/\d{1,2}/\d{1,2})"
_CLOCK = r"\d{1,2}:\d{2}(:\d{2})?"
_TIME_RE = re.compile(rf"^({_DATE}( {_CLOCK})?|{_CLOCK})(\s*~\s*({_DATE}( {_CLOCK})?|{_CLOCK}))?$")
_DATE_RE = re.compile(rf"^{_DATE}( {_CLOCK})?(\s*~\s*{_DATE}( {_CLOCK})?)?$")
OA_VALUE_MAX = 200  # we keep OA template values short; WeChat documents no limit we verified
CS_TEXT_MAX = 600


def _pattern(pattern: str, most: int) -> Callable[[str], bool]:
    compiled = re.compile(pattern)
    return lambda value: len(value) <= most and compiled.match(value) is not None


def _name(value: str) -> bool:
    return len(value) <= (10 if re.search(f"[{CJK}]", value) else 20)


SUBSCRIBE_RULES: dict[str, tuple[Callable[[str], bool], str]] = {
    "thing": (lambda v: len(v) <= 20, "at most 20 characters"),
    "number": (_pattern(r"^\d+(\.\d+)?$", 32), "digits (a decimal point allowed), at most 32"),
    "letter": (_pattern(r"^[A-Za-z]+$", 32), "letters only, at most 32"),
    "symbol": (_pattern(r"^[^\w\s]+$", 5), "symbols only, at most 5"),
    "character_string": (_pattern(r"^[\x21-\x7e]+$", 32), "letters, digits, signs; at most 32"),
    "time": (lambda v: _TIME_RE.match(v) is not None, "a time such as 2026-11-20 09:30"),
    "date": (lambda v: _DATE_RE.match(v) is not None, "a date such as 2026年11月20日"),
    "amount": (_pattern(r"^[¥$€£￥]?\d{1,10}(\.\d{1,2})?元?$", 14), "an amount such as ¥99.00"),
    "phone_number": (_pattern(r"^[\d+\-() ]+$", 17), "a phone number, at most 17 signs"),
    "car_number": (lambda v: len(v) <= 8, "a plate, at most 8 characters"),
    "name": (_name, "a name: 10 Chinese or 20 Latin characters at most"),
    "phrase": (_pattern(rf"^[{CJK}]+$", 5), "at most 5 Chinese characters"),
}


# The same rules as an operator reads them in the console.
SUBSCRIBE_RULES_ZH: dict[str, str] = {
    "thing": "最多 20 个字符",
    "number": "数字（可带小数点），最多 32 位",
    "letter": "只能是字母，最多 32 个",
    "symbol": "只能是符号，最多 5 个",
    "character_string": "字母、数字或符号，最多 32 个",
    "time": "时间，如 2026-11-20 09:30",
    "date": "日期，如 2026年11月20日",
    "amount": "金额，如 ¥99.00",
    "phone_number": "电话号码，最多 17 个符号",
    "car_number": "车牌，最多 8 个字符",
    "name": "姓名：最多 10 个汉字或 20 个字母",
    "phrase": "最多 5 个汉字",
}


def value_type(key: str) -> str:
    """Subscribe template keys carry their type: `thing1`, `time2`, `character_string3`."""
    return key.rstrip("0123456789")


def check_subscribe_value(key: str, value: str) -> str | None:
    """Why `value` breaks the rule of field `key`, or None."""
    if not value:
        return "is empty"
    kind = value_type(key)
    rule, wanted = SUBSCRIBE_RULES.get(kind, SUBSCRIBE_RULES["thing"])
    return None if rule(value) else f"must be {wanted}"


def check_oa_value(value: str) -> str | None:
    if not value:
        return "is empty"
    return None if len(value) <= OA_VALUE_MAX else f"must be at most {OA_VALUE_MAX} characters"


def problem_zh(key: str, value: str | None, *, subscribe: bool) -> str:
    """Why a field's value is refused, in Chinese (the checks above say it in English)."""
    if value is None:
        return "没有填写"
    if not value:
        return "不能为空"
    if not subscribe:
        return f"最多 {OA_VALUE_MAX} 个字符"
    return "应为" + SUBSCRIBE_RULES_ZH.get(value_type(key), SUBSCRIBE_RULES_ZH["thing"])


def slots(body: str) -> list[str]:
    """The `{name}` slots of a customer-service text; ValueError for anything else."""
    names = []
    for _literal, name, spec, conversion in string.Formatter().parse(body):
        if name is None:
            continue
        if not name.isidentifier() or spec or conversion:
            raise ValueError(f"slot {{{name}}} must be a plain name")
        names.append(name)
    return names


def fill(body: str, data: Mapping[str, Any]) -> str:
    return body.format_map({name: str(data.get(name, "")) for name in slots(body)})
