"""A push is accepted once: retries get the same answer, racing deliveries too, jobs run once;
replies over budget go to the job; lost jobs are found again."""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from typing import Any, TypeVar

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select, text

from siyu.core.clock import FrozenClock
from siyu.core.db import Database
from siyu.core.events import bus
from siyu.core.jobs import queue
from siyu.wechat import inbox, tasks
from siyu.wechat.inbox import receive
from siyu.wechat.models import PushReceipt, PushStatus
from siyu.wechat.schemas import Push, Reply, TextMessage, TextReply
from siyu.workspaces.schemas import AppRead
from tests.support.names import openid
from tests.support.wechat import Counts, WeChat, cdata_xml, counts, text_push

T = TypeVar("T")
ReplyWith = Callable[[Callable[[Push], Reply | None]], None]
THREADS = 8


def echo(push: Push) -> Reply | None:
    return TextReply(f"收到：{push.content}") if isinstance(push, TextMessage) else None


def receipts(db: Database) -> list[PushReceipt]:
    with db.session_scope() as session:
        return list(session.scalars(select(PushReceipt).order_by(PushReceipt.id)))


def at_once(count: int, work: Callable[[int], T]) -> list[T]:
    """Run `work(i)` in `count` threads released together by a barrier."""
    barrier = threading.Barrier(count)

    def run(i: int) -> T:
        barrier.wait()
        return work(i)

    with ThreadPoolExecutor(count) as pool:
        return list(pool.map(run, range(count)))


def test_a_retried_message_gets_the_same_answer_and_is_processed_once(
    oa: WeChat, db: Database, drain: Callable[[], int], reply_with: ReplyWith
) -> None:
    # given a secure-mode message answered with an encrypted reply (random IV, so unrepeatable)
    reply_with(echo)
    push = text_push(openid(1), 9001, "第一次")
    first = oa.secure(push)
    # when WeChat delivers it again, before and after its job ran
    again = oa.secure(push)
    assert drain() == 1
    late = oa.secure(push)
    # then every delivery gets the very same bytes, and only one push, member and event exist
    assert first.status_code == again.status_code == late.status_code == 200
    assert first.text == again.text == late.text
    assert "收到：第一次" in oa.open_reply(first.text)
    assert drain() == 0
    assert counts(db) == Counts(pushes=1, members=1, events=1)


def test_a_stored_push_is_encrypted_at_rest_and_reads_back_whole(
    oa: WeChat, db: Database, reply_with: ReplyWith, frozen_clock: FrozenClock
) -> None:
    # given a message answered with an echo
    reply_with(echo)
    answer = oa.secure(text_push(openid(1), 9010, "住址：某路 1 号")).text
    # then the database holds neither the message nor the answer in the clear
    with db.engine.connect() as conn:
        raw = conn.execute(text("SELECT payload, reply, status FROM wechat_pushes")).one()
    assert "某路" not in raw.payload
    assert answer not in raw.reply
    assert raw.status == "received"
    # and the inbox reads them back as they were, with the acceptance time of the clock
    [row] = receipts(db)
    assert "某路" in row.payload
    assert row.reply == answer
    assert row.received_at == frozen_clock.now()


def test_a_retried_event_is_stored_once(oa: WeChat, db: Database, drain: Callable[[], int]) -> None:
    follow = cdata_xml(
        {
            "ToUserName": "gh",
            "FromUserName": openid(1),
            "CreateTime": 1714112445,
            "MsgType": "event",
            "Event": "subscribe",
            "EventKey": "qrscene_a",
        }
    )
    assert [oa.plain(follow).text for _ in range(3)] == ["success"] * 3
    drain()
    assert counts(db) == Counts(pushes=1, members=1, events=1)
    assert receipts(db)[0].dedupe_key == f"e:{openid(1)}:1714112445:subscribe"


