"""Enrollment: a JSAPI order through the sandbox's Pay, confirmed by the notification."""

from __future__ import annotations

from sqlalchemy import func, select

from siyu.community.models import Enrollment
from siyu.identity import service as identity
from tests.support.community import Campaign


def enrollments(campaign: Campaign) -> list[Enrollment]:
    with campaign.env.db.session_scope() as session:
        return list(session.scalars(select(Enrollment).order_by(Enrollment.id)))


def test_paying_the_order_enrolls_the_member_once_even_if_notified_twice(
    campaign: Campaign,
) -> None:
    # given an open activity with a 9.90 deposit and a logged-in member
    activity = campaign.activity()
    member = campaign.member()
    # when they enroll, they get wx.requestPayment's parameters and a pending enrollment
    answer = campaign.enroll(member, activity["id"], channel="poster")
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["enrollment"]["status"] == "pending_payment"
    assert body["payment"]["package"].startswith("prepay_id=")
    # and when they pay, and WeChat Pay delivers the notification twice
    notification = campaign.pay(member, body)
    assert campaign.env.pay.deliver(notification)
    # then they are enrolled once, with the amount paid and one activity.enroll event
    [row] = enrollments(campaign)
    assert (row.status, row.paid, row.channel) == ("enrolled", 990, "poster")
    [event] = campaign.env.events("activity.enroll")
    assert event.props["code"] == "VOC1"
    assert event.channel == "poster"
    [paid] = campaign.env.events("pay.paid")
    assert paid.props["reference"] == f"activity:VOC1:{member.member_id}"


def test_a_second_enrollment_is_refused_and_changes_nothing(campaign: Campaign) -> None:
    activity = campaign.activity()
    member = campaign.member()
    campaign.enrolled(member, activity["id"])
    before = campaign.env.counts()
    # when the member enrolls again
    again = campaign.enroll(member, activity["id"])
    # then it is refused with a stable code, and no order is made
    assert again.status_code == 409
    assert again.json()["code"] == "community.already_enrolled"
    assert campaign.env.counts() == before


def test_asking_again_before_paying_returns_the_same_order(campaign: Campaign) -> None:
    activity = campaign.activity()
    member = campaign.member()
    first = campaign.enroll(member, activity["id"]).json()
    second = campaign.enroll(member, activity["id"]).json()
    assert first["payment"]["out_trade_no"] == second["payment"]["out_trade_no"]
    assert campaign.env.counts()["orders"] == 1
    assert len(enrollments(campaign)) == 1


def test_a_blacklisted_member_is_refused_with_a_clear_error(campaign: Campaign) -> None:
    activity = campaign.activity()
    member = campaign.member()
    with campaign.env.db.session_scope() as session:
        identity.tag_members(
            session, campaign.env.workspace_id, [member.member_id], "blacklist", actor="test"
        )
    before = campaign.env.counts()
    answer = campaign.enroll(member, activity["id"])
    assert answer.status_code == 403
    assert answer.json()["code"] == "community.member_blacklisted"
    assert campaign.env.counts() == before
    assert enrollments(campaign) == []


def test_a_full_activity_waitlists_and_a_closed_one_refuses(campaign: Campaign) -> None:
    # given an activity for one member, taken
    activity = campaign.activity(capacity=1)
    first, second = campaign.member(), campaign.member(1)
    campaign.enrolled(first, activity["id"])
    # when another enrolls, they are waitlisted without an order
    answer = campaign.enroll(second, activity["id"]).json()
    assert answer["enrollment"]["status"] == "waitlisted"
    assert answer["payment"] is None
    assert campaign.env.counts()["orders"] == 1
    # and when staff close enrollment, a new try is refused and nothing changes
    closed = campaign.staff.patch(
        f"/api/community/activities/{activity['id']}", json={"status": "closed"}
    )
    assert closed.status_code == 200
    before = campaign.env.counts()
    refused = campaign.enroll(second, activity["id"])
    assert refused.status_code == 409
    assert refused.json()["code"] == "community.enrollment_closed"
    assert campaign.env.counts() == before


def test_a_draft_activity_refuses_and_a_free_one_enrolls_without_paying(
    campaign: Campaign,
) -> None:
    series = campaign.theme_series()
    draft = campaign.activity(series, code="DRAFT", status="draft")
    free = campaign.activity(series, code="FREE", deposit=0, refund_rule="none", status="open")
    member = campaign.member()
    assert campaign.enroll(member, draft["id"]).json()["code"] == "community.enrollment_closed"
    answer = campaign.enroll(member, free["id"]).json()
    assert answer["enrollment"]["status"] == "enrolled"
    assert answer["payment"] is None
    assert campaign.env.counts()["orders"] == 0


def test_bad_activity_definitions_are_refused_and_nothing_is_written(
    campaign: Campaign,
) -> None:
    series = campaign.theme_series()
    bad: list[dict[str, object]] = [
        {"ends_on": "2026-11-01"},  # before the start
        {"window_start": "23:00", "window_end": "06:00"},
        {"checkin_days_required": 10},  # more than the 3 days
        {"refund_rule": "table", "refund_table": []},
        {"deposit": -1},
        {"code": "bad code!"},
    ]
    for change in bad:
        body = {
            "series_id": series,
            "code": "X1",
            "title": "t",
            "starts_on": "2026-11-21",
            "ends_on": "2026-11-23",
            "deposit": 990,
            "checkin_days_required": 3,
            "refund_rule": "proportional",
            **change,
        }
        answer = campaign.staff.post("/api/community/activities", json=body)
        assert answer.status_code == 422, change
    with campaign.env.db.session_scope() as session:
        from siyu.community.models import Activity

        assert session.scalar(select(func.count()).select_from(Activity)) == 0
