"""Pure rules: subscribe field values (the same verdicts as the sandbox's WeChat), unsafe
regular expressions, and rule matching by priority and active period."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest

from siyu.reach.autoreply import Matcher, Rule
from siyu.reach.models import MatchKind, RuleKind
from siyu.reach.rules import check_subscribe_value, fill, regex_problem, slots
from siyu.sandbox.errors import WeChatError
from siyu.sandbox.rules import check_subscribe_data

VALUES = [
    ("thing1", "晨读打卡"),
    ("thing1", "超" * 20),
    ("thing1", "超" * 21),
    ("number2", "12.5"),
    ("number2", "12a"),
    ("letter3", "abc"),
    ("letter3", "ab1"),
    ("symbol4", "!!"),
    ("symbol4", "!!!!!!"),
    ("character_string5", "A-1024"),
    ("character_string5", "中文"),
    ("time6", "2026-11-20 09:30"),
    ("time6", "明天上午"),
    ("date7", "2026年11月20日"),
    ("date7", "11/20"),
    ("amount8", "¥99.00"),
    ("amount8", "99.999元"),
    ("phone_number9", "+86 138-0000-0000"),
    ("phone_number9", "call me"),
    ("name10", "王子涵"),
    ("name10", "超" * 11),
    ("phrase11", "已完成"),
    ("phrase11", "done"),
]


@pytest.mark.parametrize(("key", "value"), VALUES)
def test_field_rules_agree_with_wechat(key: str, value: str) -> None:
    # given WeChat's verdict on the value (the sandbox answers 47003 for a broken rule)
    errcode = 0
    try:
        check_subscribe_data({key: {"value": value}}, [key])
    except WeChatError as exc:
        errcode = exc.errcode
    assert errcode in (0, 47003)
    wechat_accepts = errcode == 0
    # then siyu refuses exactly the values WeChat would refuse, before sending
    assert (check_subscribe_value(key, value) is None) == wechat_accepts


@pytest.mark.parametrize(
    "pattern",
    [r"(a+)+$", r"(\w*)*", r"(a|ab)*c", r"(\d+)\1", r"(?=x)y", r"([a-z]+\s?)+$", "[", "x" * 201],
)
def test_patterns_that_could_backtrack_or_do_not_compile_are_refused(pattern: str) -> None:
    assert regex_problem(pattern) is not None


@pytest.mark.parametrize(
    "pattern", [r"^课程(时间|地点)$", r"\d{11}", r"退款|退费", r"^[A-Z]{2}\d+$"]
)
def test_ordinary_patterns_are_accepted(pattern: str) -> None:
    assert regex_problem(pattern) is None


def test_customer_service_slots_are_plain_names() -> None:
    assert slots("今天的{course}在{place}") == ["course", "place"]
    assert fill("今天的{course}", {"course": "晨读"}) == "今天的晨读"
    with pytest.raises(ValueError, match="plain name"):
        slots("{course.__class__}")


NOW = datetime(2026, 11, 20, 2, 0, tzinfo=UTC)


def rule(rule_id: int, match: MatchKind, *keywords: str, priority: int = 100, **kw: object) -> Rule:
    patterns = tuple(re.compile(k) for k in keywords) if match == MatchKind.regex else ()
    return Rule(
        id=rule_id,
        name=f"r{rule_id}",
        kind=RuleKind.keyword,
        match=match,
        keywords=keywords if match == MatchKind.regex else tuple(k.casefold() for k in keywords),
        priority=priority,
        active_from=kw.get("active_from"),  # type: ignore[arg-type]
        active_until=kw.get("active_until"),  # type: ignore[arg-type]
        reply={"type": "text", "content": str(rule_id)},
        tag=None,
        patterns=patterns,
    )


def test_the_highest_priority_match_wins_across_kinds() -> None:
    matcher = Matcher.build(
        [
            rule(1, MatchKind.contains, "课程", priority=50),
            rule(2, MatchKind.exact, "课程表", priority=10),
            rule(3, MatchKind.regex, r"^课程", priority=5),
            rule(4, MatchKind.exact, "Hello"),
        ]
    )
    assert matcher.match("课程表", NOW).id == 3  # type: ignore[union-attr]
    assert matcher.match("我的课程呢", NOW).id == 1  # type: ignore[union-attr]
    assert matcher.match("  hello ", NOW).id == 4  # type: ignore[union-attr]  # case and spaces
    assert matcher.match("打卡", NOW) is None


def test_a_rule_outside_its_active_period_does_not_match() -> None:
    later = NOW + timedelta(days=1)
    matcher = Matcher.build(
        [
            rule(1, MatchKind.exact, "双11", priority=1, active_from=later),
            rule(2, MatchKind.exact, "双11", priority=9),
        ]
    )
    assert matcher.match("双11", NOW).id == 2  # type: ignore[union-attr]
    assert matcher.match("双11", later).id == 1  # type: ignore[union-attr]