def test_same_second_different_events_are_both_kept(
    oa: WeChat, db: Database, drain: Callable[[], int]
) -> None:
    def event(name: str) -> str:
        return cdata_xml(
            {
                "ToUserName": "gh",
                "FromUserName": openid(1),
                "CreateTime": 1714112445,
                "MsgType": "event",
                "Event": name,
                "EventKey": "k",
            }
        )

    oa.plain(event("subscribe"))
    oa.plain(event("CLICK"))
    drain()
    assert counts(db) == Counts(pushes=2, members=1, events=2)


def test_two_sends_finishing_in_one_second_are_two_pushes_and_a_retry_is_one(
    oa: WeChat, db: Database, drain: Callable[[], int]
) -> None:
    # given reports of sends to one user in the same second (a notice retried after an outage
    # finishing beside the next one; two mass sends), each naming its send (MsgID)
    def finish(event: str, msg_id: str, **counts: int) -> str:
        return cdata_xml(
            {
                "ToUserName": "gh",
                "FromUserName": openid(1),
                "CreateTime": 1714112445,
                "MsgType": "event",
                "Event": event,
                "MsgID": msg_id,
                "Status": "success",
                **counts,
            }
        )

    mass = {"TotalCount": 1, "FilterCount": 1, "SentCount": 1, "ErrorCount": 0}
    # when each is delivered, the first one twice (WeChat's retry)
    pushes = [
        finish("TEMPLATESENDJOBFINISH", "101"),
        finish("TEMPLATESENDJOBFINISH", "101"),
        finish("TEMPLATESENDJOBFINISH", "102"),
        finish("MASSSENDJOBFINISH", "201", **mass),
        finish("MASSSENDJOBFINISH", "202", **mass),
    ]
    assert [oa.plain(push).text for push in pushes] == ["success"] * 5
    drain()
    # then each send's report is a push of its own, and the retry is none more
    assert [r.dedupe_key for r in receipts(db)] == [
        f"e:{openid(1)}:1714112445:{event}:{msg_id}"
        for event, msg_id in [
            ("TEMPLATESENDJOBFINISH", "101"),
            ("TEMPLATESENDJOBFINISH", "102"),
            ("MASSSENDJOBFINISH", "201"),
            ("MASSSENDJOBFINISH", "202"),
        ]
    ]


def test_same_msg_id_on_two_apps_is_two_pushes(
    oa: WeChat, mp: WeChat, db: Database, drain: Callable[[], int]
) -> None:
    oa.plain(text_push(openid(1), 1))
    mp.plain(text_push(openid(2), 1))
    assert len(receipts(db)) == 2


@pytest.mark.parametrize("backend_url", ["postgresql"], indirect=True)
def test_racing_deliveries_of_one_push_are_accepted_once(
    oa: WeChat, db: Database, drain: Callable[[], int], reply_with: ReplyWith
) -> None:
    # given a message answered with an encrypted reply, so each attempt computes other bytes,
    # by a handler that holds every delivery until all have opened the push
    together = threading.Barrier(min(THREADS, inbox.REPLY_THREADS))

    def in_step(push: Push) -> Reply | None:
        together.wait(timeout=1.5)
        return echo(push)

    reply_with(in_step)
    push = text_push(openid(1), 9100, "并发")
    duplicates = inbox.PUSHES.labels("duplicate")._value.get()

    # when it arrives THREADS times at once, all racing to store it on concurrent connections
    responses = at_once(THREADS, lambda _i: oa.secure(push))

    # then every delivery got the one stored answer, and one push was stored and processed
    assert {r.status_code for r in responses} == {200}
    assert inbox.PUSHES.labels("duplicate")._value.get() - duplicates == THREADS - 1
    assert len({r.text for r in responses}) == 1
    assert "收到：并发" in oa.open_reply(responses[0].text)
    [row] = receipts(db)
    assert row.reply == responses[0].text
    assert drain() == 1
    assert counts(db) == Counts(pushes=1, members=1, events=1)


