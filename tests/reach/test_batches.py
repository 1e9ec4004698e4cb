"""Notices in batches: a batch decides as one-by-one decisions would, and a delivery batch calls
WeChat concurrently, each send once, within the token and quota rules."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select, text

from siyu.core import clock
from siyu.core.clock import FrozenClock
from siyu.core.db import Database
from siyu.identity import service as identity
from siyu.identity.models import TimelineEvent
from siyu.reach import service, tasks
from siyu.reach.enums import SendStatus
from siyu.reach.models import ReachCredit, ReachLedger, ReachSend
from siyu.reach.schemas import PreferencesIn
from siyu.sandbox.world import QUOTA_ZONE, SandboxWorld
from siyu.wechat.gateway import API_CALLS
from tests.support.names import OA_APPID
from tests.support.reach import Person, member_of, sends, timeline

pytestmark = pytest.mark.usefixtures("templates")
NewPerson = Callable[[], Person]
DAY1_10H = datetime(2026, 11, 20, 2, 0, tzinfo=UTC)  # 10:00 in Beijing


@pytest.fixture(autouse=True)
def daytime() -> Iterator[FrozenClock]:
    with clock.use_clock(FrozenClock(DAY1_10H)) as c:
        assert isinstance(c, FrozenClock)
        yield c


def intent(member: int, key: str, category: str = "service", urgency: str = "urgent") -> Any:
    return service.Intent(
        member, "checkin", {"course": "晨读"}, category=category, urgency=urgency, dedupe_key=key
    )


def snapshot(session: Any) -> dict[str, Any]:
    """What a decision writes: the sends, the ledger's counts and the timeline."""
    rows = session.execute(
        select(
            ReachSend.dedupe_key,
            ReachSend.member_id,
            ReachSend.status,
            ReachSend.channel,
            ReachSend.reason,
            ReachSend.app_id,
            ReachSend.openid,
            ReachSend.hold_until,
        ).order_by(ReachSend.dedupe_key)
    ).all()
    credits = session.execute(
        select(ReachCredit.member_id, ReachCredit.used).order_by(ReachCredit.id)
    ).all()
    windows = session.execute(
        select(ReachLedger.member_id, ReachLedger.app_id, ReachLedger.window_used).order_by(
            ReachLedger.id
        )
    ).all()
    events = session.execute(
        select(TimelineEvent.member_id, TimelineEvent.name, TimelineEvent.props)
        .where(TimelineEvent.name.startswith("message."))
        .order_by(TimelineEvent.member_id, TimelineEvent.id)
    ).all()
    keyed = {row[0]: tuple(row[1:]) for row in rows}
    return {
        "sends": [tuple(r) for r in rows],
        "credits": [tuple(r) for r in credits],
        "windows": [tuple(r) for r in windows],
        # send ids differ between the two runs: the timeline names the send by its key
        "events": [
            (m, name, {**props, "send_id": _key_of(session, props["send_id"])})
            for m, name, props in events
        ],
        "keys": sorted(keyed),
    }


def _key_of(session: Any, send_id: int) -> str:
    return str(session.scalar(select(ReachSend.dedupe_key).where(ReachSend.id == send_id)))


