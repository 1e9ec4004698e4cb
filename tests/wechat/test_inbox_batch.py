"""Pushes processed in batches give what processing them one by one gives; a batch takes only
waiting pushes, and a failing push holds up no other."""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from siyu.core.clock import FrozenClock
from siyu.core.db import Database
from siyu.core.events import bus
from siyu.core.jobs import queue
from siyu.identity import service as identity
from siyu.identity.models import Identity, Member, TimelineEvent
from siyu.identity.schemas import PersonRef
from siyu.reach.models import ReachLedger
from siyu.wechat import inbox, tasks
from siyu.wechat.models import PushReceipt, PushStatus
from siyu.wechat.schemas import Push, TextMessage
from siyu.workspaces import service as workspaces
from siyu.workspaces.enums import AppKind, PushMode
from siyu.workspaces.schemas import AppCreate, AppRead
from tests.support.names import openid
from tests.support.wechat import WeChat, cdata_xml, text_push

T0 = 1763600000  # the pushes' CreateTime
T0_AT = datetime.fromtimestamp(T0, UTC)
UNIONID = "oUnion00000000000000000001"


def follow(who: str, at: int, event: str = "subscribe") -> str:
    return cdata_xml(
        {
            "ToUserName": "gh_test",
            "FromUserName": who,
            "CreateTime": at,
            "MsgType": "event",
            "Event": event,
        }
    )


def a_workspace(db: Database, appid: str) -> AppRead:
    with db.session_scope() as session:
        workspace = workspaces.create_workspace(session, f"品牌 {appid[-4:]}")
        return workspaces.add_app(
            session,
            workspace.id,
            AppCreate(
                kind=AppKind.oa_service,
                appid=appid,
                name="服务号",
                token="pushtoken",
                aes_key="a" * 43,
                push_mode=PushMode.compatible,  # the scenario is pushed plaintext
            ),
        )


def waiting(db: Database, app: AppRead) -> list[int]:
    with db.session_scope() as session:
        return list(
            session.scalars(
                select(PushReceipt.id)
                .where(PushReceipt.app_id == app.id, PushReceipt.status == PushStatus.received)
                .order_by(PushReceipt.id)
            )
        )


def forget_queued_jobs() -> None:
    while queue.dequeue() is not None:
        pass


def scenario(
    db: Database, client: TestClient, app: AppRead, process: Callable[[list[int]], None]
) -> None:
    """One history, processed with `process` where pushes wait: a merge between storing and
    processing, a new follower writing at once, an unfollow, a retried message."""
    wechat = WeChat(client, app.appid)
    # given two members who wrote before (processed), and a third known by UnionID only
    for i, who in enumerate((openid(1), openid(2))):
        assert wechat.plain(text_push(who, 100 + i, "之前", T0 - 600)).text == "success"
    forget_queued_jobs()
    process(waiting(db, app))
    with db.session_scope() as session:
        union_member = identity.resolve_member(
            session, app, PersonRef(appid=app.appid, openid=openid(9), unionid=UNIONID)
        )
    # and a burst stored, waiting for its jobs
    burst = [
        text_push(openid(1), 200, "一", T0),
        follow(openid(3), T0 + 1),  # a new follower
        text_push(openid(3), 201, "新人", T0 + 2),
        text_push(openid(2), 202, "再见前", T0 + 3),
        follow(openid(2), T0 + 4, "unsubscribe"),
        text_push(openid(1), 203, "二", T0 + 5),
        text_push(openid(1), 200, "一", T0),  # WeChat's retry of the first: stored once
        text_push(openid(4), 204, "路人", T0 + 6),
        text_push(openid(4), 205, "路人二", T0 + 7),
    ]
    for body in burst:
        assert wechat.plain(body).text == "success"
    forget_queued_jobs()
    # and openid 1's UnionID found since: its member joins the UnionID's (a merge)
    with db.session_scope() as session:
        joined = identity.resolve_member(
            session, app, PersonRef(appid=app.appid, openid=openid(1), unionid=UNIONID)
        )
    assert joined.id == union_member.id
    assert joined.merged_ids
    # when the waiting pushes are processed, and their job runs a second time
    batch = waiting(db, app)
    assert len(batch) == len(burst) - 1
    process(batch)
    process(batch)
    assert waiting(db, app) == []