@pytest.mark.parametrize("backend_url", ["postgresql"], indirect=True)
def test_racing_deliveries_to_several_processes_are_accepted_once(
    oa: WeChat,
    oa_app: AppRead,
    db: Database,
    client: TestClient,
    drain: Callable[[], int],
    reply_with: ReplyWith,
) -> None:
    # given one inbox per "process", each with its own writer and database connection, and a
    # handler holding every delivery until all have opened the push
    together = threading.Barrier(min(THREADS, inbox.REPLY_THREADS))

    def in_step(push: Push) -> Reply | None:
        together.wait(timeout=1.5)
        return echo(push)

    reply_with(in_step)
    settings = client.app.state.settings  # type: ignore[attr-defined]
    boxes = [inbox.Inbox(db, settings) for _ in range(THREADS)]
    params, body = oa.sealed(text_push(openid(1), 9150, "多进程"))

    # when they all store the same push at once: the unique key decides, in PostgreSQL
    answers = at_once(THREADS, lambda i: boxes[i].receive(oa_app.appid, params, body))

    # then one stored it, the others waited for its commit and gave its answer
    assert sorted(a.duplicate for a in answers) == [False] + [True] * (THREADS - 1)
    assert len({a.body for a in answers}) == 1
    assert "收到：多进程" in oa.open_reply(answers[0].body)
    assert drain() == 1
    assert counts(db) == Counts(pushes=1, members=1, events=1)


@pytest.mark.parametrize("backend_url", ["postgresql"], indirect=True)
def test_racing_runs_of_one_job_process_once(oa: WeChat, db: Database) -> None:
    # given an accepted push whose job was (wrongly) enqueued several times
    seen: list[int] = []

    def count(_session: Any, push: Push) -> None:
        seen.append(push.push_id)

    oa.plain(text_push(openid(1), 9200))
    [row] = receipts(db)
    bus.subscribe(Push, count)
    try:

        def run(_i: int) -> bool:
            with db.session_scope() as session:
                return inbox.process(session, row.id)

        results = at_once(4, run)
    finally:
        bus.unsubscribe(Push, count)
    # then exactly one run processed it
    assert sorted(results) == [False, False, False, True]
    assert seen == [row.id]
    assert counts(db) == Counts(pushes=1, members=1, events=1)


@pytest.mark.parametrize("backend_url", ["postgresql"], indirect=True)
def test_first_pushes_of_one_new_user_make_one_member(oa: WeChat, db: Database) -> None:
    # given several messages of one new user, their jobs running at once
    for i in range(THREADS):
        oa.plain(text_push(openid(1), 9300 + i))
    ids = [r.id for r in receipts(db)]

    def run(i: int) -> bool:
        with db.session_scope() as session:
            return inbox.process(session, ids[i])

    assert at_once(THREADS, run) == [True] * THREADS
    assert counts(db) == Counts(pushes=THREADS, members=1, events=THREADS)


# --- the reply budget ----------------------------------------------------------------------


def test_a_handler_over_budget_is_answered_later_by_the_job(
    oa: WeChat, db: Database, drain: Callable[[], int], client: TestClient, reply_with: ReplyWith
) -> None:
    # given a budget of 100 ms and a handler that stays blocked until the test releases it
    settings = client.app.state.settings  # type: ignore[attr-defined]
    client.app.state.settings = settings.model_copy(update={"push_reply_budget_ms": 100})  # type: ignore[attr-defined]
    release, finished = threading.Event(), threading.Event()
    first_call = True

    def slow(push: Push) -> Reply | None:
        nonlocal first_call
        if first_call:  # the request's attempt: blocked past the budget
            first_call = False
            release.wait(timeout=10)
            finished.set()
        return TextReply("慢")

    reply_with(slow)
    sent: list[tuple[str, Reply]] = []

    def sender(_session: Any, _app: AppRead, push: Push, reply: Reply) -> None:
        sent.append((push.openid, reply))

    previous = inbox.set_late_reply_sender(sender)
    try:
        # when a message arrives
        response = oa.secure(text_push(openid(1), 9400))
        # then WeChat hears "success" while the handler is still blocked: nobody waited for it
        assert response.text == "success"
        assert not finished.is_set()
        release.set()
        assert finished.wait(timeout=10)
        # and the job answers through the late-reply sender (the customer-service API)
        drain()
    finally:
        release.set()
        inbox.set_late_reply_sender(previous)
        client.app.state.settings = settings  # type: ignore[attr-defined]
    assert sent == [(openid(1), TextReply("慢"))]
    assert receipts(db)[0].reply == "success"


