"""Sign-in once per Beijing day with streak bonuses; levels up at once and down a level at
the end of a period; expiry and its reminder; the member centre over the MP session."""

from __future__ import annotations

from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from siyu.core.clock import FrozenClock
from siyu.core.db import Database
from siyu.core.errors import SiyuError
from siyu.identity.models import TimelineEvent
from siyu.members import service as members
from siyu.members.enums import EarnTrigger
from siyu.workspaces.schemas import AppRead
from tests.support.points import Loyalty, beijing, mp_login
from tests.support.security import row_counts


def test_sign_in_once_per_beijing_day_around_midnight(
    loyalty: Loyalty, frozen_clock: FrozenClock
) -> None:
    # given a member at 23:59 Beijing (15:59 UTC)
    member = loyalty.member()
    frozen_clock.advance(beijing("2026-11-21", 23, 59) - frozen_clock.now())
    with loyalty.db.session_scope() as session:
        first = members.sign_in(session, loyalty.workspace_id, member, "mp")
    # when they sign in again a minute later, at 00:00 Beijing (16:00 UTC), a new day
    frozen_clock.advance(timedelta(minutes=1))
    with loyalty.db.session_scope() as session:
        second = members.sign_in(session, loyalty.workspace_id, member, "mp")
    # then both count, and the streak grew
    assert (first.day.isoformat(), first.streak) == ("2026-11-21", 1)
    assert (second.day.isoformat(), second.streak) == ("2026-11-22", 2)
    # and a third the same Beijing day is refused, nothing written
    before = row_counts(loyalty.db)
    frozen_clock.advance(timedelta(hours=15))
    with pytest.raises(SiyuError) as refused, loyalty.db.session_scope() as session:
        members.sign_in(session, loyalty.workspace_id, member, "oa")
    assert refused.value.code == "members.already_signed_in"
    assert refused.value.status == 409
    assert row_counts(loyalty.db) == before
    assert loyalty.signins(member) == 2


def test_the_seventh_day_of_a_streak_gives_its_bonus(
    loyalty: Loyalty, frozen_clock: FrozenClock
) -> None:
    loyalty.policy(signin_points=5, streak_bonuses={7: 20})
    member = loyalty.member()
    frozen_clock.advance(beijing("2026-11-21", 8) - frozen_clock.now())
    given = []
    for _day in range(8):
        with loyalty.db.session_scope() as session:
            given.append(members.sign_in(session, loyalty.workspace_id, member, "mp").points)
        frozen_clock.advance(timedelta(days=1))
    assert given == [5, 5, 5, 5, 5, 5, 25, 5]
    # a missed day starts the streak again
    frozen_clock.advance(timedelta(days=1))
    with loyalty.db.session_scope() as session:
        again = members.sign_in(session, loyalty.workspace_id, member, "mp")
    assert again.streak == 1
    assert loyalty.balance(member) == 65


def test_levels_up_at_once_and_down_one_at_the_period_end(
    loyalty: Loyalty, frozen_clock: FrozenClock
) -> None:
    # given yearly periods, three levels, and growth of 1 a yuan
    loyalty.policy(level_period_months=12)
    loyalty.level(1, "银卡", 100)
    loyalty.level(2, "金卡", 500, multiplier=200)
    loyalty.level(3, "黑卡", 2000)
    loyalty.rule(EarnTrigger.pay_paid, 1, growth=1)
    member = loyalty.member()
    # when a payment brings 600 growth
    loyalty.earn(member, EarnTrigger.pay_paid, "pay.paid:A", units=600)
    # then the member is gold at once, and the multiplier doubles the next payment's points
    assert loyalty.account(member).level_rank == 2
    earned = loyalty.earn(member, EarnTrigger.pay_paid, "pay.paid:B", units=10)
    assert earned.points == 20
    # when the year ends with no growth in the next one
    frozen_clock.advance(beijing("2027-01-01", 0, 10) - frozen_clock.now())
    with loyalty.db.session_scope() as session:
        assert members.requalify(session, loyalty.workspace_id) == 1
    assert loyalty.account(member).level_rank == 2  # 610 in 2026 kept gold
    frozen_clock.advance(beijing("2028-01-01", 0, 10) - frozen_clock.now())
    with loyalty.db.session_scope() as session:
        members.requalify(session, loyalty.workspace_id)
        assert members.requalify(session, loyalty.workspace_id) == 0  # once a period
    # then 2027's zero growth dropped one level, on the timeline too
    assert loyalty.account(member).level_rank == 1
    with loyalty.db.session_scope() as session:
        changes = [
            (e.props["from"], e.props["to"], e.props["change"])
            for e in session.scalars(
                select(TimelineEvent)
                .where(TimelineEvent.name == "member.level_changed")
                .order_by(TimelineEvent.id)
            )
        ]
    assert changes == [(0, 2, "upgrade"), (2, 1, "requalify")]


