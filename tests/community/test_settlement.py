"""Settlement: refunds by the rule, shown to staff, sent through Pay once; never twice."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from datetime import timedelta

import pytest
from sqlalchemy import func, select, update

from siyu.community import service, tasks
from siyu.community.enums import RefundRule
from siyu.community.models import Activity, Enrollment, SettlementLine
from siyu.community.schemas import ActivityRead
from siyu.community.service import refund_for
from siyu.security.models import AuditEntry
from siyu.security.schemas import Principal
from siyu.wechat.pay import service as pay
from tests.support.community import END, START, Campaign, Member, beijing
from tests.support.pay import spy_refund_calls
from tests.support.queries import count_queries


def ran(campaign: Campaign, days: dict[int, int]) -> tuple[dict[str, object], list[Member]]:
    """An activity where member i checked in on days[i] of its 3 days, then ended."""
    activity = campaign.activity()
    members = [campaign.member(i) for i in range(len(days))]
    for member in members:
        campaign.enrolled(member, activity["id"])
    for offset, day in enumerate((START, "2026-11-22", END)):
        campaign.at(beijing(day))
        for i, member in enumerate(members):
            if days[i] > offset:
                assert campaign.check_in(member, activity["id"]).status_code == 201
    return activity, members


def statuses(campaign: Campaign) -> list[str]:
    with campaign.env.db.session_scope() as session:
        return [str(s) for s in session.scalars(select(Enrollment.status).order_by(Enrollment.id))]


def test_settlement_refunds_by_the_rule_through_pay_and_never_twice(campaign: Campaign) -> None:
    # given three members who checked in 3, 1 and 0 of 3 days (proportional refund of 9.90)
    activity, _members = ran(campaign, {0: 3, 1: 1, 2: 0})
    url = f"/api/community/activities/{activity['id']}/settlement"
    # before the end, there is nothing to settle
    early = campaign.staff.post(url)
    assert (early.status_code, early.json()["code"]) == (409, "community.activity_not_ended")
    # when it ended, staff compute the settlement and see who gets what, and why
    campaign.at(beijing("2026-11-24"))
    draft = campaign.staff.post(url).json()
    assert draft["status"] == "draft"
    assert [(line["checkins"], line["refund"]) for line in draft["lines"]] == [
        (3, 990),
        (1, 330),
        (0, 0),
    ]
    assert draft["total_refund"] == 1320
    assert campaign.env.counts()["refunds"] == 0  # nothing paid before confirmation
    # and confirm it; the jobs send the refunds and WeChat settles them
    confirmed = campaign.staff.post(f"{url}/confirm")
    assert confirmed.status_code == 202, confirmed.text
    assert campaign.env.drain() == 1
    campaign.env.pay.tick()
    # then the sandbox's ledger shows exactly the two refunds
    ledger = campaign.env.ledger()
    assert ledger["refunded_total"] == 1320
    assert len(ledger["refunds"]) == 2
    assert statuses(campaign) == ["refunded", "refunded", "failed"]
    view = campaign.staff.get(url).json()
    assert view["outcome"] == {"succeeded": 2}
    # when staff confirm again, or the jobs run again, nothing more leaves
    again = campaign.staff.post(f"{url}/confirm")
    assert (again.status_code, again.json()["code"]) == (409, "community.already_settled")
    recompute = campaign.staff.post(url)
    assert recompute.json()["code"] == "community.already_settled"
    with campaign.env.db.session_scope() as session:
        ids = [r for r in session.scalars(select(SettlementLine.refund_id)) if r is not None]
    tasks.send_refunds.call_local(ids)
    campaign.env.pay.tick()
    assert campaign.env.ledger()["refunded_total"] == 1320
    assert len(campaign.env.ledger()["refunds"]) == 2
    # and the confirmation is in the audit log, with the total
    with campaign.env.db.session_scope() as session:
        [entry] = session.scalars(
            select(AuditEntry).where(AuditEntry.action == "community.settlement_confirmed")
        ).all()
        assert entry.detail == {"refunds": 2, "total_refund_fen": 1320}


def test_a_refund_the_merchant_cannot_pay_is_shown_to_staff_and_retried_once_sent(
    campaign: Campaign,
) -> None:
    activity, _members = ran(campaign, {0: 3})
    url = f"/api/community/activities/{activity['id']}/settlement"
    campaign.at(beijing("2026-11-24"))
    campaign.staff.post(url)
    # given the merchant's balance is short on the first try
    campaign.env.pay.inject("refund", "not_enough")
    campaign.staff.post(f"{url}/confirm")
    campaign.env.drain()
    # then staff see the refund waiting, with WeChat's reason
    problems = campaign.staff.get(url, params={"problems": True}).json()
    [line] = problems["lines"]
    assert line["refund_status"] == "pending"
    assert "NOT_ENOUGH" in line["refund_error"]
    assert campaign.env.ledger()["refunded_total"] == 0
    # and Pay's sweep resends the same refund later, which then succeeds once
    campaign.env.clock.advance(timedelta(minutes=5))
    pay.sweep(campaign.env.db, pay.clients())
    campaign.env.pay.tick()
    assert campaign.env.ledger()["refunded_total"] == 990
    assert campaign.staff.get(url).json()["outcome"] == {"succeeded": 1}


def test_refund_rules() -> None:
    base = {
        "id": 1, "series_id": 1, "code": "A", "title": "t", "status": "open",
        "starts_on": "2026-11-21", "ends_on": "2026-12-10", "capacity": None, "fee": 100,
        "deposit": 2000, "checkin_days_required": 20, "window_start": 0, "window_end": 1440,
        "evidence": "either", "refund_n": None, "refund_table": [], "imported": False,
    }  # fmt: skip

    def rule(name: RefundRule, **extra: object) -> ActivityRead:
        return ActivityRead.model_validate({**base, "refund_rule": name, **extra})

    assert refund_for(rule(RefundRule.full_at_n, refund_n=18), 18, 2100)[0] == 2000
    assert refund_for(rule(RefundRule.full_at_n, refund_n=18), 17, 2100)[0] == 0
    assert refund_for(rule(RefundRule.proportional), 5, 2100)[0] == 500
    assert refund_for(rule(RefundRule.proportional), 25, 2100)[0] == 2000  # capped at required
    assert refund_for(rule(RefundRule.none), 20, 2100)[0] == 0
    table = [{"min_days": 10, "percent": 50}, {"min_days": 20, "percent": 100}]
    assert refund_for(rule(RefundRule.table, refund_table=table), 9, 2100)[0] == 0
    assert refund_for(rule(RefundRule.table, refund_table=table), 15, 2100)[0] == 1000
    assert refund_for(rule(RefundRule.table, refund_table=table), 20, 2100)[0] == 2000
    # never more than was paid
    assert refund_for(rule(RefundRule.proportional), 20, 1500)[0] == 1500


def activity_row(campaign: Campaign, activity_id: int) -> tuple[str, str]:
    with campaign.env.db.session_scope() as session:
        row = session.get(Activity, activity_id)
        assert row is not None
        return str(row.status), row.ends_on.isoformat()


def test_ending_early_stops_check_ins_and_lets_staff_settle_today(campaign: Campaign) -> None:
    # given members who checked in on the first two of three days (today is the second)
    activity = campaign.activity()
    members = [campaign.member(i) for i in range(2)]
    for member in members:
        campaign.enrolled(member, activity["id"])
    for day in (START, "2026-11-22"):
        campaign.at(beijing(day))
        assert campaign.check_in(members[0], activity["id"]).status_code == 201
    url = f"/api/community/activities/{activity['id']}"
    # when staff end the activity early, twice (a double click)
    ended = campaign.staff.post(f"{url}/end")
    again = campaign.staff.post(f"{url}/end")
    # then it ended yesterday and closed; the second is refused and changes nothing
    assert ended.status_code == 200, ended.text
    assert (ended.json()["ends_on"], ended.json()["status"]) == ("2026-11-21", "closed")
    assert (again.status_code, again.json()["code"]) == (409, "community.activity_already_ended")
    assert activity_row(campaign, activity["id"]) == ("closed", "2026-11-21")
    # and a check-in now is too late, while today's accepted one still counts
    late = campaign.check_in(members[1], activity["id"])
    assert (late.status_code, late.json()["code"]) == (409, "community.checkin_too_late")
    draft = campaign.staff.post(f"{url}/settlement").json()
    assert [line["checkins"] for line in draft["lines"]] == [2, 0]
    # and the change is in the audit log, with the days cut
    with campaign.env.db.session_scope() as session:
        [entry] = session.scalars(
            select(AuditEntry).where(AuditEntry.action == "community.activity_ended_early")
        ).all()
        assert entry.detail == {"days_cut": 2}


def test_an_activity_that_has_not_run_a_day_cannot_end_early(campaign: Campaign) -> None:
    # given an activity whose first day is today
    activity = campaign.activity()
    campaign.at(beijing(START))
    # when staff try to end it early
    refused = campaign.staff.post(f"/api/community/activities/{activity['id']}/end")
    # then it is refused with the reason, and the period is unchanged
    assert (refused.status_code, refused.json()["code"]) == (409, "community.activity_not_started")
    assert activity_row(campaign, activity["id"]) == ("open", END)


# --- the statements a settlement sends -----------------------------------------------------


def paid_activity(campaign: Campaign, members: list[Member], code: str, series_id: int) -> int:
    """An activity the members paid for; member i checked in on (i + 3) % 4 of its 3 days
    (so member 0 completed it and member 1 gets nothing back)."""
    activity = campaign.activity(series_id, code=code)
    for member in members:
        campaign.enrolled(member, activity["id"])
    with campaign.env.db.session_scope() as session:
        ids = session.scalars(
            select(Enrollment.id)
            .where(Enrollment.activity_id == activity["id"])
            .order_by(Enrollment.id)
        ).all()
        for i, enrollment_id in enumerate(ids):
            checked = update(Enrollment).where(Enrollment.id == enrollment_id)
            session.execute(checked.values(checkins=(i + 3) % 4))
    return int(activity["id"])


@dataclass
class Settled:
    statements: int  # sent to compute, show and confirm the settlement
    refund_inserts: int  # of them, the INSERTs of Pay's refunds
    refunds: int


def settle(campaign: Campaign, owner: Principal, activity_id: int) -> Settled:
    ws, db = campaign.env.workspace_id, campaign.env.db
    with count_queries(db.engine) as sent:
        with db.session_scope() as session:
            service.compute_settlement(session, ws, activity_id)
        with db.session_scope() as session:
            done = service.confirm_settlement(session, ws, activity_id, actor=owner)
    inserts = len(sent.matching("INSERT INTO pay_refunds"))
    return Settled(sent.count, inserts, len(done.refund_ids))


def test_a_settlement_sends_the_same_statements_for_3_members_as_for_30(
    campaign: Campaign, owner: Principal
) -> None:
    # given two activities of one series that ended, one of 3 and one of 30 paid members
    members = [campaign.member(i) for i in range(30)]
    series_id = campaign.theme_series()
    three = paid_activity(campaign, members[:3], "N3", series_id)
    thirty = paid_activity(campaign, members, "N30", series_id)
    campaign.at(beijing("2026-11-24"))
    # when each settlement is computed, shown and confirmed
    small, large = settle(campaign, owner, three), settle(campaign, owner, thirty)
    # then every member owed money gets a refund
    assert (small.refunds, large.refunds) == (2, 22)
    # and both send the same statements, none per member: 26 besides the INSERT of Pay's
    # refunds, which is one statement (SQLite alone sends one per refund: it cannot return
    # the rows of a batch in the order asked without a sentinel column, so SQLAlchemy does not
    # batch there)
    assert small.statements - small.refund_inserts == 26
    assert large.statements - large.refund_inserts == 26
    if campaign.env.db.engine.dialect.name == "postgresql":
        assert (small.refund_inserts, large.refund_inserts) == (1, 1)
    else:
        assert (small.refund_inserts, large.refund_inserts) == (2, 22)


@pytest.mark.postgres_only
def test_two_runners_on_one_settlement_refund_each_enrollment_once(
    campaign: Campaign, owner: Principal
) -> None:
    # given a confirmed settlement of 16 paid members
    members = [campaign.member(i) for i in range(16)]
    activity_id = paid_activity(campaign, members, "RACE", campaign.theme_series())
    campaign.at(beijing("2026-11-24"))
    env = campaign.env
    with env.db.session_scope() as session:
        service.compute_settlement(session, env.workspace_id, activity_id)
    with env.db.session_scope() as session:
        refund_ids = service.confirm_settlement(
            session, env.workspace_id, activity_id, actor=owner
        ).refund_ids
    calls = spy_refund_calls(env.pay)
    # when two runners send the whole settlement at the same moment (a job run twice)
    start = threading.Barrier(2)
    failures: list[BaseException] = []

    def runner() -> None:
        try:
            start.wait(timeout=30)
            tasks.send_refunds.call_local(refund_ids)
        except BaseException as exc:  # reported below, not lost in the thread
            failures.append(exc)

    threads = [threading.Thread(target=runner) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert failures == []
    assert not any(thread.is_alive() for thread in threads)
    env.pay.tick()
    # then WeChat was asked once per refund, and paid each enrollment's refund once
    assert len(refund_ids) == 12
    assert sorted(calls.values()) == [1] * 12
    ledger = env.ledger()
    assert len(ledger["refunds"]) == 12
    with env.db.session_scope() as session:
        owed = session.scalar(
            select(func.sum(SettlementLine.refund)).where(SettlementLine.refund_id.is_not(None))
        )
        refunded = session.scalar(
            select(func.count()).select_from(Enrollment).where(Enrollment.status == "refunded")
        )
    assert ledger["refunded_total"] == owed
    assert refunded == 12
