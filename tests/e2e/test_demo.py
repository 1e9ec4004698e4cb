"""The demo of `make run`: sandbox users enroll, pay through the sandbox's Pay and check in
through the Mini Program's endpoints; the earlier days and the previous activity are replayed
so that the review has something to show."""

from __future__ import annotations

from sqlalchemy import func, select

from siyu.community import service
from siyu.community.models import Activity, Checkin
from siyu.community.service import demo
from siyu.sandbox.users import Action, Population
from tests.support.community import Campaign, beijing
from tests.support.http import as_httpx
from tests.support.names import MP_APPID
from tests.support.pay import SIYU


def test_demo_users_enroll_pay_check_in_and_the_review_shows_it(campaign: Campaign) -> None:
    env = campaign.env
    # given the demo matrix, made by `siyu bootstrap --demo` (twice: the second does nothing)
    campaign.at(beijing("2026-11-23", 9))
    with env.db.session_scope() as session:
        current = service.create_demo_matrix(session, env.workspace_id)
        assert service.create_demo_matrix(session, env.workspace_id) is None
    assert current is not None
    # and a sandbox user with a Mini Program session
    member = campaign.member(0)
    env.user.mp_sessions[MP_APPID] = member.token
    users = Population(env.world, http=as_httpx(env.client), siyu_url=SIYU, pay=env.pay)
    # when the user enrolls ten days ago (paying the deposit through the sandbox's Pay) and
    # checks in today
    campaign.at(beijing("2026-11-13", 9))
    enrolled = users.perform(
        Action(kind="enroll", uid=env.user.uid, appid=MP_APPID, channel="poster")
    )
    assert enrolled.ok, enrolled
    campaign.at(beijing("2026-11-23", 9))
    checked = users.perform(Action(kind="checkin", uid=env.user.uid, appid=MP_APPID, text="打卡"))
    assert checked.ok, checked
    # and a second check-in today is refused by siyu, with its reason
    again = users.perform(Action(kind="checkin", uid=env.user.uid, appid=MP_APPID))
    assert not again.ok
    assert again.data["response"]["code"] == "community.already_checked_in"
    # when the demo replays the earlier days and the previous activity, twice
    with env.db.session_scope() as session:
        made = service.replay_demo_checkins(session, env.workspace_id, current, seed=8)
        history = service.replay_demo_history(session, env.workspace_id, seed=8)
    with env.db.session_scope() as session:
        assert service.replay_demo_checkins(session, env.workspace_id, current, seed=8) == 0
        assert service.replay_demo_history(session, env.workspace_id, seed=8) == 0
    # then the enrollment counts today's and the replayed days, and the streak ends today
    assert made > 0
    assert history >= 1
    with env.db.session_scope() as session:
        [enrollment] = service.list_enrollments(session, env.workspace_id, current.id)
        checkins = session.scalar(select(func.count()).select_from(Checkin))
        found = service.activity_review(session, env.workspace_id, service.DEMO_CURRENT)
        activities = session.scalar(select(func.count()).select_from(Activity))
    assert (enrollment.status, enrollment.paid, enrollment.checkins) == ("enrolled", 990, checkins)
    assert enrollment.last_checkin_on is not None
    assert enrollment.last_checkin_on.isoformat() == "2026-11-23"
    assert activities == 2
    # and the review shows the enrollment, the money, the days and where the member came from
    assert found.enrollments == 1
    assert found.by_channel == {"poster": 1}
    assert found.paid_total == 990
    assert sum(day.members for day in found.checkin_rate_by_day) == checkins
    assert found.retention is not None
    assert found.retention.previous == service.DEMO_PREVIOUS
    assert found.retention.re_enrolled == 1


def test_the_operator_ends_the_demo_activity_and_the_refunds_reach_the_sandbox(
    campaign: Campaign,
) -> None:
    env = campaign.env
    # given the demo activity, its users enrolled and paid, and their earlier days replayed
    campaign.at(beijing("2026-11-23", 9))
    with env.db.session_scope() as session:
        current = service.create_demo_matrix(session, env.workspace_id)
    assert current is not None
    campaign.at(beijing("2026-11-08", 9))  # they enrolled two weeks ago
    for index in range(3):
        member = campaign.member(index)
        campaign.enrolled(member, current.id, channel="poster")
    campaign.at(beijing("2026-11-23", 9))
    with env.db.session_scope() as session:
        service.replay_demo_checkins(session, env.workspace_id, current, seed=8)
        enrolled = service.list_enrollments(session, env.workspace_id, current.id)
    url = f"/api/community/activities/{current.id}"
    # when the operator ends it early, computes the settlement and confirms it
    assert campaign.staff.post(f"{url}/end").status_code == 200
    draft = campaign.staff.post(f"{url}/settlement").json()
    assert campaign.staff.post(f"{url}/settlement/confirm").status_code == 202
    env.drain()
    env.pay.tick()
    # then each member gets the deposit back by the rule, and the sandbox's Pay paid exactly that
    expected = {e.member_id: (990 if e.checkins >= demo.REQUIRED else 0) for e in enrolled}
    assert {line["member_id"]: line["refund"] for line in draft["lines"]} == expected
    assert sum(expected.values()) > 0  # the replay makes someone diligent enough
    ledger = env.ledger()
    assert ledger["refunded_total"] == draft["total_refund"] == sum(expected.values())
    assert len(ledger["refunds"]) == sum(1 for v in expected.values() if v)