def test_a_failing_handler_means_success(
    oa: WeChat, db: Database, drain: Callable[[], int], reply_with: ReplyWith
) -> None:
    def broken(push: Push) -> Reply | None:
        raise RuntimeError("rule table unreadable")

    reply_with(broken)
    response = oa.secure(text_push(openid(1), 9500))
    assert (response.status_code, response.text) == (200, "success")
    assert drain() == 1
    assert counts(db) == Counts(pushes=1, members=1, events=1)


def test_handlers_decline_in_turn_and_the_first_answer_wins(
    oa: WeChat, reply_with: ReplyWith
) -> None:
    reply_with(lambda push: None)
    reply_with(lambda push: TextReply("second"))
    reply_with(lambda push: TextReply("third"))
    assert "<![CDATA[second]]>" in oa.open_reply(oa.secure(text_push(openid(1), 9600)).text)


def test_a_handler_is_asked_only_about_the_pushes_it_answers(
    oa: WeChat, monkeypatch: pytest.MonkeyPatch
) -> None:
    # given a handler of text messages only, and a reply pool that counts what it is given
    asked: list[type[Push]] = []

    def texts(_session: Any, _app: AppRead, push: Push) -> Reply | None:
        asked.append(type(push))
        return TextReply("文字")

    pool, submitted = receive._reply_pool, []

    class Counting:
        def submit(self, work: Callable[[], None]) -> Any:
            submitted.append(work)
            return pool.submit(work)

    monkeypatch.setattr(receive, "_reply_pool", Counting())
    inbox.register_reply_handler(texts, answers=(TextMessage,))
    try:
        # when a menu link is opened (VIEW: nothing answers it; clicks have menu_click rules)
        # and a text message arrives
        click = oa.plain(
            cdata_xml(
                {
                    "ToUserName": "gh",
                    "FromUserName": openid(1),
                    "CreateTime": 1714112445,
                    "MsgType": "event",
                    "Event": "VIEW",
                    "EventKey": "https://example.com/menu",
                }
            )
        )
        message = oa.plain(text_push(openid(1), 9650))
    finally:
        inbox.unregister_reply_handler(texts)
    # then the link event, which no handler answers, was answered without the reply pool
    assert click.text == "success"
    assert "<![CDATA[文字]]>" in message.text
    assert asked == [TextMessage]
    assert len(submitted) == 1


# --- jobs that fail or get lost ------------------------------------------------------------


def test_a_job_failing_on_its_last_try_marks_the_push_failed(
    oa: WeChat, db: Database, client: TestClient
) -> None:
    def explode(_session: Any, _push: Push) -> None:
        raise RuntimeError("a subscriber broke")

    oa.plain(text_push(openid(1), 9700))
    task = queue.dequeue()
    assert task is not None
    bus.subscribe(Push, explode)
    try:
        queue.execute(task)  # a try with retries left: the push waits for the retry
        assert receipts(db)[0].status == PushStatus.received
        task.retries, task.eta = 0, None  # the last try, due now
        queue.execute(task)
    finally:
        bus.unsubscribe(Push, explode)
    [row] = receipts(db)
    assert row.status == PushStatus.failed
    assert counts(db) == Counts(pushes=1, members=0, events=0)  # the failed try left nothing


