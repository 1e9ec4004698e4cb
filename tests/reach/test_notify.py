"""Send by intent: the ledger (fed by pushes) picks a channel WeChat will accept, or the notice
is held or dropped with its reason; delivery happens in a job, against the sandbox."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient

from siyu.core import clock
from siyu.core.clock import FrozenClock
from siyu.core.db import Database
from siyu.identity import service as identity
from siyu.identity.enums import ConsentPurpose
from siyu.reach import service, tasks
from siyu.reach.enums import SendStatus
from siyu.reach.schemas import PreferencesIn, SendRead
from siyu.wechat.inbox import SUCCESS
from tests.support.names import MP_APPID, OA_APPID
from tests.support.reach import Person, member_of, send_count, sends, timeline

pytestmark = pytest.mark.usefixtures("templates")
NewPerson = Callable[[], Person]


def notify(
    db: Database, workspace_id: int, member_id: int, *, key: str | None = None, **kw: str
) -> SendRead:
    intent = service.Intent(
        member_id=member_id,
        template_key="checkin",
        data={"course": kw.pop("course", "晨读")},
        dedupe_key=key,
        category=kw.pop("category", "service"),
        urgency=kw.pop("urgency", "normal"),
    )
    with db.session_scope() as session:
        return service.notify(session, workspace_id, intent)


@pytest.fixture(autouse=True)
def daytime() -> Iterator[FrozenClock]:
    """10:00 in Beijing: outside the default quiet hours (22:00-08:00)."""
    with clock.use_clock(FrozenClock(datetime(2026, 11, 20, 2, 0, tzinfo=UTC))) as c:
        assert isinstance(c, FrozenClock)
        yield c


def test_an_accepted_subscribe_prompt_carries_one_urgent_notice(
    db: Database, workspace_id: int, person: NewPerson, drain: Callable[[], int]
) -> None:
    # given a member who accepted the MP template once
    p = person()
    p.accept()
    member = member_of(db, p.mp_openid)
    # when two urgent notices are asked
    first = notify(db, workspace_id, member, key="a", urgency="urgent")
    second = notify(db, workspace_id, member, key="b", urgency="urgent")
    # then the first takes the credit; the second has no channel and is held with its reason
    assert (first.status, first.channel) == (SendStatus.queued, "mp_subscribe")
    assert (second.status, second.reason) == (SendStatus.held, "no_channel")
    # and the job delivers the first once, to the MP's service notifications
    drain()
    assert p.inbox() == [(MP_APPID, "subscribe")]
    assert sends(db)[0].status == SendStatus.sent
    assert [name for name, _ in timeline(db)] == ["message.sent"]
    # when the member accepts again, the held notice goes out without anyone asking
    p.accept()
    drain()
    assert [s.status for s in sends(db)] == [SendStatus.sent, SendStatus.sent]
    assert p.inbox() == [(MP_APPID, "subscribe")] * 2


def test_a_follower_gets_the_oa_template_and_an_unfollower_does_not(
    db: Database, workspace_id: int, person: NewPerson, drain: Callable[[], int]
) -> None:
    p = person()
    p.follow()
    member = member_of(db, p.oa_openid)
    assert notify(db, workspace_id, member, key="a").channel == "oa_template"
    drain()
    assert p.inbox() == [(OA_APPID, "template")]
    # when they unfollow, a normal notice has no channel left (no window, no credit)
    p.unfollow()
    held = notify(db, workspace_id, member, key="b")
    assert (held.status, held.reason) == (SendStatus.held, "no_channel")
    assert p.inbox() == [(OA_APPID, "template")]


def test_a_message_opens_five_customer_service_sends_and_no_sixth(
    db: Database,
    workspace_id: int,
    person: NewPerson,
    drain: Callable[[], int],
    daytime: FrozenClock,
) -> None:
    # given a member who wrote to the OA (not following: no template either)
    p = person()
    p.write()
    member = member_of(db, p.oa_openid)
    # when six notices are asked
    results = [notify(db, workspace_id, member, key=f"k{i}") for i in range(6)]
    # then five go through the window and the sixth waits
    assert [r.channel for r in results[:5]] == ["customer_service"] * 5
    assert results[5].status == SendStatus.held
    drain()
    # and the sandbox delivered exactly five (it would refuse a sixth with 45047)
    assert p.inbox().count((OA_APPID, "custom")) == 5
    assert [s.status for s in sends(db)][:5] == [SendStatus.sent] * 5
    # when the member writes again (a minute later), the window reopens and the sixth goes out
    daytime.advance(timedelta(minutes=1))
    p.write("还在吗")
    assert p.inbox().count((OA_APPID, "custom")) == 6


def test_the_same_dedupe_key_is_one_send_and_a_rerun_job_sends_nothing(
    db: Database, workspace_id: int, person: NewPerson, drain: Callable[[], int]
) -> None:
    p = person()
    p.follow()
    member = member_of(db, p.oa_openid)
    first = notify(db, workspace_id, member, key="order-1")
    again = notify(db, workspace_id, member, key="order-1")
    assert again.id == first.id
    drain()
    tasks.deliver.call_local(first.id)  # a retried job
    assert send_count(db) == 1
    assert p.inbox() == [(OA_APPID, "template")]


def test_preferences_are_one_for_both_apps(
    db: Database, workspace_id: int, person: NewPerson
) -> None:
    # given a member who follows the OA and holds an MP credit, and turned "activity" off
    p = person()
    p.follow()
    member = member_of(db, p.oa_openid)
    with db.session_scope() as session:
        service.set_preferences(
            session, workspace_id, member, PreferencesIn(muted=["activity"]), "test"
        )
    # then an activity notice is dropped on every channel, with the reason
    dropped = notify(db, workspace_id, member, key="a", category="activity")
    assert (dropped.status, dropped.reason) == (SendStatus.dropped, "category_muted")
    assert timeline(db)[-1][1]["reason"] == "category_muted"
    # and a do-not-contact member gets nothing at all
    with db.session_scope() as session:
        service.set_preferences(
            session, workspace_id, member, PreferencesIn(do_not_contact=True), "test"
        )
    assert notify(db, workspace_id, member, key="b").reason == "do_not_contact"


def test_marketing_needs_consent_and_respects_its_cap(
    db: Database, workspace_id: int, person: NewPerson
) -> None:
    p = person()
    p.follow()
    member = member_of(db, p.oa_openid)
    assert notify(db, workspace_id, member, key="m0", category="marketing").reason == "no_consent"
    with db.session_scope() as session:
        identity.grant_consent(
            session, workspace_id, member, ConsentPurpose.marketing, entry="test", actor="test"
        )
    results = [
        notify(db, workspace_id, member, key=f"m{i}", category="marketing") for i in (1, 2, 3)
    ]
    # the default policy: marketing at most 2 a week
    assert [r.status for r in results] == [SendStatus.queued, SendStatus.queued, SendStatus.dropped]
    assert results[2].reason == "frequency_cap"


def test_quiet_hours_hold_normal_notices_and_let_urgent_ones_through(
    db: Database, workspace_id: int, person: NewPerson, daytime: FrozenClock
) -> None:
    p = person()
    p.follow()
    member = member_of(db, p.oa_openid)
    # at 23:00 in Beijing
    daytime.advance(timedelta(hours=13))
    held = notify(db, workspace_id, member, key="n")
    assert (held.status, held.reason) == (SendStatus.held, "quiet_hours")
    assert held.hold_until == datetime(2026, 11, 21, 0, 0, tzinfo=UTC)  # 08:00 Beijing
    assert notify(db, workspace_id, member, key="u", urgency="urgent").status == SendStatus.queued
    # when the quiet hours end, the sweep sends it
    daytime.advance(timedelta(hours=9, minutes=1))
    with db.session_scope() as session:
        assert service.retry_held(session, service.held_due(session)) == 1
    assert sends(db)[0].channel == "oa_template"


def test_a_held_notice_expires_with_its_reason_on_the_timeline(
    db: Database, workspace_id: int, person: NewPerson, daytime: FrozenClock
) -> None:
    p = person()
    p.write()  # known, but the window will close
    member = member_of(db, p.oa_openid)
    held = notify(db, workspace_id, member, key="x", urgency="urgent", course="直播")
    assert held.channel == "customer_service"  # urgent: MP first, then the window
    late = notify(db, workspace_id, member, key="y", urgency="urgent")
    assert late.status == SendStatus.queued  # still four left in the window
    daytime.advance(timedelta(hours=47, minutes=55))  # inside WeChat's 48 h, not ours
    closed = notify(db, workspace_id, member, key="z", urgency="urgent")
    assert (closed.status, closed.reason) == (SendStatus.held, "no_channel")
    daytime.advance(timedelta(hours=3))
    with db.session_scope() as session:
        service.retry_held(session, service.held_due(session))
    assert sends(db)[-1].reason == "hold_expired"
    assert timeline(db)[-1][1]["reason"] == "hold_expired"


# --- bad input ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({"template_key": "nope", "data": {"course": "晨读"}}, 404, "reach.unknown_template"),
        ({"template_key": "checkin", "data": {"course": "超" * 21}}, 422, "reach.invalid_field"),
        ({"template_key": "checkin", "data": {}}, 422, "reach.invalid_field"),
        (
            {"template_key": "checkin", "data": {"course": "晨读"}, "category": "spam"},
            422,
            "reach.unknown_category",
        ),
    ],
)
def test_bad_notices_are_refused_and_nothing_is_written(
    api: TestClient,
    db: Database,
    person: NewPerson,
    body: dict[str, object],
    status: int,
    code: str,
) -> None:
    p = person()
    p.follow()
    member = member_of(db, p.oa_openid)
    before = timeline(db, "")
    response = api.post("/api/reach/notify", json={"member_id": member, **body})
    assert (response.status_code, response.json()["code"]) == (status, code)
    assert send_count(db) == 0
    assert timeline(db, "") == before
    assert p.inbox() == []


def test_an_erased_member_is_refused(
    api: TestClient, db: Database, workspace_id: int, person: NewPerson
) -> None:
    p = person()
    p.follow()
    member = member_of(db, p.oa_openid)
    response = api.post(f"/api/members/{member}/erase")
    assert response.status_code in (200, 201, 202), response.text
    refused = api.post(
        "/api/reach/notify",
        json={"member_id": member, "template_key": "checkin", "data": {"course": "晨读"}},
    )
    assert (refused.status_code, refused.json()["code"]) == (409, "reach.member_erased")
    assert send_count(db) == 0


def test_the_api_notifies_and_shows_the_send_log_and_ledger(
    api: TestClient, db: Database, person: NewPerson
) -> None:
    p = person()
    p.follow()
    p.write()
    member = member_of(db, p.oa_openid)
    sent = api.post(
        "/api/reach/notify",
        json={"member_id": member, "template_key": "checkin", "data": {"course": "晨读"}},
    )
    assert sent.status_code == 200, sent.text
    assert sent.json()["channel"] == "oa_template"
    log = api.get("/api/reach/sends", params={"member_id": member}).json()
    assert [s["id"] for s in log] == [sent.json()["id"]]
    ledger = api.get(f"/api/reach/members/{member}/ledger").json()
    assert ledger["apps"][0]["following"] is True
    assert ledger["apps"][0]["window_left"] == 5
    assert SUCCESS == "success"
