"""Delivery outcomes (retries that cannot duplicate, refusals that teach the ledger, job-finish
events) and broadcasts to an audience: throttled, paused, resumed, outcomes per recipient."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient

from siyu.core import clock
from siyu.core.clock import FrozenClock
from siyu.core.config import Settings, current_settings, install_settings
from siyu.core.db import Database
from siyu.core.jobs import queue
from siyu.identity import service as identity
from siyu.reach import service, tasks
from siyu.reach.enums import SendStatus
from siyu.reach.schemas import SendRead
from siyu.sandbox.world import AccountSpec, Follow, SandboxWorld
from siyu.wechat.gateway import WeChatError
from siyu.wechat.tokens import gateway_for
from siyu.workspaces import service as workspaces
from siyu.workspaces.enums import AppKind, PushMode
from siyu.workspaces.schemas import AppCreate
from tests.support.names import MP_APPID, OA_APPID
from tests.support.reach import MP_TEMPLATE, Person, member_of, send_count, sends, timeline
from tests.support.wechat import WeChat, event_push

pytestmark = pytest.mark.usefixtures("templates")
NewPerson = Callable[[], Person]


@pytest.fixture(autouse=True)
def daytime() -> Iterator[FrozenClock]:
    with clock.use_clock(FrozenClock(datetime(2026, 11, 20, 2, 0, tzinfo=UTC))) as c:
        assert isinstance(c, FrozenClock)
        yield c


def notify(db: Database, workspace_id: int, member_id: int, key: str) -> SendRead:
    intent = service.Intent(member_id, "checkin", {"course": "晨读"}, dedupe_key=key)
    with db.session_scope() as session:
        return service.notify(session, workspace_id, intent)


def test_wechat_unreachable_is_retried_and_sends_once(
    db: Database,
    workspace_id: int,
    person: NewPerson,
    settings: Settings,
    sandbox_server: tuple[object, str],
) -> None:
    # given a follower and a notice queued for the OA template
    p = person()
    p.follow()
    send = notify(db, workspace_id, member_of(db, p.oa_openid), "r1")
    # when the job runs while WeChat cannot be reached
    install_settings(settings.model_copy(update={"wechat_api_base": "http://127.0.0.1:9"}))
    tasks.deliver.call_local(send.id)
    # then the send waits for another try, nothing was delivered
    assert (sends(db)[0].status, sends(db)[0].attempts) == (SendStatus.queued, 1)
    assert p.inbox() == []
    # when the retry runs with WeChat back (twice, as a duplicated job would)
    install_settings(settings.model_copy(update={"wechat_api_base": sandbox_server[1]}))
    tasks.deliver.call_local(send.id)
    tasks.deliver.call_local(send.id)
    # then it was sent once
    assert sends(db)[0].status == SendStatus.sent
    assert p.inbox() == [(OA_APPID, "template")]


def test_a_refusal_fails_the_send_and_corrects_the_ledger(
    db: Database, workspace_id: int, person: NewPerson, drain: Callable[[], int]
) -> None:
    # given siyu heard an acceptance the sandbox never granted (a lost state)
    p = person()
    p.accept()
    p.user.credits.clear()
    member = member_of(db, p.mp_openid)
    intent = service.Intent(member, "checkin", {"course": "晨读"}, urgency="urgent")
    with db.session_scope() as session:
        service.notify(session, workspace_id, intent)
    # when the job sends it, WeChat answers 43101
    drain()
    row = sends(db)[0]
    assert (row.status, row.errcode, row.reason) == (SendStatus.failed, 43101, "refused")
    assert timeline(db)[-1][0] == "message.failed"
    # and the ledger no longer counts that credit
    with db.session_scope() as session:
        ledger = service.get_ledger(session, workspace_id, member)
    assert [c.left for c in ledger.credits] == [0]


def test_template_job_finish_marks_delivery_and_user_blocks(
    db: Database, workspace_id: int, person: NewPerson, drain: Callable[[], int], oa: WeChat
) -> None:
    p = person()
    p.follow()
    member = member_of(db, p.oa_openid)
    for key in ("ok", "blocked"):
        notify(db, workspace_id, member, key)
    drain()
    first, second = sends(db)
    at = int(clock.now().timestamp())
    for offset, row, status in ((1, first, "success"), (2, second, "failed:user block")):
        finish = event_push(
            p.oa_openid,
            "TEMPLATESENDJOBFINISH",
            CreateTime=at + offset,
            MsgID=row.msgid,
            Status=status,
        )
        assert oa.plain(finish).status_code == 200
    drain()
    assert [r.status for r in sends(db)] == [SendStatus.delivered, SendStatus.failed]
    assert sends(db)[1].reason == "failed:userblock"


# --- broadcasts ---------------------------------------------------------------------------------


def test_a_broadcast_to_a_tag_is_throttled_paused_resumed_and_reported(
    api: TestClient, db: Database, workspace_id: int, person: NewPerson, drain: Callable[[], int]
) -> None:
    # given three tagged followers and an untagged one
    people = [person() for _ in range(4)]
    for p in people:
        p.follow()
    members = [member_of(db, p.oa_openid) for p in people]
    with db.session_scope() as session:
        identity.tag_members(session, workspace_id, members[:3], "晨读营", actor="test")
    # when a broadcast to the tag is created at 2 a minute
    created = api.post(
        "/api/reach/broadcasts",
        json={
            "name": "开营通知",
            "template_key": "checkin",
            "data": {"course": "晨读营"},
            "tag": "晨读营",
            "per_minute": 2,
        },
    )
    assert created.status_code == 201, created.text
    bid = created.json()["id"]
    assert created.json()["total"] == 3
    # then each minute's run notifies at most two
    tasks.run_broadcasts.call_local()
    assert send_count(db) == 2
    # and a paused broadcast waits
    assert api.post(f"/api/reach/broadcasts/{bid}/pause").json()["status"] == "paused"
    tasks.run_broadcasts.call_local()
    assert send_count(db) == 2
    api.post(f"/api/reach/broadcasts/{bid}/resume")
    tasks.run_broadcasts.call_local()
    drain()
    report = api.get(f"/api/reach/broadcasts/{bid}").json()
    assert (report["status"], report["done"], report["outcomes"]) == ("done", 3, {"sent": 3})
    # and only the tagged followers got it, once each
    assert [len(p.inbox()) for p in people] == [1, 1, 1, 0]
    per_recipient = api.get("/api/reach/sends", params={"broadcast_id": bid}).json()
    assert sorted(s["member_id"] for s in per_recipient) == sorted(members[:3])


def test_a_broadcast_sent_now_starts_at_once_without_the_minute_tick(
    api: TestClient, db: Database, workspace_id: int, person: NewPerson, drain: Callable[[], int]
) -> None:
    # given two tagged followers and an untagged one
    people = [person() for _ in range(3)]
    for p in people:
        p.follow()
    members = [member_of(db, p.oa_openid) for p in people]
    with db.session_scope() as session:
        identity.tag_members(session, workspace_id, members[:2], "晨读营", actor="test")
    # when a broadcast to the tag is sent now, at 1 a minute, and the queue runs (no tick)
    body = {"name": "开营", "template_key": "checkin", "data": {"course": "晨读营"}}
    created = api.post("/api/reach/broadcasts", json={**body, "tag": "晨读营", "per_minute": 1})
    assert created.status_code == 201, created.text
    bid = created.json()["id"]
    drain()
    # then its first batch went out at once
    assert send_count(db) == 1
    assert sum(len(p.inbox()) for p in people) == 1
    # when the start job runs again (a duplicated job)
    tasks.start_broadcast.call_local(bid)
    drain()
    # then it takes no second batch ahead of the tick
    assert send_count(db) == 1
    # and the minute tick carries the rest, each tagged follower getting it once
    tasks.run_broadcasts.call_local()
    drain()
    assert [len(p.inbox()) for p in people] == [1, 1, 0]
    assert api.get(f"/api/reach/broadcasts/{bid}").json()["status"] == "done"


def test_a_broadcast_scheduled_for_later_waits_for_its_minute(
    api: TestClient,
    db: Database,
    workspace_id: int,
    person: NewPerson,
    drain: Callable[[], int],
    daytime: FrozenClock,
) -> None:
    # given a tagged follower
    p = person()
    p.follow()
    with db.session_scope() as session:
        identity.tag_members(session, workspace_id, [member_of(db, p.oa_openid)], "晚课", actor="t")
    # when a broadcast to the tag is scheduled an hour ahead, and the queue runs
    later = (clock.now() + timedelta(hours=1)).isoformat()
    created = api.post(
        "/api/reach/broadcasts",
        json={"name": "晚课", "template_key": "checkin", "data": {"course": "晚课"},
              "tag": "晚课", "scheduled_at": later},
    )  # fmt: skip
    assert created.status_code == 201, created.text
    drain()
    tasks.run_broadcasts.call_local()
    # then nothing is sent before its time
    assert send_count(db) == 0
    # when its minute comes, the tick starts it
    daytime.advance(timedelta(hours=1))
    tasks.run_broadcasts.call_local()
    drain()
    assert p.inbox() == [(OA_APPID, "template")]


def test_a_broadcast_to_nobody_is_refused(api: TestClient, db: Database) -> None:
    response = api.post(
        "/api/reach/broadcasts",
        json={"name": "空", "template_key": "checkin", "data": {"course": "x"}, "tag": "无人"},
    )
    assert (response.status_code, response.json()["code"]) == (422, "reach.empty_audience")
    assert api.get("/api/reach/broadcasts").json() == []


def test_mp_credits_survive_in_the_ledger(
    db: Database, workspace_id: int, person: NewPerson
) -> None:
    p = person()
    p.accept()
    p.accept()
    with db.session_scope() as session:
        ledger = service.get_ledger(session, workspace_id, member_of(db, p.mp_openid))
    assert [(c.template_id, c.left) for c in ledger.credits] == [(MP_TEMPLATE, 2)]
    assert MP_APPID in p.user.openids


def test_an_oa_mass_broadcast_respects_four_a_month_and_never_sends_twice(
    api: TestClient, db: Database, workspace_id: int, person: NewPerson, drain: Callable[[], int]
) -> None:
    # given three followers and one who does not follow, all tagged
    people = [person() for _ in range(4)]
    for p in people[:3]:
        p.follow()
    people[3].write()
    members = [member_of(db, p.oa_openid) for p in people]
    with db.session_scope() as session:
        identity.tag_members(session, workspace_id, members, "全体", actor="test")

    def broadcast(**audience: object) -> int:
        body = {"name": "月报", "mass_appid": OA_APPID, "mass_text": "本月课程表", **audience}
        created = api.post("/api/reach/broadcasts", json=body)
        assert created.status_code == 201, created.text
        tasks.run_broadcasts.call_local()
        drain()
        return int(created.json()["id"])

    # when the first follower already had four broadcasts this month
    for _ in range(4):
        broadcast(member_ids=[members[0]])
    last = broadcast(tag="全体")
    # then the fifth reaches the other followers only, and the first's is dropped with why
    assert [len(p.inbox()) for p in people] == [4, 1, 1, 0]
    report = api.get(f"/api/reach/broadcasts/{last}").json()
    assert report["total"] == 3  # the non-follower is not in a mass audience
    assert report["outcomes"] == {"sent": 2, "dropped": 1}
    dropped = api.get("/api/reach/sends", params={"broadcast_id": last, "status": "dropped"})
    assert [s["reason"] for s in dropped.json()] == ["monthly_mass_cap"]
    # and a mass job run again is answered 45065 by WeChat: nothing is sent twice
    sent = [s for s in sends(db) if s.broadcast_id == last and s.status == SendStatus.sent]
    with db.session_scope() as session:
        for row in sent:
            session.get(type(row), row.id).status = SendStatus.queued  # type: ignore[union-attr]
    tasks.deliver_mass.call_local(last, [s.id for s in sent], "本月课程表")
    assert [len(p.inbox()) for p in people] == [4, 1, 1, 0]
    assert {s.status for s in sends(db) if s.broadcast_id == last} == {
        SendStatus.sent,
        SendStatus.dropped,
    }


SUB_APPID = "wx5b5b5b5b5b5b5b5b"


def test_a_subscription_account_broadcasts_to_all_once_a_day(
    api: TestClient,
    db: Database,
    workspace_id: int,
    world: SandboxWorld,
    client: TestClient,
    push: Callable[[WeChat, str], None],
    drain: Callable[[], int],
    jobs_call_the_sandbox: None,
    daytime: FrozenClock,
) -> None:
    # given a subscription account with two followers (and a user who does not follow)
    world.register(AccountSpec(appid=SUB_APPID, secret="s" * 32, kind="oa_subscription"))
    with db.session_scope() as session:
        workspaces.add_app(
            session,
            workspace_id,
            AppCreate(
                kind=AppKind.oa_subscription, appid=SUB_APPID, name="订阅号",
                entity="示例教育科技有限公司", secret="s" * 32, token="pushtoken", aes_key="a" * 43,
                push_mode=PushMode.compatible,
            ),
        )  # fmt: skip
    users = world.create_users(3)
    chat = WeChat(client, SUB_APPID)
    for user in users[:2]:
        user.follows[SUB_APPID] = Follow(True, world.now(), "ADD_SCENE_SEARCH")
        push(chat, event_push(world.openid(user, SUB_APPID), "subscribe"))
    body = {"name": "早报", "mass_appid": SUB_APPID, "mass_text": "今日单词：resilience"}
    # when the operator broadcasts, and the jobs run twice
    created = api.post("/api/reach/broadcasts", json=body)
    assert created.status_code == 201, created.text
    for _ in range(2):
        tasks.run_broadcasts.call_local()
        drain()
    # then both followers got it once, in one sendall; the other user nothing
    assert [len([i for i in u.inbox if i.via == "mass"]) for u in users] == [1, 1, 0]
    report = api.get(f"/api/reach/broadcasts/{created.json()['id']}").json()
    assert (report["status"], report["outcomes"]) == ("done", {"sent": 2})
    # and a second one the same day, or one to a tag, is refused: nothing more is written
    again = api.post("/api/reach/broadcasts", json={**body, "name": "晚报"})
    assert (again.status_code, again.json()["code"]) == (409, "reach.daily_mass_used")
    tagged = api.post("/api/reach/broadcasts", json={**body, "tag": "全体"})
    assert (tagged.status_code, tagged.json()["code"]) == (422, "reach.invalid_broadcast")
    assert len(api.get("/api/reach/broadcasts").json()) == 1
    # and the sandbox itself refuses a second sendall that day, as WeChat does (45028)
    daytime.advance(timedelta(hours=1))
    with pytest.raises(WeChatError) as refused:
        gateway_for(current_settings(), db).send_mass_to_all(SUB_APPID, "text", {"content": "再来"})
    assert refused.value.errcode == 45028


def test_the_sweep_marks_interrupted_sends_and_redelivers_lost_ones_once(
    db: Database,
    workspace_id: int,
    person: NewPerson,
    drain: Callable[[], int],
    daytime: FrozenClock,
) -> None:
    # given two followers: one's send was claimed by a worker that died mid-call,
    # the other's delivery job was lost before it ran
    interrupted, lost = person(), person()
    for p in (interrupted, lost):
        p.follow()
    first = notify(db, workspace_id, member_of(db, interrupted.oa_openid), "s1")
    second = notify(db, workspace_id, member_of(db, lost.oa_openid), "s2")
    queue.flush()  # both jobs lost
    with db.session_scope() as session:
        assert service.claim(session, first.id) is not None
    # when the sweep runs before the limits, nothing changes
    tasks.sweep_stuck_sends.call_local()
    drain()
    assert {s.id: s.status for s in sends(db)} == {
        first.id: SendStatus.sending,
        second.id: SendStatus.queued,
    }
    # when it runs past them, twice
    daytime.advance(timedelta(hours=3))
    for _ in range(2):
        tasks.sweep_stuck_sends.call_local()
        drain()
    # then the interrupted one failed with an unknown outcome (never sent twice), on the
    # timeline, and the lost one went out once
    rows = {s.id: s for s in sends(db)}
    assert (rows[first.id].status, rows[first.id].reason) == (SendStatus.failed, "outcome_unknown")
    assert rows[second.id].status == SendStatus.sent
    assert (interrupted.inbox(), lost.inbox()) == ([], [(OA_APPID, "template")])
    assert [(name, props["send_id"], props.get("reason")) for name, props in timeline(db)] == [
        ("message.failed", first.id, "outcome_unknown"),
        ("message.sent", second.id, None),
    ]


# --- customer-service sends interrupted mid-send ------------------------------------------------


def written_to(db: Database, workspace_id: int, person: NewPerson) -> tuple[Person, SendRead]:
    """A member who wrote to the OA (not following: its notice goes by customer service)."""
    p = person()
    p.write()
    send = notify(db, workspace_id, member_of(db, p.oa_openid), "cs-1")
    assert send.channel == "customer_service"
    return p, send


def nothing_sends_it_again(db: Database, send_id: int, daytime: FrozenClock) -> None:
    """Every path that delivers a send again: the job run twice, the queue-lost redelivery,
    and the sweep past its limits."""
    tasks.deliver.call_local(send_id)
    tasks.deliver_batch.call_local([send_id])
    tasks.redeliver_queued.call_local()
    daytime.advance(timedelta(hours=3))
    tasks.sweep_stuck_sends.call_local()
    tasks.redeliver_queued.call_local()


def test_a_customer_service_send_whose_worker_died_mid_call_is_sent_at_most_once(
    db: Database, workspace_id: int, person: NewPerson, daytime: FrozenClock
) -> None:
    # given a customer-service notice claimed by a worker whose call reached WeChat before
    # the worker was killed (nothing recorded, its job gone with it)
    p, send = written_to(db, workspace_id, person)
    with db.session_scope() as session:
        [claimed] = service.claim_batch(session, [send.id])
    tasks.call_concurrently(gateway_for(current_settings(), db), [claimed])
    assert p.inbox() == [(OA_APPID, "custom")]
    # when every path that could deliver it runs (a rerun job, a lost queue, the sweep)
    nothing_sends_it_again(db, send.id, daytime)
    # then the user got it once, and the send says its outcome is unknown
    assert p.inbox() == [(OA_APPID, "custom")]
    row = sends(db)[0]
    assert (row.status, row.reason, row.attempts) == (SendStatus.failed, "outcome_unknown", 1)
