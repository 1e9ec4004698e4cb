"""WeChat failing does not hold up pushes, and a UnionID it did not give is asked again later."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from siyu import worker
from siyu.core.clock import FrozenClock
from siyu.core.config import Settings, install_settings
from siyu.core.db import Database
from siyu.core.jobs import lanes, queue
from siyu.identity.enums import IdentityKind
from siyu.identity.models import Identity
from siyu.sandbox.world import Outage, SandboxWorld
from siyu.wechat import tasks, unionid
from siyu.wechat.models import PushReceipt, PushStatus, UnionidFetch
from siyu.workspaces.schemas import AppRead
from tests.support.names import OA_APPID
from tests.support.sandbox import follower
from tests.support.wechat import WeChat, cdata_xml, text_push


@pytest.fixture(autouse=True)
def jobs_call_the_sandbox(
    settings: Settings, sandbox_server: tuple[object, str], client: TestClient
) -> Iterator[None]:
    sandbox = {"wechat_api_base": sandbox_server[1], "fetch_follower_unionid": True}
    install_settings(settings.model_copy(update=sandbox))
    yield
    install_settings(settings)


def subscribe_push(openid: str, create_time: int) -> str:
    return cdata_xml(
        {
            "ToUserName": "gh_e136c6e50636",
            "FromUserName": openid,
            "CreateTime": create_time,
            "MsgType": "event",
            "Event": "subscribe",
        }
    )


def wait_for(condition: Callable[[], bool], seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)  # polling a condition under a deadline, not timing a result
    return condition()


def processed(db: Database) -> int:
    with db.session_scope() as session:
        query = select(func.count()).where(PushReceipt.status == PushStatus.processed)
        return int(session.scalar(query) or 0)


def fetches(db: Database) -> dict[str, tuple[int, bool]]:
    """Remembered fetches by openid: (attempts, whether a next attempt is planned)."""
    with db.session_scope() as session:
        rows = session.scalars(select(UnionidFetch)).all()
        return {r.openid: (r.attempts, r.next_attempt_at is not None) for r in rows}


def unionid_owner(db: Database, value: str) -> int | None:
    with db.session_scope() as session:
        query = select(Identity.member_id).where(
            Identity.kind == IdentityKind.unionid, Identity.value == value
        )
        return session.scalars(query).first()


def openid_owner(db: Database, value: str) -> int | None:
    with db.session_scope() as session:
        query = select(Identity.member_id).where(
            Identity.kind == IdentityKind.openid, Identity.value == value
        )
        return session.scalars(query).first()


def test_pushes_are_processed_while_wechat_hangs_and_the_unionid_lands_after_it_recovers(
    oa: WeChat,
    oa_app: AppRead,
    db: Database,
    world: SandboxWorld,
    frozen_clock: FrozenClock,
    drain: Callable[[], int],
) -> None:
    # given WeChat's API hanging (a held call, then -1), and workers as `siyu worker` runs
    # them: ONE thread for pushes, one for calls to WeChat
    hang = world.fail(Outage("/cgi-bin/", hold=threading.Event()))
    pushes = worker.EmbeddedConsumer(queue, workers=1, worker_type="thread", periodic=False)
    calls = worker.lane_consumer(1)
    pushes.start()
    calls.start()
    try:
        # when a new follower subscribes, and their UnionID fetch is stuck inside WeChat
        user, first = follower(world)
        oa.plain(subscribe_push(first, 1714112445))
        assert wait_for(lambda: hang.calls >= 1, 15), "the UnionID fetch never reached WeChat"
        # and two more people write while it is stuck
        others = [follower(world)[1] for _ in range(2)]
        for n, openid in enumerate(others):
            oa.plain(text_push(openid, 8100 + n, "在吗"))
        # then every push is processed while the fetch still hangs
        assert wait_for(lambda: processed(db) == 3, 15), "pushes waited behind WeChat"
        assert hang.hold is not None
        assert not hang.hold.is_set()
        assert unionid_owner(db, user.unionid) is None
        # when WeChat answers -1 instead of hanging, every fetch gives up and is remembered
        world.fail(Outage("/cgi-bin/"))
        world.recover(hang)
        assert wait_for(lambda: set(fetches(db)) == {first, *others}, 30), fetches(db)
    finally:
        world.recover()
        calls.stop(graceful=True)
        pushes.stop(graceful=True)
    assert all(planned for _attempts, planned in fetches(db).values())
    assert drain() == 0  # nothing waits in the queue: the retry lives in the database
    # when WeChat has recovered and the retry is due, the periodic sweep runs
    frozen_clock.advance(unionid.delay_after(1) + timedelta(seconds=1))
    tasks.retry_unionid_fetches.call_local()
    assert lanes["wechat"].pending_count() == 3
    drain()
    # then the UnionID lands on the follower's member, and nothing is left to retry
    assert unionid_owner(db, user.unionid) == openid_owner(db, first)
    assert fetches(db) == {}


def test_a_fetch_that_fails_again_waits_longer_and_is_given_up_after_its_attempts(
    oa_app: AppRead, db: Database, world: SandboxWorld, frozen_clock: FrozenClock
) -> None:
    # given WeChat answering -1 to everything
    world.fail(Outage("/cgi-bin/"))
    user, openid = follower(world)
    delays = []
    try:
        for _ in range(unionid.MAX_ATTEMPTS):
            # when the fetch runs and fails
            tasks.fetch_follower_unionid.call_local(oa_app.id, openid)
            with db.session_scope() as session:
                row = session.scalars(select(UnionidFetch)).one()
                if row.next_attempt_at is not None:
                    delays.append(row.next_attempt_at - frozen_clock.now())
            # then the sweep does not take it before it is due
            with db.session_scope() as session:
                assert unionid.requeue_due(session) == 0
    finally:
        world.recover()
    # the delays double from a minute, capped, and the last failure plans nothing more
    assert delays[:4] == [timedelta(minutes=m) for m in (1, 2, 4, 8)]
    assert max(delays) == timedelta(hours=6)
    assert len(delays) == unionid.MAX_ATTEMPTS - 1
    assert fetches(db) == {openid: (unionid.MAX_ATTEMPTS, False)}
    assert unionid_owner(db, user.unionid) is None


def test_a_due_fetch_is_enqueued_once_by_two_sweeps(
    oa_app: AppRead, db: Database, world: SandboxWorld, frozen_clock: FrozenClock
) -> None:
    # given a fetch that failed and is now due
    world.fail(Outage("/cgi-bin/user/info"))
    _user, openid = follower(world)
    try:
        tasks.fetch_follower_unionid.call_local(oa_app.id, openid)
    finally:
        world.recover()
    frozen_clock.advance(timedelta(minutes=2))
    # when two sweeps run (two workers, each with its scheduler)
    with db.session_scope() as session:
        first = unionid.requeue_due(session)
    with db.session_scope() as session:
        second = unionid.requeue_due(session)
    # then one enqueued it, the other found it leased
    assert (first, second) == (1, 0)
    assert lanes["wechat"].pending_count() == 1
    assert OA_APPID  # the sandbox account the fetch asked about