def test_a_push_whose_job_was_lost_is_processed_by_the_sweep(
    oa: WeChat, db: Database, drain: Callable[[], int], frozen_clock: FrozenClock
) -> None:
    # given an accepted push whose job vanished (a crash between commit and enqueue)
    oa.plain(text_push(openid(1), 9800))
    queue.storage.flush_queue()
    # when the periodic sweep runs, first too early, then after STALE_AFTER
    with db.session_scope() as session:
        assert inbox.requeue_stale(session) == 0
    frozen_clock.advance(inbox.STALE_AFTER + timedelta(seconds=1))
    tasks.requeue_stale_pushes.call_local()
    # then the push is processed after all (by the wake-up it enqueued)
    assert drain() >= 1
    assert receipts(db)[0].status == PushStatus.processed
    assert counts(db) == Counts(pushes=1, members=1, events=1)


@pytest.mark.parametrize("backend_url", ["postgresql"], indirect=True)
def test_the_writer_stores_on_a_new_connection_when_its_own_died(
    oa: WeChat, db: Database, drain: Callable[[], int]
) -> None:
    # given a writer that keeps its database connection between batches
    assert oa.plain(text_push(openid(1), 9950)).text == "success"
    # when the database drops every other connection (as a restart would)
    with db.engine.connect() as admin:
        dropped = admin.scalar(
            text(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                "WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
        )
    assert dropped
    # then the next push is still stored and answered, not refused with a 500
    response = oa.plain(text_push(openid(1), 9951))
    assert (response.status_code, response.text) == (200, "success")
    assert drain() == 2
    assert counts(db) == Counts(pushes=2, members=1, events=2)


def test_the_inbox_can_be_called_from_a_thread_too(
    oa: WeChat, oa_app: AppRead, db: Database, client: TestClient, drain: Callable[[], int]
) -> None:
    # given the inbox used directly, outside the event loop (as a script or the sandbox might)
    box = inbox.Inbox(db, client.app.state.settings)  # type: ignore[attr-defined]
    push = text_push(openid(1), 9900)
    params, body = oa.sealed(push)
    # when the same push is received twice
    first = box.receive(oa_app.appid, params, body)
    second = box.receive(oa_app.appid, params, body)
    # then it is stored once and the second answer says so
    assert (first.body, first.duplicate) == ("success", False)
    assert (second.body, second.duplicate) == ("success", True)
    assert drain() == 1
    assert counts(db) == Counts(pushes=1, members=1, events=1)


def test_called_from_a_thread_too_a_handler_over_budget_is_answered_later(
    oa: WeChat,
    oa_app: AppRead,
    db: Database,
    client: TestClient,
    drain: Callable[[], int],
    reply_with: ReplyWith,
) -> None:
    # given the inbox used from a thread, a budget of 100 ms and a handler blocked past it
    settings = client.app.state.settings.model_copy(update={"push_reply_budget_ms": 100})  # type: ignore[attr-defined]
    box = inbox.Inbox(db, settings)
    release = threading.Event()
    first_call = True

    def slow(push: Push) -> Reply | None:
        nonlocal first_call
        if first_call:
            first_call = False
            release.wait(timeout=10)
        return TextReply("慢")

    reply_with(slow)
    sent: list[Reply] = []
    previous = inbox.set_late_reply_sender(lambda _s, _a, _p, reply: sent.append(reply))
    params, body = oa.sealed(text_push(openid(1), 9960))
    try:
        # when a message arrives, then "success" comes while the handler is still blocked
        assert box.receive(oa_app.appid, params, body).body == "success"
        release.set()
        # and the job answers through the late-reply sender
        assert drain() == 1
    finally:
        release.set()
        inbox.set_late_reply_sender(previous)
    assert sent == [TextReply("慢")]
