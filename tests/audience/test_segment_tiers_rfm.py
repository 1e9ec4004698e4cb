"""Segments over lifecycle tiers and RFM cells: a `tier` condition selects the members in the
tiers the last computation gave, an `rfm` condition those in its cells, and an unknown tier is
refused naming its path."""

from __future__ import annotations

from datetime import timedelta

import pytest

from siyu.audience import service as audience
from siyu.audience.enums import RfmCell
from siyu.core.clock import FrozenClock
from siyu.core.db import Database
from siyu.core.errors import SiyuError
from tests.support.tiers import event, ingest, number_of, rfm_rows

pytestmark = pytest.mark.usefixtures("oa_app", "mp_app")
DAY = timedelta(days=1)


def count(db: Database, workspace_id: int, condition: dict[str, object]) -> int:
    with db.session_scope() as session:
        return audience.preview(
            session, workspace_id, {"op": "and", "conditions": [condition]}
        ).count


def test_a_tier_condition_selects_the_computed_tiers(
    db: Database, workspace_id: int, frozen_clock: FrozenClock
) -> None:
    now = frozen_clock.now()
    # given one new member, one dormant and one churned, with their tiers computed
    ingest(
        db,
        workspace_id,
        event(1, "mp.login", now - 2 * DAY),
        event(2, "mp.login", now - 40 * DAY),
        event(3, "mp.login", now - 120 * DAY),
    )
    with db.session_scope() as session:
        audience.compute_tiers(session, workspace_id)
    # then a tier condition counts each, and several tiers count together
    assert count(db, workspace_id, {"kind": "tier", "tiers": ["new"]}) == 1
    assert count(db, workspace_id, {"kind": "tier", "tiers": ["dormant", "churned"]}) == 2
    with db.session_scope() as session:
        ids = audience.preview(
            session, workspace_id, {"op": "not", "conditions": [{"kind": "tier", "tiers": ["new"]}]}
        )
    assert ids.count == 2
    assert number_of(db, 1) not in ids.members


def test_an_rfm_condition_selects_the_buyers_of_a_cell(
    db: Database, workspace_id: int, frozen_clock: FrozenClock
) -> None:
    now = frozen_clock.now()
    # given buyers whose RFM cells are computed
    ingest(
        db,
        workspace_id,
        *(
            event(n, "pay.paid", now - n * 10 * DAY, amount_fen=1000 * n, out_trade_no=f"o{n}")
            for n in range(1, 7)
        ),
    )
    with db.session_scope() as session:
        audience.compute_rfm(session, workspace_id)
    cells = [row.cell for row in rfm_rows(db).values()]
    # then each cell's condition counts what the computation put in it, and all cells, everyone
    for cell in set(cells):
        assert count(db, workspace_id, {"kind": "rfm", "cells": [cell.value]}) == cells.count(cell)
    every = [c.value for c in RfmCell]
    assert count(db, workspace_id, {"kind": "rfm", "cells": every}) == len(cells) == 6


def test_an_unknown_tier_is_refused_naming_its_path(db: Database, workspace_id: int) -> None:
    with db.session_scope() as session, pytest.raises(SiyuError) as refused:
        audience.preview(
            session, workspace_id, {"op": "and", "conditions": [{"kind": "tier", "tiers": ["vip"]}]}
        )
    assert refused.value.code == "audience.invalid_definition"
    assert "conditions[0].tiers" in str(refused.value)
