"""Poisoned pushes are isolated, set aside with their error after their tries, listed for
operators and queued again on request (once, however often the button is pressed)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from siyu.core import clock
from siyu.core.db import Database
from siyu.core.events import bus
from siyu.core.jobs import queue
from siyu.security.models import AuditEntry
from siyu.security.schemas import Principal
from siyu.wechat import inbox
from siyu.wechat import service as wechat
from siyu.wechat.models import PushReceipt, PushStatus
from siyu.wechat.schemas import TextMessage
from siyu.workspaces.schemas import AppRead
from tests.support.names import openid
from tests.support.wechat import WeChat, counts, text_push


@pytest.fixture
def poisoned() -> Iterator[set[str]]:
    """A subscriber that raises for the texts in this set, as a buggy handler would."""
    texts: set[str] = set()

    def explode(_session: Any, push: TextMessage) -> None:
        if push.content in texts:
            raise RuntimeError(f"handler broke on {push.content}")

    bus.subscribe(TextMessage, explode)
    yield texts
    bus.unsubscribe(TextMessage, explode)


def statuses(db: Database) -> dict[int, tuple[PushStatus, str | None]]:
    with db.session_scope() as session:
        rows = session.scalars(select(PushReceipt).order_by(PushReceipt.id)).all()
        return {r.id: (r.status, r.error) for r in rows}


def run_every_try(db: Database) -> None:
    """Run the queued processing jobs through all their tries, as the worker would."""
    while (task := queue.dequeue() or next(iter(queue.read_schedule(_far())), None)) is not None:
        queue.execute(task, timestamp=_far())


def _far() -> Any:
    from datetime import UTC, datetime

    return datetime(2100, 1, 1, tzinfo=UTC).replace(tzinfo=None)


def audits(db: Database, action: str) -> int:
    with db.session_scope() as session:
        query = select(func.count()).select_from(AuditEntry).where(AuditEntry.action == action)
        return int(session.scalar(query) or 0)


def test_a_push_whose_handler_raises_is_set_aside_with_its_error_and_others_go_on(
    oa: WeChat, db: Database, poisoned: set[str]
) -> None:
    # given a handler that breaks on one message, and that message among others
    poisoned.add("毒")
    for n, content in enumerate(["早", "毒", "晚"]):
        oa.plain(text_push(openid(n + 1), 9100 + n, content))
    # when the jobs run through every try
    run_every_try(db)
    # then the poisoned push is set aside with its error, the others are processed
    rows = list(statuses(db).values())
    assert [status for status, _ in rows] == [
        PushStatus.processed,
        PushStatus.failed,
        PushStatus.processed,
    ]
    assert rows[1][1] == "RuntimeError: handler broke on 毒"
    # and the stale-push sweep leaves it alone (it is no longer waiting)
    with db.session_scope() as session:
        assert inbox.requeue_stale(session) == 0


def test_an_unreadable_push_is_set_aside(oa: WeChat, oa_app: AppRead, db: Database) -> None:
    # given a stored push whose payload cannot be read (corrupt, or from a build that wrote
    # another shape)
    with db.session_scope() as session:
        row = PushReceipt(
            app_id=oa_app.id, dedupe_key="k-1", msg_type="text", event=None,
            openid=openid(1), create_time=clock.now(), payload="{not json",
            status=PushStatus.received, received_at=clock.now(),
        )  # fmt: skip
        session.add(row)
        session.flush()
        push_id = row.id
    queue.enqueue(queue_task(push_id))
    run_every_try(db)
    status, error = statuses(db)[push_id]
    assert status == PushStatus.failed
    assert error is not None
    assert error.startswith("JSONDecodeError")


def queue_task(push_id: int) -> Any:
    from siyu.wechat import tasks

    return tasks.process_pushes.s([push_id])


def test_one_by_one_rolls_back_only_the_failing_push(
    oa: WeChat, db: Database, poisoned: set[str]
) -> None:
    # given three stored pushes, the second poisoned (what a failing batch falls back to)
    poisoned.add("毒")
    for n, content in enumerate(["早", "毒", "晚"]):
        oa.plain(text_push(openid(n + 1), 9200 + n, content))
    queue.storage.flush_queue()
    ids = sorted(statuses(db))
    # when they are processed one by one in a single transaction
    with db.session_scope() as session:
        failed = inbox.process_one_by_one(session, ids, [], _process)
        inbox.set_aside(session, failed)
    # then the good ones are written, the poisoned one set aside, nothing of it written
    assert list(failed) == [ids[1]]
    assert [s for s, _ in statuses(db).values()] == [
        PushStatus.processed,
        PushStatus.failed,
        PushStatus.processed,
    ]
    assert counts(db).members == 2  # the poisoned sender's member was rolled back with it


def _process(session: Session, push_id: int, late: bool) -> object:
    return inbox.process(session, push_id, answer_late=late)


def test_a_retry_requeues_once_however_often_it_is_asked(
    oa: WeChat,
    db: Database,
    owner: Principal,
    poisoned: set[str],
    drain: Callable[[], int],
) -> None:
    # given a push set aside because its handler broke
    poisoned.add("毒")
    oa.plain(text_push(openid(1), 9300, "毒"))
    run_every_try(db)
    [push_id] = statuses(db)
    with db.session_scope() as session:
        listed = wechat.set_aside_work(session, owner.workspace_id)
    assert [p.id for p in listed.pushes] == [push_id]
    assert listed.pushes_total == 1
    # when the handler is fixed and an operator presses "retry" twice
    poisoned.clear()
    with db.session_scope() as session:
        first = wechat.retry_pushes(session, owner, [push_id])
    with db.session_scope() as session:
        second = wechat.retry_pushes(session, owner, [push_id])
    # then it was queued once, audited once, and processed
    assert (first, second) == ([push_id], [])
    assert audits(db, "wechat.pushes_retried") == 1
    assert drain() == 1
    assert statuses(db)[push_id] == (PushStatus.processed, None)


def test_another_workspace_cannot_retry_a_push(
    oa: WeChat, db: Database, owner: Principal, poisoned: set[str]
) -> None:
    poisoned.add("毒")
    oa.plain(text_push(openid(1), 9400, "毒"))
    run_every_try(db)
    stranger = owner.model_copy(update={"workspace_id": owner.workspace_id + 1000})
    with db.session_scope() as session:
        assert wechat.retry_pushes(session, stranger, list(statuses(db))) == []
    assert [s for s, _ in statuses(db).values()] == [PushStatus.failed]
    assert audits(db, "wechat.pushes_retried") == 0
