"""Rule matching, pure: an app's rules compiled into a `Matcher`, and the check that keeps a
keyword pattern from backtracking without end before it is stored."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from siyu.autoreply.enums import MatchKind, RuleKind
from siyu.autoreply.models import AutoReplyRule


def norm(text: str) -> str:
    """What exact and contains keywords are compared on: trimmed, case-folded."""
    return text.strip().casefold()


@dataclass(frozen=True)
class Rule:
    id: int
    name: str
    kind: RuleKind
    match: MatchKind
    keywords: tuple[str, ...]
    priority: int
    active_from: datetime | None
    active_until: datetime | None
    reply: dict[str, Any]
    tag: str | None
    patterns: tuple[re.Pattern[str], ...] = ()

    @property
    def order(self) -> tuple[int, int]:
        return self.priority, self.id

    def active(self, now: datetime) -> bool:
        return (self.active_from is None or self.active_from <= now) and (
            self.active_until is None or now < self.active_until
        )


@dataclass
class Matcher:
    """An app's rules, indexed: exact keywords in a dict, contains-keywords by length (a
    message is scanned once per distinct keyword length), regexes behind one combined
    pattern that answers "none of them" in a single search."""

    exact: dict[str, list[Rule]] = field(default_factory=dict)
    contains: dict[str, list[Rule]] = field(default_factory=dict)
    lengths: tuple[int, ...] = ()
    contains_first: tuple[int, int] | None = None  # the best order among contains rules
    regex: list[Rule] = field(default_factory=list)
    any_regex: re.Pattern[str] | None = None
    # Patterns anchored at the start are tried at position 0 only (`match`, not `search`).
    anchored: bool = False
    follow: list[Rule] = field(default_factory=list)
    default: list[Rule] = field(default_factory=list)
    # menu click rules by button key (the EventKey, as sent: keys are not case-folded)
    clicks: dict[str, list[Rule]] = field(default_factory=dict)

    @classmethod
    def build(cls, rules: Iterable[Rule]) -> Matcher:
        matcher = cls()
        for rule in sorted(rules, key=lambda r: r.order):
            if rule.kind == RuleKind.follow:
                matcher.follow.append(rule)
            elif rule.kind == RuleKind.default:
                matcher.default.append(rule)
            elif rule.kind == RuleKind.menu_click:
                for key in rule.keywords:
                    matcher.clicks.setdefault(key, []).append(rule)
            elif rule.match == MatchKind.regex:
                matcher.regex.append(rule)
            else:
                index = matcher.exact if rule.match == MatchKind.exact else matcher.contains
                for keyword in rule.keywords:
                    index.setdefault(keyword, []).append(rule)
        matcher.lengths = tuple(sorted({len(k) for k in matcher.contains}))
        orders = [rule.order for rules in matcher.contains.values() for rule in rules]
        matcher.contains_first = min(orders) if orders else None
        sources = [p.pattern for rule in matcher.regex for p in rule.patterns]
        if sources:
            matcher.anchored = all(s.startswith("^") and "(?m" not in s for s in sources)
            try:
                matcher.any_regex = re.compile("|".join(f"(?:{s})" for s in sources))
            except re.error:  # e.g. the same group name in two patterns: check them one by one
                matcher.any_regex = None
        return matcher

    def match(self, message: str, now: datetime) -> Rule | None:
        text = norm(message)
        best: Rule | None = None

        def consider(candidates: list[Rule]) -> None:
            nonlocal best
            for rule in candidates:  # sorted: the first active one is the best of the list
                if best is not None and rule.order >= best.order:
                    return
                if rule.active(now):
                    best = rule
                    return

        consider(self.exact.get(text, []))
        first = self.contains_first
        if first is not None and (best is None or first < best.order):
            for length in self.lengths:
                for start in range(len(text) - length + 1):
                    hit = self.contains.get(text[start : start + length])
                    if hit:
                        consider(hit)
        if self.regex and (best is None or self.regex[0].order < best.order) and self._any(message):
            for rule in self.regex:
                if best is not None and rule.order >= best.order:
                    break
                if rule.active(now) and any(p.search(message) for p in rule.patterns):
                    best = rule
                    break
        return best

    def _any(self, message: str) -> bool:
        """Whether some regex rule could match: one pass of the combined pattern."""
        if self.any_regex is None:
            return True
        found = self.any_regex.match(message) if self.anchored else self.any_regex.search(message)
        return found is not None

    def first_active(self, rules: list[Rule], now: datetime) -> Rule | None:
        return next((rule for rule in rules if rule.active(now)), None)

    def click(self, key: str, now: datetime) -> Rule | None:
        """The rule answering a click on the menu button whose key is `key`."""
        return self.first_active(self.clicks.get(key, []), now)


def compile_rule(row: AutoReplyRule) -> Rule:
    patterns: tuple[re.Pattern[str], ...] = ()
    keywords = tuple(row.keywords)
    if row.match == MatchKind.regex:
        patterns = tuple(re.compile(k) for k in row.keywords)
    elif row.kind == RuleKind.menu_click:
        keywords = tuple(k.strip() for k in row.keywords)
    else:
        keywords = tuple(norm(k) for k in row.keywords)
    return Rule(
        id=row.id,
        name=row.name,
        kind=row.kind,
        match=row.match,
        keywords=keywords,
        priority=row.priority,
        active_from=row.active_from,
        active_until=row.active_until,
        reply=dict(row.reply),
        tag=row.tag,
        patterns=patterns,
    )


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
