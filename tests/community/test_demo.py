"""The demo of `make run`: sandbox users enroll, pay through the sandbox's Pay and check in
through the Mini Program's endpoints; the earlier days and the previous activity are replayed
so that the review has something to show."""

from __future__ import annotations

from sqlalchemy import func, select

from siyu.community import demo, review, service
from siyu.community.models import Activity, Checkin
from siyu.sandbox.users import Action, Population
from tests.conftest import MP_APPID
from tests.wechat.pay.conftest import SIYU

from .conftest import Campaign, beijing


def test_demo_users_enroll_pay_check_in_and_the_review_shows_it(campaign: Campaign) -> None:
    env = campaign.env
    # given the demo matrix, made by `siyu bootstrap --demo` (twice: the second does nothing)
    campaign.at(beijing("2026-11-23", 9))
    with env.db.session_scope() as session:
        current = demo.create_matrix(session, env.workspace_id)
        assert demo.create_matrix(session, env.workspace_id) is None
    assert current is not None
    # and a sandbox user with a Mini Program session
    member = campaign.member(0)
    env.user.mp_sessions[MP_APPID] = member.token
    users = Population(env.world, http=env.client, siyu_url=SIYU, pay=env.pay)
    # when the user enrolls (paying the deposit through the sandbox's Pay) and checks in today
    enrolled = users.perform(
        Action(kind="enroll", uid=env.user.uid, appid=MP_APPID, channel="poster")
    )
    assert enrolled.ok, enrolled
    checked = users.perform(Action(kind="checkin", uid=env.user.uid, appid=MP_APPID, text="打卡"))
    assert checked.ok, checked
    # and a second check-in today is refused by siyu, with its reason
    again = users.perform(Action(kind="checkin", uid=env.user.uid, appid=MP_APPID))
    assert not again.ok
    assert again.data["response"]["code"] == "community.already_checked_in"
    # when the demo replays the earlier days and the previous activity, twice
    with env.db.session_scope() as session:
        made = demo.replay_checkins(session, env.workspace_id, current, seed=8)
        history = demo.replay_history(session, env.workspace_id, seed=8)
    with env.db.session_scope() as session:
        assert demo.replay_checkins(session, env.workspace_id, current, seed=8) == 0
        assert demo.replay_history(session, env.workspace_id, seed=8) == 0
    # then the enrollment counts today's and the replayed days, and the streak ends today
    assert made > 0
    assert history >= 1
    with env.db.session_scope() as session:
        [enrollment] = service.list_enrollments(session, env.workspace_id, current.id)
        checkins = session.scalar(select(func.count()).select_from(Checkin))
        found = review.activity_review(session, env.workspace_id, demo.CURRENT)
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
    assert found.retention.previous == demo.PREVIOUS
    assert found.retention.re_enrolled == 1
