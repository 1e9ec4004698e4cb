"""Check-ins: one per member per day, inside the activity and its daily window; streaks."""

from __future__ import annotations

from sqlalchemy import select

from siyu.community.models import Checkin, Enrollment
from tests.support.community import END, START, Campaign, beijing

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64


def enrollment(campaign: Campaign) -> Enrollment:
    with campaign.env.db.session_scope() as session:
        row = session.scalars(select(Enrollment)).one()
        return row


def checkins(campaign: Campaign) -> int:
    with campaign.env.db.session_scope() as session:
        return len(session.scalars(select(Checkin)).all())


def test_daily_checkins_build_a_streak_and_a_second_one_the_same_day_is_refused(
    campaign: Campaign,
) -> None:
    activity = campaign.activity()
    member = campaign.member()
    campaign.enrolled(member, activity["id"])
    # when the member checks in on the first two days (text, then a photo)
    campaign.at(beijing(START, 7))
    first = campaign.check_in(member, activity["id"])
    assert first.status_code == 201, first.text
    campaign.at(beijing("2026-11-22", 22, 59))
    second = campaign.check_in(member, activity["id"], text=None, image=("a.png", PNG, "image/png"))
    assert second.status_code == 201, second.text
    assert (second.json()["streak"], second.json()["checkins"]) == (2, 2)
    assert second.json()["checkin"]["image_key"].endswith(".png")
    # and again the same day
    again = campaign.check_in(member, activity["id"])
    # then the duplicate is refused and nothing changes
    assert again.status_code == 409
    assert again.json()["code"] == "community.already_checked_in"
    assert checkins(campaign) == 2
    assert enrollment(campaign).checkins == 2
    assert len(campaign.env.events("activity.checkin")) == 2


def test_early_late_and_out_of_window_checkins_are_refused_with_the_reason(
    campaign: Campaign,
) -> None:
    activity = campaign.activity()
    member = campaign.member()
    campaign.enrolled(member, activity["id"])
    cases = [
        (beijing("2026-11-20", 12), "community.checkin_too_early"),  # before the start
        (beijing(START, 5, 59), "community.checkin_too_early"),  # before 06:00
        (beijing(START, 23, 0), "community.checkin_too_late"),  # 23:00 is outside
        (beijing("2026-11-24", 10), "community.checkin_too_late"),  # after the end
    ]
    for when, code in cases:
        campaign.at(when)
        answer = campaign.check_in(member, activity["id"])
        assert (answer.status_code, answer.json()["code"]) == (409, code), when
    assert checkins(campaign) == 0
    assert enrollment(campaign).checkins == 0


def test_unenrolled_members_and_bad_evidence_are_refused(campaign: Campaign) -> None:
    activity = campaign.activity(evidence="image")
    member, stranger = campaign.member(), campaign.member(1)
    campaign.enrolled(member, activity["id"])
    campaign.at(beijing(START))
    # someone not enrolled (a pending payment is not enough either)
    assert campaign.check_in(stranger, activity["id"]).json()["code"] == "community.not_enrolled"
    # text where a photo is required
    answer = campaign.check_in(member, activity["id"])
    assert (answer.status_code, answer.json()["code"]) == (422, "community.evidence_required")
    # a file that is not an image
    answer = campaign.check_in(
        member, activity["id"], image=("a.png", b"MZ" + b"0" * 99, "image/png")
    )
    assert (answer.status_code, answer.json()["code"]) == (422, "community.image_type")
    # an image over the limit
    limit = campaign.env.client.app.state.settings.checkin_image_max_bytes  # type: ignore[attr-defined]
    big = PNG + b"\x00" * limit
    answer = campaign.check_in(member, activity["id"], image=("a.png", big, "image/png"))
    assert (answer.status_code, answer.json()["code"]) == (413, "community.image_too_large")
    # no session at all
    anonymous = campaign.env.client.post(
        f"/api/mp/wx0123456789abcdef/activities/{activity['id']}/checkins",
        data={"text": "x"},
        headers={"Authorization": "Bearer nope"},
    )
    assert anonymous.status_code == 401
    assert checkins(campaign) == 0


def test_staff_reject_evidence_and_the_count_and_streak_follow(campaign: Campaign) -> None:
    activity = campaign.activity()
    member = campaign.member()
    campaign.enrolled(member, activity["id"])
    for day in (START, "2026-11-22", END):
        campaign.at(beijing(day))
        assert campaign.check_in(member, activity["id"]).status_code == 201
    assert enrollment(campaign).streak == 3
    listed = campaign.staff.get(
        f"/api/community/activities/{activity['id']}/checkins", params={"day": "2026-11-22"}
    ).json()
    [middle] = listed
    # when staff reject the middle day
    answer = campaign.staff.post(
        f"/api/community/checkins/{middle['id']}/reject", json={"reason": "图片与打卡无关"}
    )
    assert answer.status_code == 200
    row = enrollment(campaign)
    assert (row.checkins, row.streak, row.best_streak) == (2, 1, 1)
    # and rejecting it twice is refused
    again = campaign.staff.post(
        f"/api/community/checkins/{middle['id']}/reject", json={"reason": "x"}
    )
    assert again.json()["code"] == "community.checkin_already_rejected"
    assert enrollment(campaign).checkins == 2
