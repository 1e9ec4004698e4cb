"""The statements the push job sends: pinned for a batch of 1 and of 5 text messages from
members it already knows, so that a change adding a statement per push fails here."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from sqlalchemy import select

from siyu.core.db import Database
from siyu.core.jobs import queue
from siyu.wechat import tasks
from siyu.wechat.models import PushReceipt, PushStatus
from tests.support.names import openid
from tests.support.queries import count_queries
from tests.support.wechat import WeChat, text_push

# Seven a push today, on both backends, and nothing a batch: lock the receipt, read its app,
# find the sender's identity and member, the timeline event, reach's ledger (a subscriber),
# mark the receipt processed. (Transaction control, BEGIN and SAVEPOINT, is not counted.)
STATEMENTS = {1: 7, 5: 35}


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
    assert len(sent.matching("INSERT INTO events")) == size
