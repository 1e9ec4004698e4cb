"""Pure checks: subscribe-message field values, customer-service text, safe regular expressions.

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


# --- safe regular expressions ---------------------------------------------------------------

MAX_PATTERN = 200
_REPEATS = {"MAX_REPEAT", "MIN_REPEAT", "POSSESSIVE_REPEAT"}
_GROUPREFS = {"GROUPREF", "GROUPREF_EXISTS"}
_ASSERTS = {"ASSERT", "ASSERT_NOT"}


def regex_problem(pattern: str) -> str | None:
    """Why a keyword pattern is refused, or None.

    No timeout exists for `re`, so patterns that could backtrack catastrophically are refused
    before they are stored: a repetition inside a repetition (`(a+)+`, `(\\w*)*`), a
    repetition of alternatives (`(a|ab)*`), back-references and look-arounds. What remains runs
    in time proportional to the message times the pattern.
    """
    if len(pattern) > MAX_PATTERN:
        return f"longer than {MAX_PATTERN} characters"
    try:
        re.compile(pattern)
    except re.error as exc:
        return f"does not compile: {exc}"
    from re import _parser  # type: ignore[attr-defined]  # the stdlib's own parser

    tree = _parser.parse(pattern)
    return _walk(list(tree), inside_repeat=False)


def _walk(items: list[Any], *, inside_repeat: bool) -> str | None:
    for op, arg in items:
        name = str(op)
        if name in _GROUPREFS:
            return "back-references are not allowed"
        if name in _ASSERTS:
            return "look-ahead and look-behind are not allowed"
        if name in _REPEATS:
            _low, high, sub = arg
            unbounded = high > 1
            if unbounded and inside_repeat:
                return "a repetition inside a repetition could backtrack without end"
            if unbounded and _has_branch(list(sub)):
                return "a repetition of alternatives could backtrack without end"
            problem = _walk(list(sub), inside_repeat=inside_repeat or unbounded)
            if problem:
                return problem
        elif name == "SUBPATTERN":
            problem = _walk(list(arg[-1]), inside_repeat=inside_repeat)
            if problem:
                return problem
        elif name == "BRANCH":
            for branch in arg[1]:
                problem = _walk(list(branch), inside_repeat=inside_repeat)
                if problem:
                    return problem
    return None


def _has_branch(items: list[Any]) -> bool:
    for op, arg in items:
        name = str(op)
        if name == "BRANCH":
            return True
        if name == "SUBPATTERN" and _has_branch(list(arg[-1])):
            return True
    return False
