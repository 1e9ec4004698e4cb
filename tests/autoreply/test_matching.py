"""Pure matching: unsafe regular expressions refused, rules matched by priority and active
period."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest

from siyu.autoreply.enums import MatchKind, RuleKind
from siyu.autoreply.matching import Matcher, Rule, regex_problem


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
