"""The push writer: threads that store their push themselves (the reply pool's) and pushes
handed to writer threads (the event loop's) share the writers' places; none is lost, none is
stored twice, every waiting request hears its outcome."""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor

from fastapi.testclient import TestClient
from sqlalchemy import func, select

from siyu.core.db import Database
from siyu.wechat.inbox.writer import WRITERS, Outcome, Pending, Waiter, Writer
from siyu.wechat.models import PushReceipt
from siyu.wechat.schemas import build_push, parse_xml
from siyu.workspaces.schemas import AppRead
from tests.support.names import openid
from tests.support.wechat import text_push

PUSHES = 48


def pending(app: AppRead, i: int) -> tuple[Pending, Future[Outcome]]:
    push = build_push(app.appid, parse_xml(text_push(openid(i % 7 + 1), 61_000 + i).encode()))
    done: Future[Outcome] = Future()
    return Pending(
        app, push, f"answer {i}", False, Waiter(None, done), 1_714_112_445, f"n{i}"
    ), done


def deliver_all(writer: Writer, app: AppRead) -> list[Outcome]:
    """Every push at once from many threads: half stored in passing, half handed over."""
    made = [pending(app, i) for i in range(PUSHES)]

    def deliver(i: int) -> None:
        (writer.store if i % 2 else writer.submit)(made[i][0])

    with ThreadPoolExecutor(max_workers=16) as pool:
        list(pool.map(deliver, range(PUSHES)))
    return [done.result(timeout=30) for _, done in made]


def stored(db: Database) -> int:
    with db.session_scope() as session:
        return int(session.scalar(select(func.count()).select_from(PushReceipt)) or 0)


def test_pushes_stored_in_passing_and_handed_over_are_all_stored_once(
    client: TestClient, db: Database, oa_app: AppRead, drain: Callable[[], int]
) -> None:
    # given a writer with its places
    writer = Writer(db)
    assert WRITERS >= 2
    # when pushes come from many threads at once, some storing in passing, some handing over
    first = deliver_all(writer, oa_app)
    # then each one is answered with its own answer, as stored for the first time
    assert first == [(f"answer {i}", False) for i in range(PUSHES)]
    assert stored(db) == PUSHES
    assert drain() >= 1  # their processing was enqueued
    # and when the same pushes come again, each gets its first answer back, nothing is added
    again = deliver_all(writer, oa_app)
    assert again == [(f"answer {i}", True) for i in range(PUSHES)]
    assert stored(db) == PUSHES
    assert drain() == 0