def test_a_batch_decides_every_kind_as_one_by_one_does(
    db: Database, workspace_id: int, person: NewPerson, daytime: FrozenClock
) -> None:
    # given members in every state a decision distinguishes
    old_writer = person()
    old_writer.write()  # day 1, 10:00: this window will have closed
    daytime.advance(timedelta(hours=61))  # day 3, 23:00 in Beijing: quiet hours
    dnc, muted, no_consent, capped, sleeper, credit, writer, follower = (person() for _ in range(8))
    for p in (dnc, muted, no_consent, capped, sleeper, follower):
        p.follow()
    credit.accept()
    writer.write()
    m = {
        name: member_of(db, p.oa_openid if name != "credit" else p.mp_openid)
        for name, p in {
            "dnc": dnc,
            "muted": muted,
            "no_consent": no_consent,
            "capped": capped,
            "sleeper": sleeper,
            "credit": credit,
            "writer": writer,
            "follower": follower,
            "old_writer": old_writer,
        }.items()
    }
    with db.session_scope() as session:
        service.set_preferences(
            session, workspace_id, m["dnc"], PreferencesIn(do_not_contact=True), "t"
        )
        service.set_preferences(
            session, workspace_id, m["muted"], PreferencesIn(muted=["activity"]), "t"
        )
        service.notify(session, workspace_id, intent(m["capped"], "earlier", "prompt"))
    batch = [
        intent(m["dnc"], "k-dnc"),  # opted out of everything
        intent(m["muted"], "k-muted", "activity"),  # opted out of the category
        intent(m["no_consent"], "k-consent", "marketing"),  # marketing without consent
        intent(m["capped"], "k-cap", "prompt"),  # the prompt cap: once a day
        intent(m["sleeper"], "k-quiet", urgency="normal"),  # quiet hours: held
        intent(m["credit"], "k-credit-1"),  # one credit: the first takes it
        intent(m["credit"], "k-credit-2"),  # no credit left, nothing else: held
        *(intent(m["writer"], f"k-window-{i}") for i in range(6)),  # 5 fit in the window
        intent(m["old_writer"], "k-closed"),  # the window closed: held
        intent(m["follower"], "k-follow-1", "prompt"),  # reachable: the OA template
        intent(m["follower"], "k-follow-2", "prompt"),  # the cap counts the batch's own
        intent(m["follower"], "k-follow-1", "prompt"),  # the same notice twice: one send
    ]

    def run(decide: Callable[[Any], object]) -> dict[str, Any]:
        session = db.sessions()
        try:
            decide(session)
            session.flush()
            return snapshot(session)
        finally:
            session.rollback()
            session.close()

    # when the batch is decided one notice at a time, and then all at once
    one_by_one = run(lambda s: [service.notify(s, workspace_id, i) for i in batch])
    at_once = run(lambda s: service.notify_many(s, workspace_id, batch))
    # then both write the same sends, spend the same quota and tell the same timeline
    assert at_once == one_by_one
    decided = {row[0]: row[2:5] for row in at_once["sends"]}
    assert decided == {
        "earlier": (SendStatus.queued, "oa_template", None),
        "k-dnc": (SendStatus.dropped, None, "do_not_contact"),
        "k-muted": (SendStatus.dropped, None, "category_muted"),
        "k-consent": (SendStatus.dropped, None, "no_consent"),
        "k-cap": (SendStatus.dropped, None, "frequency_cap"),
        "k-quiet": (SendStatus.held, None, "quiet_hours"),
        "k-credit-1": (SendStatus.queued, "mp_subscribe", None),
        "k-credit-2": (SendStatus.held, None, "no_channel"),
        **{f"k-window-{i}": (SendStatus.queued, "customer_service", None) for i in range(5)},
        "k-window-5": (SendStatus.held, None, "no_channel"),
        "k-closed": (SendStatus.held, None, "no_channel"),
        "k-follow-1": (SendStatus.queued, "oa_template", None),
        "k-follow-2": (SendStatus.dropped, None, "frequency_cap"),
    }
    assert [used for _m, used in at_once["credits"]] == [1]
    assert sorted(e[2]["reason"] for e in at_once["events"]) == sorted(
        ["do_not_contact", "category_muted", "no_consent", "frequency_cap", "frequency_cap"]
    )


def test_a_batch_skips_erased_members_and_refuses_bad_data_whole(
    db: Database, workspace_id: int, person: NewPerson
) -> None:
    kept, gone = person(), person()
    for p in (kept, gone):
        p.follow()
    members = [member_of(db, kept.oa_openid), member_of(db, gone.oa_openid)]
    with db.session_scope() as session:
        identity.mark_erased(session, [members[1]])
    with db.session_scope() as session:
        reads = service.notify_many(session, workspace_id, [intent(m, f"e{m}") for m in members])
    assert [r.status if r else None for r in reads] == [SendStatus.queued, None]
    # a field that breaks its rule refuses the whole batch: nothing more is written
    bad = service.Intent(members[0], "checkin", {"course": "超" * 21}, dedupe_key="bad")
    with pytest.raises(Exception, match="course") as refused, db.session_scope() as session:
        service.notify_many(session, workspace_id, [intent(members[0], "fine"), bad])
    assert getattr(refused.value, "code", "") == "reach.invalid_field"
    assert [s.dedupe_key for s in sends(db)] == [f"e{members[0]}"]


def stable_token_calls() -> float:
    return float(API_CALLS.labels("/cgi-bin/stable_token", "0")._value.get())


