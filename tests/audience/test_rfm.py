"""RFM: figures from `pay.paid` net of `pay.refunded`, scored 1–5 by quintiles within the
workspace (ties share a score), the eight cells, and the selectable segments embed."""

from __future__ import annotations

from datetime import timedelta

import pytest

from siyu.audience import service as audience
from siyu.audience.enums import RfmCell
from siyu.core.clock import FrozenClock
from siyu.core.db import Database
from tests.support.tiers import event, ingest, member_id, rfm_rows

pytestmark = pytest.mark.usefixtures("oa_app", "mp_app")
DAY = timedelta(days=1)


def compute(db: Database, workspace_id: int) -> None:
    with db.session_scope() as session:
        audience.compute_rfm(session, workspace_id)


def test_refunds_are_netted_and_buyers_only_are_scored(
    db: Database, workspace_id: int, frozen_clock: FrozenClock
) -> None:
    now = frozen_clock.now()
    ingest(
        db,
        workspace_id,
        event(1, "pay.paid", now - 10 * DAY, amount=10_000),
        event(1, "pay.paid", now - 5 * DAY, amount=5_000),
        event(1, "pay.refunded", now - 4 * DAY, amount=4_000),
        event(2, "mp.login", now - DAY),  # never paid
        # a refund alone (an order paid before the history imported) makes no buyer
        event(3, "pay.refunded", now - DAY, amount=100),
    )
    compute(db, workspace_id)
    rows = rfm_rows(db)
    assert set(rows) == {member_id(db, 1)}
    buyer = rows[member_id(db, 1)]
    assert (buyer.frequency, buyer.monetary) == (2, 11_000)
    assert buyer.last_paid_at == now - 5 * DAY
    with db.session_scope() as session:
        assert audience.member_rfm_of(session, member_id(db, 2), 2).buyer is False


def test_quintiles_within_the_workspace_and_ties_share_the_lower_score(
    db: Database, workspace_id: int, frozen_clock: FrozenClock
) -> None:
    now = frozen_clock.now()
    # given ten buyers: amounts 1..10 thousand fen except two tied at 4 000 (ranks 4 and 5,
    # which NTILE would put in quintiles 2 and 3); paid on ten different days; one order each
    # except the last two, who paid twice
    amounts = [1, 2, 3, 4, 4, 6, 7, 8, 9, 10]
    events = []
    for who, thousands in enumerate(amounts, start=1):
        events.append(event(who, "pay.paid", now - (20 - who) * DAY, amount=thousands * 1_000))
    for who in (9, 10):
        events.append(event(who, "pay.paid", now - 30 * DAY, amount=0))
    ingest(db, workspace_id, *events)
    # when RFM is computed
    compute(db, workspace_id)
    rows = rfm_rows(db)
    by_who = {who: rows[member_id(db, who)] for who in range(1, 11)}
    # then M: two per quintile, and the tied pair both get the lower one
    assert [by_who[w].m for w in range(1, 11)] == [1, 1, 2, 2, 2, 3, 4, 4, 5, 5]
    # R: the most recent payment scores 5
    assert [by_who[w].r for w in range(1, 11)] == [1, 1, 2, 2, 3, 3, 4, 4, 5, 5]
    # F: eight tied at one order share quintile 1; the two with two orders are 5
    assert [by_who[w].f for w in range(1, 11)] == [1] * 8 + [5, 5]
    # and the cells follow R, F and M high (≥ 3) or low
    assert by_who[10].cell == RfmCell.important_value  # 5 5 5
    assert by_who[8].cell == RfmCell.important_develop  # 4 1 4
    assert by_who[1].cell == RfmCell.lost  # 1 1 1
    assert by_who[5].cell == RfmCell.newcomer  # 3 1 2


def test_each_cell_by_its_high_and_low_scores(
    db: Database, workspace_id: int, frozen_clock: FrozenClock
) -> None:
    now = frozen_clock.now()
    # five buyers per figure level make each score land where intended: member k has
    # recency, frequency and amount chosen to be high (rank 5) or low (rank 1) per the cell
    cells = {
        RfmCell.important_value: (True, True, True),
        RfmCell.important_recall: (False, True, True),
        RfmCell.important_develop: (True, False, True),
        RfmCell.important_retain: (False, False, True),
        RfmCell.potential: (True, True, False),
        RfmCell.newcomer: (True, False, False),
        RfmCell.maintain: (False, True, False),
        RfmCell.lost: (False, False, False),
    }
    events = []
    for who, (r, f, m) in enumerate(cells.values(), start=1):
        last = now - (1 if r else 200) * DAY
        orders = 3 if f else 1
        for k in range(orders):
            events.append(
                event(
                    who, "pay.paid", last - k * 300 * DAY, amount=(90_000 if m else 900) // orders
                )
            )
    ingest(db, workspace_id, *events)
    compute(db, workspace_id)
    rows = rfm_rows(db)
    assert {rows[member_id(db, who)].cell for who in range(1, 9)} == set(cells)
    for who, cell in enumerate(cells, start=1):
        assert rows[member_id(db, who)].cell == cell, (who, cell)
    # and a segment embeds the ids of any cells
    with db.session_scope() as session:
        ids = set(
            session.scalars(
                audience.rfm_member_ids(workspace_id, [RfmCell.lost, RfmCell.important_value])
            )
        )
    assert ids == {member_id(db, 1), member_id(db, 8)}


def test_a_rerun_replaces_the_scores(
    db: Database, workspace_id: int, frozen_clock: FrozenClock
) -> None:
    now = frozen_clock.now()
    ingest(db, workspace_id, event(1, "pay.paid", now - DAY, amount=500))
    compute(db, workspace_id)
    compute(db, workspace_id)
    assert len(rfm_rows(db)) == 1
    ingest(db, workspace_id, event(1, "pay.refunded", now, amount=500))
    compute(db, workspace_id)
    assert rfm_rows(db)[member_id(db, 1)].monetary == 0
