"""Audience in tests: members made from events (by openid), their tags and consents, and what
segments wrote (stored members, timeline events, tags)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select

from siyu.audience.models import Segment, SegmentMember
from siyu.core.clock import now
from siyu.core.db import Database
from siyu.identity import service as identity
from siyu.identity.enums import ConsentPurpose
from siyu.identity.models import Member, MemberTag, TimelineEvent
from tests.support.names import MP_APPID, openid

PEOPLE = ("ann", "bob", "cai", "dan")


def who(name: str) -> str:
    return openid(100 + PEOPLE.index(name))


def ago(days: float) -> str:
    return (now() - timedelta(days=days)).isoformat()


def event(name: str, person: str, days_ago: float, **props: Any) -> dict[str, Any]:
    return {
        "event": name,
        "ts": ago(days_ago),
        "appid": MP_APPID,
        "openid": who(person),
        "props": props,
    }


def seed(db: Database, workspace_id: int) -> dict[str, int]:
    """Four members with different histories; their ids by name.

    ann: paid 200 yuan twice this month, viewed /course then paid, tag vip, phone, marketing
    bob: paid 5 yuan once 100 days ago, viewed /course and never paid
    cai: logged in only, tag vip and tag 老师
    dan: logged in only
    """
    events = [
        *(event("mp.login", p, 200) for p in PEOPLE),
        event("pay.paid", "ann", 10, amount_fen=20000, item="课程"),
        event("pay.paid", "ann", 3, amount_fen=20000, item="课程"),
        event("mp.page_view", "ann", 5, page="/course", duration_s=30),
        event("pay.paid", "bob", 100, amount_fen=500, item="贴纸"),
        event("mp.page_view", "bob", 5, page="/course", duration_s=12),
    ]
    events[0]["phone"] = "13900001111"
    with db.session_scope() as session:
        identity.ingest_events(session, workspace_id, events)
    ids = {p: member_id(db, p) for p in PEOPLE}
    with db.session_scope() as session:
        identity.tag_members(session, workspace_id, [ids["ann"], ids["cai"]], "vip", actor="t")
        identity.tag_members(session, workspace_id, [ids["cai"]], "老师", actor="t")
        identity.grant_consent(
            session, workspace_id, ids["ann"], ConsentPurpose.marketing, entry="t", actor="t"
        )
    return ids


def member_id(db: Database, person: str) -> int:
    with db.session_scope() as session:
        found = identity.search_members(session, session_workspace(db), openid=who(person))
        return found[0].id


def session_workspace(db: Database) -> int:
    with db.session_scope() as session:
        return int(session.scalar(select(Member.workspace_id).limit(1)) or 0)


def numbers(db: Database, ids: dict[str, int], *names: str) -> list[int]:
    with db.session_scope() as session:
        rows = session.execute(
            select(Member.id, Member.number).where(Member.id.in_(list(ids.values())))
        )
        by_id = {int(i): int(n) for i, n in rows}
    return sorted(by_id[ids[n]] for n in names)


def stored(db: Database, segment_id: int) -> set[int]:
    with db.session_scope() as session:
        return set(
            session.scalars(
                select(SegmentMember.member_id).where(SegmentMember.segment_id == segment_id)
            )
        )


def segment_events(db: Database) -> list[tuple[str, int, datetime]]:
    with db.session_scope() as session:
        rows = session.execute(
            select(TimelineEvent.name, TimelineEvent.member_id, TimelineEvent.ts)
            .where(TimelineEvent.name.startswith("segment."))
            .order_by(TimelineEvent.id)
        )
        return [(n, m, ts) for n, m, ts in rows]


def tagged(db: Database, tag: str) -> set[int]:
    with db.session_scope() as session:
        return set(session.scalars(select(MemberTag.member_id).where(MemberTag.tag == tag)))


def segment_count(db: Database) -> int:
    with db.session_scope() as session:
        return int(session.scalar(select(func.count()).select_from(Segment)) or 0)