def test_a_delivery_batch_sends_each_once_with_one_token_refresh(
    db: Database,
    workspace_id: int,
    person: NewPerson,
    world: SandboxWorld,
    drain: Callable[[], int],
) -> None:
    # given twelve followers, and a token siyu holds that another party then force-refreshed
    people = [person() for _ in range(12)]
    for p in people:
        p.follow()
    warm = person()
    warm.follow()
    with db.session_scope() as session:
        service.notify(session, workspace_id, intent(member_of(db, warm.oa_openid), "warm"))
    drain()
    world.stable_token(OA_APPID, "s" * 32, force=True)  # siyu's token dies at once
    before = stable_token_calls()
    with db.session_scope() as session:
        reads = service.notify_many(
            session,
            workspace_id,
            [intent(member_of(db, p.oa_openid), f"b{i}") for i, p in enumerate(people)],
        )
    ids = [r.id for r in reads if r is not None]
    # when the batch's job runs twice at the same moment (a duplicated job)
    start = threading.Barrier(2)

    def job() -> None:
        start.wait(10)
        tasks.deliver_batch.call_local(ids)

    threads = [threading.Thread(target=job) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    # then every send went out once, under one fresh token fetched once
    assert [len(p.inbox()) for p in people] == [1] * 12
    assert {s.status for s in sends(db) if s.id in ids} == {SendStatus.sent}
    assert stable_token_calls() - before == 1
    sent_events = [props["send_id"] for name, props in timeline(db) if name == "message.sent"]
    assert sorted(i for i in sent_events if i in ids) == sorted(ids)


def test_a_spent_daily_quota_stops_the_batch_and_the_backlog_drains_later(
    db: Database,
    workspace_id: int,
    person: NewPerson,
    world: SandboxWorld,
    daytime: FrozenClock,
) -> None:
    # given five followers' notices and an OA with one template send left today
    people = [person() for _ in range(5)]
    for p in people:
        p.follow()
    account = world.account(OA_APPID)
    today = world.now().astimezone(QUOTA_ZONE).date()
    account.quota[("template_send", today)] = 100_000 - 1
    with db.session_scope() as session:
        reads = service.notify_many(
            session,
            workspace_id,
            [intent(member_of(db, p.oa_openid), f"q{i}") for i, p in enumerate(people)],
        )
    ids = [r.id for r in reads if r is not None]
    # when the batch is delivered, WeChat answers 45009 once the quota is spent
    tasks.deliver_sends(ids)
    rows = {s.id: s for s in sends(db)}
    sent = [i for i in ids if rows[i].status == SendStatus.sent]
    waiting = [i for i in ids if rows[i].status == SendStatus.queued]
    # then one went out; the others wait with 45009, nothing failed, nothing twice
    assert (len(sent), len(waiting)) == (1, 4)
    assert {rows[i].errcode for i in waiting} == {45009}
    assert sum(len(p.inbox()) for p in people) == 1
    # when the quota resets the next day and the retries run (twice), the backlog drains once
    daytime.advance(timedelta(days=1))
    tasks.deliver_sends(waiting)
    tasks.deliver_sends(waiting)
    assert {s.status for s in sends(db)} == {SendStatus.sent}
    assert [len(p.inbox()) for p in people] == [1] * 5


@pytest.mark.postgres_only
def test_two_jobs_claim_disjoint_sends_without_waiting(
    db: Database, workspace_id: int, person: NewPerson
) -> None:
    # given three queued notices
    people = [person() for _ in range(3)]
    for p in people:
        p.follow()
    with db.session_scope() as session:
        reads = service.notify_many(
            session,
            workspace_id,
            [intent(member_of(db, p.oa_openid), f"c{i}") for i, p in enumerate(people)],
        )
    a, b, c = (r.id for r in reads if r is not None)
    # when one job has claimed two of them and not committed yet
    first = db.sessions()
    try:
        held = service.claim_batch(first, [a, b])
        # then another job asking for all three takes only the third, without waiting
        with db.session_scope() as session:
            session.execute(text("SET LOCAL lock_timeout = '2s'"))  # a wait would fail
            other = service.claim_batch(session, [a, b, c])
        assert ([o.send_id for o in held], [o.send_id for o in other]) == ([a, b], [c])
    finally:
        first.rollback()
        first.close()
