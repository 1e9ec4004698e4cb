"""`siyu analytics sync` and `siyu report index|funnel|retention --json`, as the issue names
them, against the test database and a store of the test's own."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from siyu.core.config import Settings
from tests.support.analytics import Scenario
from tests.support.cli import run


@pytest.fixture
def analytics_cli(cli: CliRunner, analytics_settings: Settings, scenario: Scenario) -> CliRunner:
    assert cli.env is not None
    cli.env = {**cli.env, "SIYU_ANALYTICS_URL": analytics_settings.analytics_url}
    return cli


def test_sync_prints_how_many_events_it_took(analytics_cli: CliRunner) -> None:
    code, output = run(analytics_cli, "analytics", "sync")
    assert code == 0, output
    assert output.startswith("15 events")
    code, output = run(analytics_cli, "analytics", "sync")
    assert output.startswith("0 events")


def test_the_reports_as_json(analytics_cli: CliRunner) -> None:
    run(analytics_cli, "analytics", "sync")
    code, output = run(
        analytics_cli, "report", "index", "--from", "2026-11-02", "--to", "2026-11-03", "--json"
    )
    assert code == 0, output
    days = json.loads(output)["days"]
    assert [(d["date"], d["new"], d["dau"]) for d in days] == [
        ("2026-11-02", 2, 2),
        ("2026-11-03", 1, 3),
    ]
    span = ("--from", "2026-11-01", "--to", "2026-11-30")
    steps = ("mp.launch", "mp.page_view:from=article", "oa.subscribe")
    code, output = run(
        analytics_cli,
        "report",
        "funnel",
        *(a for s in steps for a in ("--step", s)),
        "--window",
        "7d",
        *span,
        "--json",
    )
    assert code == 0, output
    assert [(s["event"], s["members"]) for s in json.loads(output)["steps"]] == [
        ("mp.launch", 3),
        ("mp.page_view", 1),
        ("oa.subscribe", 1),
    ]
    code, output = run(
        analytics_cli,
        "report",
        "retention",
        "--cohort-event",
        "mp.launch",
        "--return-event",
        "mp.launch",
        "--period",
        "week",
        "--periods",
        "3",
        *span,
        "--json",
    )
    assert code == 0, output
    assert json.loads(output)["cohorts"] == [
        {"start": "2026-11-02", "size": 3, "returned": [3, 1, 1]}
    ]


def test_a_bad_funnel_exits_with_its_code(analytics_cli: CliRunner) -> None:
    code, output = run(
        analytics_cli, "report", "funnel", "--step", "mp.launch", "--step", "made.up", "--json"
    )
    assert code == 1
    assert "analytics.unknown_event" in output
    code, output = run(
        analytics_cli,
        "report",
        "funnel",
        "--step",
        "mp.launch",
        "--step",
        "mp.login",
        "--window",
        "7x",
    )
    assert code == 2