def rows(db: Database, app: AppRead) -> dict[str, list[tuple[Any, ...]]]:
    """What processing wrote for this app's workspace, with ids replaced by what they name
    (members by number, pushes by dedupe key), so that two workspaces compare."""
    with db.session_scope() as session:
        members = list(
            session.scalars(select(Member).where(Member.workspace_id == app.workspace_id))
        )
        number: dict[int | None, int | None] = {m.id: m.number for m in members}
        number[None] = None
        pushes = list(session.scalars(select(PushReceipt).where(PushReceipt.app_id == app.id)))
        key = {p.id: p.dedupe_key for p in pushes}
        return {
            "members": sorted(
                (m.number, m.status, number[m.merged_into_id], m.created_at) for m in members
            ),
            "identities": sorted(
                (i.kind, i.value, number[i.member_id])
                for i in _all(session, Identity, Identity.workspace_id == app.workspace_id)
            ),
            "events": sorted(
                (
                    number[e.member_id],
                    number[e.origin_member_id],
                    e.name,
                    e.ts,
                    e.channel,
                    e.received_at,
                    sorted({**e.props, "push_id": key.get(e.props.get("push_id", 0))}.items()),
                )
                for e in _all(
                    session, TimelineEvent, TimelineEvent.workspace_id == app.workspace_id
                )
            ),
            "ledger": sorted(
                (
                    number[r.member_id],
                    r.openid,
                    r.following,
                    r.follow_changed_at,
                    r.window_opened_at,
                    r.window_used,
                )
                for r in _all(session, ReachLedger, ReachLedger.app_id == app.id)
            ),
            "pushes": sorted((p.dedupe_key, p.status, number[p.member_id]) for p in pushes),
        }


def _all(session: Session, model: Any, where: Any) -> list[Any]:
    return list(session.scalars(select(model).where(where)))


def test_a_batch_gives_what_one_by_one_gives(
    db: Database, client: TestClient, frozen_clock: FrozenClock
) -> None:
    # given the same history in two workspaces, processed one by one in the first
    one_by_one_app = a_workspace(db, "wx0000000000000001")
    batched_app = a_workspace(db, "wx0000000000000002")

    def one_by_one(ids: list[int]) -> None:
        for push_id in ids:
            with db.session_scope() as session:
                inbox.process(session, push_id)

    def batched(ids: list[int]) -> None:
        tasks.process_pushes.call_local(ids)

    scenario(db, client, one_by_one_app, one_by_one)
    # when the second processes it in batches
    scenario(db, client, batched_app, batched)
    # then both wrote the very same rows
    expected, got = rows(db, one_by_one_app), rows(db, batched_app)
    assert got == expected
    # and those rows say what happened: the merged member's pushes are the survivor's, the
    # unfollower's window is closed, the retry recorded once, the new follower dated by the push
    [survivor] = [number for _, value, number in got["identities"] if value == UNIONID]
    assert [p for p in got["pushes"] if p[0] == "m:200"] == [
        ("m:200", PushStatus.processed, survivor)
    ]
    [unfollower] = [r for r in got["ledger"] if r[1] == openid(2)]
    assert unfollower[2:5] == (False, T0_AT + timedelta(seconds=4), None)
    assert len(got["events"]) == 2 + len(got["pushes"]) - 2  # one each, the earlier two too


def test_a_job_takes_only_waiting_pushes_and_then_every_other_waiting_one(
    db: Database, client: TestClient, oa_app: AppRead
) -> None:
    # given three stored pushes, the first already processed, their jobs lost
    wechat = WeChat(client, oa_app.appid)
    for i in range(3):
        wechat.plain(text_push(openid(1), 300 + i))
    forget_queued_jobs()
    first, *others = waiting(db, oa_app)
    with db.session_scope() as session:
        assert inbox.process(session, first)
    seen: list[int] = []

    def count(_session: Any, push: Push) -> None:
        seen.append(push.push_id)

    # when a job for the first alone runs
    bus.subscribe(Push, count)
    try:
        tasks.process_pushes.call_local([first])
    finally:
        bus.unsubscribe(Push, count)
    # then it processed the other two (waiting, oldest first), and the first not again
    assert seen == others
    assert waiting(db, oa_app) == []


