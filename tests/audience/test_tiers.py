"""Lifecycle tiers: the policy's edges (7 days new, 8 not; 30 days dormant; 90 dormant, 91
churned), churn by unfollowing every OA, 回流 at once on a push, a `member.tier_changed` event
per move, and a second run that moves nobody."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from siyu.audience import service as audience
from siyu.audience.enums import Tier
from siyu.core.clock import FrozenClock
from siyu.core.clock import now as clock_now
from siyu.core.db import Database
from siyu.identity.enums import MemberStatus
from siyu.identity.models import Member
from tests.support.tiers import (
    change_count,
    event,
    ingest,
    member_id,
    tier_events,
    tiers,
)
from tests.support.wechat import WeChat, message_push

pytestmark = pytest.mark.usefixtures("oa_app", "mp_app")
DAY = timedelta(days=1)


def compute(db: Database, workspace_id: int, at: datetime | None = None) -> int:
    with db.session_scope() as session:
        return audience.compute_tiers(session, workspace_id, now=at).moved


def test_the_thresholds_at_their_edges(
    db: Database, workspace_id: int, frozen_clock: FrozenClock
) -> None:
    now = frozen_clock.now()
    # given members who joined (their first event) or last acted at the edges of the policy
    ingest(
        db,
        workspace_id,
        event(1, "mp.login", now - 7 * DAY),  # joined 7 days ago: new
        event(2, "mp.login", now - 8 * DAY),  # joined 8 days ago, acted then: active
        event(3, "mp.login", now - 60 * DAY),
        event(3, "oa.message", now - 29 * DAY),  # last acted 29 days ago: active
        event(4, "mp.login", now - 30 * DAY),  # 30 days without activity: dormant
        event(5, "mp.login", now - 90 * DAY),  # 90 days: still dormant
        event(6, "mp.login", now - 91 * DAY),  # 91 days: churned
        # what was done to a member is not their activity: still churned
        event(7, "mp.login", now - 100 * DAY),
        event(7, "message.sent", now - DAY),
    )
    # when the tiers are computed
    moved = compute(db, workspace_id)
    # then each is where the policy puts them, and each got a first tier
    assert moved == 7
    got = tiers(db)
    assert [got[member_id(db, who)] for who in range(1, 8)] == [
        "new",
        "active",
        "active",
        "dormant",
        "dormant",
        "churned",
        "churned",
    ]


def test_unfollowing_every_oa_and_silence_in_the_mp_is_churn(
    db: Database, workspace_id: int, frozen_clock: FrozenClock, api: TestClient
) -> None:
    now = frozen_clock.now()
    ingest(
        db,
        workspace_id,
        # followed, used the MP, then left the OA and has not been seen since: churned
        event(1, "oa.subscribe", now - 20 * DAY),
        event(1, "mp.login", now - 19 * DAY),
        event(1, "oa.unsubscribe", now - 10 * DAY),
        # left the OA but uses the MP after it: active
        event(2, "oa.subscribe", now - 20 * DAY),
        event(2, "oa.unsubscribe", now - 10 * DAY),
        event(2, "mp.page_view", now - 5 * DAY),
        # left and followed again: active
        event(3, "oa.subscribe", now - 20 * DAY),
        event(3, "oa.unsubscribe", now - 15 * DAY),
        event(3, "oa.subscribe", now - 12 * DAY),
    )
    # given a policy that does not count unfollows: all three are active
    policy = api.put("/api/audience/tiers/policy", json={"churn_on_unfollow": False})
    assert policy.status_code == 200, policy.text
    compute(db, workspace_id)
    got = tiers(db)
    assert [got[member_id(db, who)] for who in (1, 2, 3)] == ["active", "active", "active"]
    # when the policy counts them (the default)
    policy = api.put("/api/audience/tiers/policy", json={})
    assert policy.status_code == 200, policy.text
    compute(db, workspace_id)
    # then the one who left and went silent is churned
    got = tiers(db)
    assert [got[member_id(db, who)] for who in (1, 2, 3)] == ["churned", "active", "active"]


def test_a_second_run_moves_nobody_and_each_move_is_on_the_timeline(
    db: Database, workspace_id: int, frozen_clock: FrozenClock
) -> None:
    now = frozen_clock.now()
    ingest(db, workspace_id, event(1, "mp.login", now - 3 * DAY))
    member = member_id(db, 1)
    # given a first run: the member is new, recorded once
    assert compute(db, workspace_id) == 1
    assert tier_events(db, member) == [{"from": None, "to": "new", "cause": "daily"}]
    # when it runs again at once: nothing moves, nothing is recorded
    assert compute(db, workspace_id) == 0
    assert change_count(db) == 1
    assert len(tier_events(db)) == 1
    # when five days pass: no longer new, active (one move, one event)
    assert compute(db, workspace_id, now + 5 * DAY) == 1
    assert compute(db, workspace_id, now + 5 * DAY) == 0
    # when 30 days pass without activity: dormant; and 92 days: churned
    assert compute(db, workspace_id, now + 27 * DAY) == 1
    assert compute(db, workspace_id, now + 90 * DAY) == 1
    assert [e["to"] for e in tier_events(db, member)] == ["new", "active", "dormant", "churned"]
    assert tier_events(db, member)[-1] == {"from": "dormant", "to": "churned", "cause": "daily"}
    # and the member's moves are listed newest first
    with db.session_scope() as session:
        moves = audience.member_tier_moves(session, member)
    assert [(m.from_tier, m.to_tier) for m in moves][:2] == [
        (Tier.dormant, Tier.churned),
        (Tier.active, Tier.dormant),
    ]


def test_a_dormant_member_who_writes_is_returning_at_once_and_once(
    db: Database, workspace_id: int, oa: WeChat, drain: Callable[[], int]
) -> None:
    now = clock_now()
    # given a follower last seen 40 days ago: dormant after the nightly run
    ingest(db, workspace_id, event(1, "oa.subscribe", now - 40 * DAY))
    member = member_id(db, 1)
    compute(db, workspace_id)
    assert tiers(db)[member] == "dormant"
    # when they write to the OA (and WeChat retries the push)
    who = event(1, "oa.message", now)["openid"]
    oa.plain(message_push(who, "我回来了", msg_id=9001))
    oa.plain(message_push(who, "我回来了", msg_id=9001))
    drain()
    # then they are returning at once, with one event on their timeline
    assert tiers(db)[member] == "returning"
    assert tier_events(db, member)[-1] == {"from": "dormant", "to": "returning", "cause": "event"}
    assert len(tier_events(db, member)) == 2
    # and the nightly run keeps them returning without a new event
    assert compute(db, workspace_id) == 0
    assert len(tier_events(db, member)) == 2


def test_returning_becomes_active_after_returning_days(
    db: Database, workspace_id: int, frozen_clock: FrozenClock
) -> None:
    now = frozen_clock.now()
    ingest(db, workspace_id, event(1, "mp.login", now - 50 * DAY))
    member = member_id(db, 1)
    compute(db, workspace_id)
    # came back (nightly: the event was imported, not pushed)
    ingest(db, workspace_id, event(1, "mp.login", now))
    compute(db, workspace_id)
    assert tiers(db)[member] == "returning"
    # and keeps acting: returning for 30 days (returning_days), active after
    frozen_clock.advance(25 * DAY)
    ingest(db, workspace_id, event(1, "mp.login", now + 25 * DAY))
    assert compute(db, workspace_id, now + 29 * DAY) == 0
    assert compute(db, workspace_id, now + 31 * DAY) == 1
    assert tiers(db)[member] == "active"


def test_merged_members_lose_their_tier_and_counts_follow(
    db: Database, workspace_id: int, frozen_clock: FrozenClock
) -> None:
    now = frozen_clock.now()
    ingest(db, workspace_id, event(1, "mp.login", now - DAY), event(2, "mp.login", now - 40 * DAY))
    compute(db, workspace_id)
    with db.session_scope() as session:
        counts = audience.tier_counts(session, workspace_id, 7)
    assert {s.tier: s.counts for s in counts.series if any(s.counts)} == {
        Tier.new: [1],
        Tier.dormant: [1],
    }
    # given the second member was merged into another (status merged)
    with db.session_scope() as session:
        merged = session.get(Member, member_id(db, 2))
        assert merged is not None
        merged.status = MemberStatus.merged
    compute(db, workspace_id)
    assert set(tiers(db)) == {member_id(db, 1)}
    with db.session_scope() as session:
        counts = audience.tier_counts(session, workspace_id, 7)
        total = session.scalar(select(func.count()).select_from(Member))
    assert total == 2
    assert {s.tier: s.counts for s in counts.series if any(s.counts)} == {Tier.new: [1]}


def test_tier_member_ids_is_a_selectable_of_a_tiers_members(
    db: Database, workspace_id: int, frozen_clock: FrozenClock
) -> None:
    now = frozen_clock.now()
    ingest(db, workspace_id, event(1, "mp.login", now - DAY), event(2, "mp.login", now - 40 * DAY))
    compute(db, workspace_id)
    with db.session_scope() as session:
        dormant = set(session.scalars(audience.tier_member_ids(workspace_id, Tier.dormant)))
        either = set(
            session.scalars(audience.tier_member_ids(workspace_id, [Tier.new, Tier.dormant]))
        )
    assert dormant == {member_id(db, 2)}
    assert either == {member_id(db, 1), member_id(db, 2)}
