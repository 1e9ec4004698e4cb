"""`siyu points balance N` and `siyu points grant N AMOUNT --reason TEXT` (with --json)."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from siyu.core.clock import FrozenClock
from siyu.members.models import PointsEntry
from tests.support.cli import count, run
from tests.support.points import Loyalty


def test_grant_then_balance(cli: CliRunner, loyalty: Loyalty, frozen_clock: FrozenClock) -> None:
    member = loyalty.member()
    number = str(loyalty.number(member))
    code, output = run(cli, "points", "grant", number, "30", "--reason", "补发活动积分", "--json")
    assert code == 0, output
    assert json.loads(output)["amount"] == 30
    code, output = run(cli, "points", "balance", number, "--json")
    assert code == 0, output
    assert json.loads(output)["balance"] == 30
    # a deduction below zero is refused, nothing written
    code, output = run(cli, "points", "grant", "--reason", "扣回", "--", number, "-31")
    assert code == 1
    assert "members.adjust_below_zero" in output
    code, output = run(cli, "points", "grant", number, "5", "--reason", " ")
    assert code == 1
    assert "members.reason_required" in output
    assert count(loyalty.db, PointsEntry) == 1