def test_a_failing_push_holds_up_no_other_in_its_batch(
    db: Database, client: TestClient, oa_app: AppRead
) -> None:
    # given three waiting pushes, the second of which breaks a subscriber
    wechat = WeChat(client, oa_app.appid)
    for i, content in enumerate(("好", "坏", "好")):
        wechat.plain(text_push(openid(i + 1), 400 + i, content))
    forget_queued_jobs()
    ids = waiting(db, oa_app)

    def explode(_session: Any, push: Push) -> None:
        if isinstance(push, TextMessage) and push.content == "坏":
            raise RuntimeError("a subscriber broke")

    bus.subscribe(Push, explode)
    try:
        # when their job runs (its last try: it sets the failing one aside, raising nothing)
        tasks.process_pushes.call_local(ids)
    finally:
        bus.unsubscribe(Push, explode)
    # then the others are processed, and the failing one is set aside with its error, having
    # left nothing behind (no member, no event)
    with db.session_scope() as session:
        status = dict(session.execute(select(PushReceipt.id, PushReceipt.status)).all())
        error = session.scalar(select(PushReceipt.error).where(PushReceipt.id == ids[1]))
    assert error is not None
    assert "a subscriber broke" in error
    assert status == {
        ids[0]: PushStatus.processed,
        ids[1]: PushStatus.failed,
        ids[2]: PushStatus.processed,
    }
    with db.session_scope() as session:
        recorded = {e.props["push_id"] for e in _all(session, TimelineEvent, TimelineEvent.id > 0)}
        senders = set(
            session.scalars(
                select(Identity.value).where(Identity.workspace_id == oa_app.workspace_id)
            )
        )
    assert recorded == {ids[0], ids[2]}
    assert senders == {openid(1), openid(3)}


@pytest.mark.postgres_only
def test_workers_processing_batches_of_the_same_new_senders_at_once_do_each_push_once(
    db: Database, oa: WeChat, oa_app: AppRead
) -> None:
    # given a burst from 80 people never seen, each writing ten times: four batches or more
    senders, each = 80, 10
    count = senders * each
    assert count >= 4 * inbox.BATCH_SIZE
    for i in range(count):
        who = openid(i % senders)
        assert oa.plain(text_push(who, 900_000 + i, f"第{i}条", T0 + i)).text == "success"
    forget_queued_jobs()
    # when four workers drain the waiting pushes at the same time
    barrier = threading.Barrier(4)

    def work(_: int) -> None:
        barrier.wait()
        tasks.process_pushes.call_local([])

    with ThreadPoolExecutor(4) as pool:
        list(pool.map(work, range(4)))
    # then every push was processed once, on one member per sender, numbered without a gap
    assert waiting(db, oa_app) == []
    with db.session_scope() as session:
        events = session.scalars(select(TimelineEvent).where(TimelineEvent.name == "oa.message"))
        recorded = sorted(e.props["push_id"] for e in events)
        numbers = sorted(session.scalars(select(Member.number)))
        ledger = {
            r.openid: (r.window_opened_at, r.window_used)
            for r in _all(session, ReachLedger, ReachLedger.app_id == oa_app.id)
        }
        statuses = set(session.scalars(select(PushReceipt.status)))
    assert statuses == {PushStatus.processed}
    assert len(recorded) == count
    assert len(set(recorded)) == count
    assert numbers == list(range(10001, 10001 + senders))
    # and each sender's window was opened by their newest message, whichever batch held it
    last = {openid(i % senders): T0 + i for i in range(count - senders, count)}
    assert ledger == {who: (datetime.fromtimestamp(at, UTC), 0) for who, at in last.items()}
