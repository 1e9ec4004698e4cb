"""`siyu members tier N` and `siyu members rfm N`: a member's tier and RFM cell, as text or
JSON; an unknown number exits 1."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from typer.testing import CliRunner

from siyu.audience import service as audience
from siyu.core.clock import FrozenClock
from siyu.core.db import Database
from tests.support.cli import run
from tests.support.tiers import event, ingest, number_of

pytestmark = pytest.mark.usefixtures("oa_app", "mp_app")
DAY = timedelta(days=1)


def test_tier_and_rfm_of_a_member(
    cli: CliRunner, db: Database, workspace_id: int, frozen_clock: FrozenClock
) -> None:
    now = frozen_clock.now()
    ingest(
        db,
        workspace_id,
        event(1, "pay.paid", now - 40 * DAY, amount=2_000),
        event(1, "pay.refunded", now - 39 * DAY, amount=500),
        event(2, "mp.login", now - DAY),
    )
    with db.session_scope() as session:
        audience.compute_tiers(session, workspace_id)
        audience.compute_rfm(session, workspace_id)
    buyer, other = number_of(db, 1), number_of(db, 2)
    code, output = run(cli, "members", "tier", str(buyer))
    assert code == 0, output
    assert "dormant 沉睡 since" in output
    code, output = run(cli, "members", "tier", str(other), "--json")
    assert code == 0, output
    assert json.loads(output)["tier"] == "new"
    code, output = run(cli, "members", "rfm", str(buyer), "--json")
    assert code == 0, output
    rfm = json.loads(output)
    assert (rfm["buyer"], rfm["frequency"], rfm["monetary"]) == (True, 1, 1_500)
    assert rfm["cell"] == "流失"  # the only buyer: quintiles of one score 1
    code, output = run(cli, "members", "rfm", str(other))
    assert code == 0, output
    assert "无消费记录" in output


def test_an_unknown_member_exits_1(cli: CliRunner, db: Database) -> None:
    for command in ("tier", "rfm"):
        code, output = run(cli, "members", command, "99999")
        assert code == 1
        assert "identity.member_not_found" in output
