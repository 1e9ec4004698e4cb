"""Reach's and auto-reply's jobs and refusals as other code and API clients know them: the job
names, schedules and retries, and every error code with its status and Chinese text."""

from __future__ import annotations

import re
from datetime import datetime
from pathlib import Path

import pytest

from siyu.autoreply import errors as autoreply_errors
from siyu.core import jobs
from siyu.core.errors import all_error_codes
from siyu.reach import errors as reach_errors

SRC = Path(__file__).resolve().parents[2] / "src" / "siyu"
RAISED_BY_HAND = re.compile(
    r"\b(SiyuError|NotFound|Conflict|Invalid|Forbidden|Unauthorized)\(\s*[\"']"
)
CODES = {
    "reach.wrong_app": 422,
    "reach.invalid_template": 422,
    "reach.template_exists": 409,
    "reach.template_not_found": 404,
    "reach.unknown_template": 404,
    "reach.invalid_field": 422,
    "reach.invalid_data": 422,
    "reach.invalid_policy": 422,
    "reach.unknown_category": 422,
    "reach.member_erased": 409,
    "reach.invalid_broadcast": 422,
    "reach.empty_audience": 422,
    "reach.daily_mass_used": 409,
    "reach.unknown_broadcast": 404,
    "reach.broadcast_done": 409,
    "reach.invalid_period": 422,
    "reach.legacy_rules_off": 409,
    "autoreply.invalid_rule": 422,
    "autoreply.invalid_reply": 422,
    "autoreply.invalid_regex": 422,
    "autoreply.unknown_rule": 404,
}


def test_no_raise_site_of_reach_or_autoreply_names_its_code_by_hand() -> None:
    # given every module of both domains, their console pages and their commands
    files = [
        *sorted((SRC / "reach").rglob("*.py")),
        *sorted((SRC / "autoreply").rglob("*.py")),
        SRC / "console" / "reach.py",
        SRC / "cli" / "reach.py",
        SRC / "cli" / "autoreply.py",
    ]
    # when their refusals are read
    by_hand = [
        f"{path.relative_to(SRC)}:{text[: m.start()].count(chr(10)) + 1}"
        for path in files
        for text in [path.read_text(encoding="utf-8")]
        for m in RAISED_BY_HAND.finditer(text)
    ]
    # then none passes a code as a string: each is raised by calling its listed code
    assert by_hand == []


def test_every_code_keeps_its_string_and_status_and_has_chinese_text() -> None:
    # given the codes reach and auto-replies listed (their modules are imported above)
    assert reach_errors.WRONG_APP.code == "reach.wrong_app"
    assert autoreply_errors.INVALID_RULE.code == "autoreply.invalid_rule"
    listed = {
        code.code: code
        for code in all_error_codes()
        if code.code.startswith(("reach.", "autoreply."))
    }
    # then they are exactly the codes API clients know, with their statuses
    assert {code: entry.status for code, entry in listed.items()} == CODES
    # and each one reads as Chinese in the console (a missing value reads "…", not a slot)
    for entry in listed.values():
        text = entry.text(dict.fromkeys(entry.slots(), "x"))
        assert "{" not in text
        assert any("\u4e00" <= ch <= "\u9fff" for ch in text), entry.code
        assert not entry.api_only


def test_a_refusal_is_the_subclass_its_status_names_and_fills_its_chinese_text() -> None:
    refused = autoreply_errors.INVALID_RULE(
        "a keyword rule needs at least one keyword", reason="关键词规则至少需要一个关键词。"
    )
    assert (refused.code, refused.status, refused.message) == (
        "autoreply.invalid_rule",
        422,
        "a keyword rule needs at least one keyword",
    )
    assert autoreply_errors.INVALID_RULE.text(refused.params) == (
        "规则没有保存：关键词规则至少需要一个关键词。"
    )


@pytest.mark.parametrize(
    ("name", "retries", "retry_delay"),
    [
        ("reach.deliver", 0, 0),
        ("reach.deliver_mass", 0, 0),
        ("reach.deliver_mass_all", 0, 0),
        ("reach.retry_held", 0, 0),
        ("autoreply.send_rule_reply", 3, 10),
    ],
)
def test_jobs_are_registered_by_name_with_their_retries(
    name: str, retries: int, retry_delay: int
) -> None:
    task = jobs.job_named(name).task_class
    assert (task.default_retries, task.default_retry_delay) == (retries, retry_delay)


@pytest.mark.parametrize(
    ("name", "runs_at", "skips"),
    [
        ("reach.sweep_stuck_sends", datetime(2026, 12, 1, 8, 5), datetime(2026, 12, 1, 8, 6)),
        ("reach.sweep_held", datetime(2026, 12, 1, 8, 6), None),
        ("reach.run_broadcasts", datetime(2026, 12, 1, 8, 7), None),
    ],
)
def test_periodic_jobs_keep_their_schedules(
    name: str, runs_at: datetime, skips: datetime | None
) -> None:
    task = jobs.job_named(name).task_class()
    assert task.validate_datetime(runs_at)
    if skips is not None:
        assert not task.validate_datetime(skips)
