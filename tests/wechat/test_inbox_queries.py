"""The statements the push job sends: pinned for a batch of 1 and of 5 text messages from
members it already knows, the same for both, so that a change adding a statement per push
fails here."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from sqlalchemy import select

from siyu.core.db import Database
from siyu.core.jobs import queue
from siyu.identity.models import TimelineEvent
from siyu.wechat import tasks
from siyu.wechat.models import PushReceipt, PushStatus
from tests.support.names import openid
from tests.support.queries import count_queries
from tests.support.wechat import WeChat, text_push

# Ten a batch, whatever its size, on both backends: claim the receipts, read their apps,
# find the senders' identities, mark the workspace's dynamic segments and lead scores stale
# (one UPDATE each, matching no row once they are), lock reach's ledger rows (a batch
# subscriber), look up which texts are coupon claim keywords (members' batch subscriber),
# read which senders are dormant or churned (audience's), mark the receipts processed; then
# look for more waiting pushes (none). The
# timeline events go in one bulk insert (COPY on PostgreSQL, the driver's executemany on
# SQLite), which the count does not see. (Transaction control is not counted either.)
STATEMENTS = {1: 10, 5: 10}


def waiting(db: Database) -> list[int]:
    with db.session_scope() as session:
        return list(
            session.scalars(
                select(PushReceipt.id)
                .where(PushReceipt.status == PushStatus.received)
                .order_by(PushReceipt.id)
            )
        )


def forget_queued_jobs() -> None:
    while queue.dequeue() is not None:
        pass


@pytest.mark.parametrize("size", [1, 5])
def test_a_batch_of_text_messages_from_known_members_sends_a_fixed_number_of_statements(
    oa: WeChat, db: Database, drain: Callable[[], int], size: int
) -> None:
    # given members who wrote before, and a new message from each stored, waiting for its job
    for i in range(size):
        assert oa.plain(text_push(openid(i + 1), 7000 + i, "之前")).status_code == 200
    drain()
    for i in range(size):
        assert oa.plain(text_push(openid(i + 1), 8000 + i, "现在")).status_code == 200
    forget_queued_jobs()
    batch = waiting(db)
    assert len(batch) == size
    # when one job processes them together
    with count_queries(db.engine) as sent:
        tasks.process_pushes.call_local(batch)
    # then every push is processed, with the number of statements pinned for this batch size
    assert waiting(db) == []
    assert sent.count == STATEMENTS[size], str(sent)
    assert sent.matching("INSERT INTO events") == []
    with db.session_scope() as session:
        pushes = session.scalars(select(PushReceipt).where(PushReceipt.id.in_(batch))).all()
        events = session.scalars(
            select(TimelineEvent).where(TimelineEvent.name == "oa.message")
        ).all()
    assert {p.status for p in pushes} == {PushStatus.processed}
    # each push of the batch recorded once, on its sender's member
    recorded = {e.props["push_id"]: e.member_id for e in events}
    assert {p.id: p.member_id for p in pushes} == {i: recorded[i] for i in batch}
