"""The review (复盘): native activities and imported history give the same figures."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

from sqlalchemy import func, select

from siyu.community import service
from siyu.community.models import Activity
from siyu.identity import service as identity
from siyu.identity.models import TimelineEvent
from siyu.security.models import AuditEntry
from siyu.security.schemas import Principal
from tests.support.community import END, START, Campaign, beijing
from tests.support.names import MP_APPID

DEFINITION = {
    "title": "词汇打卡第一期",
    "theme": "英语",
    "series": "21 天词汇",
    "start": START,
    "end": END,
    "fee": 0,
    "deposit": 990,
    "checkin_days_required": 3,
    "refund_rule": "proportional",
}


def native(campaign: Campaign) -> tuple[dict[str, Any], list[Any]]:
    """VOC1 run natively: m0 checks in 3 days, m1 once, m2 never; settled; m0 in the group."""
    activity = campaign.activity()
    members = [campaign.member(i) for i in range(3)]
    for i, member in enumerate(members):
        campaign.enrolled(member, activity["id"], channel="poster" if i else "menu")
    group = campaign.staff.post(
        "/api/community/groups", json={"name": "VOC1 群", "activity_id": activity["id"]}
    ).json()
    campaign.staff.post(
        f"/api/community/groups/{group['id']}/members", json={"member_id": members[0].member_id}
    )
    for offset, day in enumerate((START, "2026-11-22", END)):
        campaign.at(beijing(day))
        for i, member in enumerate(members):
            if (3, 1, 0)[i] > offset:
                assert campaign.check_in(member, activity["id"]).status_code == 201
    campaign.at(beijing("2026-11-24"))
    url = f"/api/community/activities/{activity['id']}/settlement"
    campaign.staff.post(url)
    campaign.staff.post(f"{url}/confirm")
    campaign.env.drain()
    campaign.env.pay.tick()
    return activity, members


def as_history(campaign: Campaign, code: str) -> list[dict[str, Any]]:
    """The native timeline rewritten as an import file's events for activity `code`."""
    with campaign.env.db.session_scope() as session:
        rows = session.scalars(select(TimelineEvent).order_by(TimelineEvent.id)).all()
        openids = {}
        for member_id in {r.member_id for r in rows}:
            member = identity.get_member(session, campaign.env.workspace_id, member_id)
            openids[member_id] = next(i.value for i in member.identities if i.kind == "openid")
    events = []
    for row in rows:
        if row.name not in (
            "activity.enroll",
            "activity.checkin",
            "group.join",
            "pay.paid",
            "pay.refunded",
        ):
            continue
        props = {k: v for k, v in row.props.items() if k in ("amount", "day")}
        events.append(
            {
                "event": row.name,
                "ts": row.ts.isoformat(),
                "appid": MP_APPID,
                "openid": openids[row.member_id],
                "channel": row.channel,
                "props": {**props, "code": code},
            }
        )
    return events


def test_an_imported_history_reviews_exactly_like_the_native_activity(
    campaign: Campaign, owner: Principal
) -> None:
    # given VOC1 run natively
    native(campaign)
    ws = campaign.env.workspace_id
    history = as_history(campaign, "HIST1")
    # when the same activity is imported as history, with its events
    with campaign.env.db.session_scope() as session:
        report = service.import_activities(
            session, ws, [{**DEFINITION, "code": "HIST1", "series": "往期"}], actor=owner
        )
        assert report.created == 1
        identity.ingest_events(session, ws, history)
    with campaign.env.db.session_scope() as session:
        mine = service.activity_review(session, ws, "VOC1")
        theirs = service.activity_review(session, ws, "HIST1")
    # then both reviews agree on every figure
    assert mine.enrollments == 3
    assert mine.by_channel == {"menu": 1, "poster": 2}
    assert (mine.paid_total, mine.refunded_total) == (2970, 1320)
    assert [d.members for d in mine.checkin_rate_by_day] == [2, 1, 1]
    assert (mine.completed, mine.group_members) == (1, 1)
    skip = {"code", "retention"}
    assert mine.model_dump(exclude=skip) == theirs.model_dump(exclude=skip)
    # and the import is in the audit log, by its operator, with its counts
    with campaign.env.db.session_scope() as session:
        [entry] = session.scalars(
            select(AuditEntry).where(AuditEntry.action == "community.activities_imported")
        ).all()
        assert (entry.actor, entry.workspace_id) == (owner.actor, ws)
        assert entry.detail == {"created": 1, "updated": 0, "themes": 0, "series": 1, "groups": 0}


def test_retention_from_the_previous_activity(campaign: Campaign) -> None:
    # given VOC1 done (m0 in its group), and VOC2 in the same series where m1 re-enrolls
    activity, members = native(campaign)
    second = campaign.activity(
        activity["series_id"], code="VOC2", starts_on="2026-11-26", ends_on="2026-11-28"
    )
    campaign.enrolled(members[1], second["id"])
    # and m2 keeps using the Mini Program after VOC1
    with campaign.env.db.session_scope() as session:
        identity.record_event(
            session,
            campaign.env.workspace_id,
            members[2].member_id,
            "mp.page_view",
            campaign.env.clock.now() + timedelta(hours=1),
        )
    # when staff read VOC2's review (API and CLI share it)
    answer = campaign.staff.get("/api/community/review/activities/VOC2").json()
    # then 1 of VOC1's 3 came back; m0 stayed in the group, m2 stayed active, none lost
    assert answer["retention"] == {
        "previous": "VOC1",
        "previous_members": 3,
        "re_enrolled": 1,
        "re_enrollment_rate": 0.3333,
        "stayed": 2,
        "stayed_in_group": 1,
        "lost": 0,
    }
    series = campaign.staff.get(f"/api/community/review/series/{activity['series_id']}").json()
    assert [a["code"] for a in series["activities"]] == ["VOC1", "VOC2"]


def test_an_invalid_import_file_writes_nothing(campaign: Campaign, owner: Principal) -> None:
    import pytest

    from siyu.core.errors import SiyuError

    bad = [
        {**DEFINITION, "code": "OK1"},
        {**DEFINITION, "code": "BAD", "refund_rule": "sometimes"},
        {**DEFINITION, "code": "OK1"},
    ]
    with campaign.env.db.session_scope() as session, pytest.raises(SiyuError) as caught:
        service.import_activities(
            session, campaign.env.workspace_id, json.loads(json.dumps(bad)), actor=owner
        )
    assert caught.value.code == "community.invalid_import"
    assert [e["index"] for e in caught.value.data["errors"]] == [1, 2]
    with campaign.env.db.session_scope() as session:
        assert session.scalar(select(func.count()).select_from(Activity)) == 0
        audited = select(AuditEntry).where(AuditEntry.action == "community.activities_imported")
        assert session.scalars(audited).all() == []