def test_points_expire_after_their_months(loyalty: Loyalty, frozen_clock: FrozenClock) -> None:
    # given 1-month points earned on 20 November (Beijing)
    loyalty.policy(expiry_mode="rolling", expiry_months=1, reminder_days=3)
    loyalty.rule(EarnTrigger.oa_follow, 40)
    member = loyalty.member()
    loyalty.earn(member, EarnTrigger.oa_follow, "follow:x")
    with loyalty.db.session_scope() as session:
        members.spend_points(session, member, 15, "mall:x")
    # when the night of 20 December has not ended, nothing expires
    frozen_clock.advance(beijing("2026-12-20", 23, 59) - frozen_clock.now())
    with loyalty.db.session_scope() as session:
        soon = members.balance_of(session, loyalty.workspace_id, member)
        assert members.expire_due(session).members == 0
    assert soon.expiring_soon == 25
    # then at 00:00 Beijing the rest expires, once
    frozen_clock.advance(timedelta(minutes=2))
    for _ in range(2):
        with loyalty.db.session_scope() as session:
            members.expire_due(session)
    assert loyalty.entries(member)[-1] == ("expire", -25, 0)
    assert len(loyalty.entries(member)) == 3
    assert loyalty.balance(member) == loyalty.lots_sum(member) == 0


def test_the_member_centre_over_the_mp_session(
    app_client: TestClient, db: Database, mp_app: AppRead, loyalty: Loyalty,
    frozen_clock: FrozenClock,
) -> None:  # fmt: skip
    member, headers = mp_login(db, mp_app, "o-centre")
    signed = app_client.post(f"/api/mp/{mp_app.appid}/me/signin", headers=headers)
    assert signed.status_code == 200, signed.text
    again = app_client.post(f"/api/mp/{mp_app.appid}/me/signin", headers=headers)
    assert (again.status_code, again.json()["code"]) == (409, "members.already_signed_in")
    points = app_client.get(f"/api/mp/{mp_app.appid}/me/points", headers=headers).json()
    assert points["balance"] == 5
    assert [e["kind"] for e in points["history"]] == ["earn"]
    calendar = app_client.get(f"/api/mp/{mp_app.appid}/me/signin", headers=headers).json()
    assert calendar["signed_today"] is True
    assert calendar["days"] == ["2026-11-20"]
    level = app_client.get(f"/api/mp/{mp_app.appid}/me/level", headers=headers).json()
    assert level["rank"] == 0
    anonymous = app_client.get(f"/api/mp/{mp_app.appid}/me/points")
    assert anonymous.status_code == 401
    assert loyalty.balance(member) == 5


def test_members_are_reminded_once_before_their_points_expire(
    loyalty: Loyalty, oa_app: AppRead, frozen_clock: FrozenClock
) -> None:
    # given a reach template for the reminder, and 1-month points earned on 20 November
    from siyu.reach import service as reach
    from siyu.reach.models import ReachSend
    from siyu.reach.schemas import TemplateCreate

    with loyalty.db.session_scope() as session:
        reach.add_template(
            session,
            loyalty.workspace_id,
            TemplateCreate(
                key="points_expiry", kind="oa_template", appid=oa_app.appid,
                template_id="tpl-points", title="积分到期提醒",
                fields={"thing1": "points", "time2": "expires_on"},
            ),
            "test",
        )  # fmt: skip
    loyalty.policy(
        expiry_mode="rolling", expiry_months=1, reminder_days=3, reminder_template="points_expiry"
    )
    loyalty.rule(EarnTrigger.oa_follow, 40)
    member = loyalty.member()
    loyalty.earn(member, EarnTrigger.oa_follow, "follow:r")
    # when the daily reminder runs a week before, then 2 days before (twice)
    frozen_clock.advance(beijing("2026-12-13", 10) - frozen_clock.now())
    with loyalty.db.session_scope() as session:
        assert members.remind_expiring(session, loyalty.workspace_id) == 0
    frozen_clock.advance(timedelta(days=5))
    told = []
    for _ in range(2):
        with loyalty.db.session_scope() as session:
            told.append(members.remind_expiring(session, loyalty.workspace_id))
    # then the member was told once, with the points and the last day
    assert told == [1, 0]
    with loyalty.db.session_scope() as session:
        [send] = session.scalars(select(ReachSend)).all()
        assert (send.member_id, send.template_key) == (member, "points_expiry")
        assert '"2026-12-20"' in (send.data or "")
        assert '"40"' in (send.data or "")
