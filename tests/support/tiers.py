"""Members with a history for the lifecycle tiers and RFM: events ingested at chosen times,
and what the tiers and the timeline hold afterwards."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import func, select

from siyu.audience.models import MemberRfm, MemberTier, MemberTierChange
from siyu.core.db import Database
from siyu.identity import service as identity
from siyu.identity.models import Identity, Member, TimelineEvent
from tests.support.names import MP_APPID, OA_APPID, openid


def event(who: int, name: str, at: datetime, **props: Any) -> dict[str, Any]:
    """A canonical event of person `who` (an openid of the OA for oa.*, else of the MP)."""
    appid = OA_APPID if name.startswith("oa.") else MP_APPID
    prefix = "a" if appid == OA_APPID else "o"
    return {
        "event": name,
        "ts": at.isoformat(),
        "appid": appid,
        "openid": openid(who, prefix),
        "unionid": openid(who, "u"),
        "props": props,
    }


def ingest(db: Database, workspace_id: int, *events: dict[str, Any]) -> None:
    with db.session_scope() as session:
        identity.ingest_events(session, workspace_id, list(events))


def member_id(db: Database, who: int) -> int:
    with db.session_scope() as session:
        found = session.scalar(select(Identity.member_id).where(Identity.value == openid(who, "u")))
        assert found is not None, who
        return found


def number_of(db: Database, who: int) -> int:
    with db.session_scope() as session:
        number = session.scalar(select(Member.number).where(Member.id == member_id(db, who)))
        assert number is not None
        return number


def tiers(db: Database) -> dict[int, str]:
    """member id → stored tier."""
    with db.session_scope() as session:
        return {r.member_id: r.tier.value for r in session.scalars(select(MemberTier))}


def tier_events(db: Database, member: int | None = None) -> list[dict[str, Any]]:
    """The member.tier_changed events' props (all members', or one's), oldest first."""
    with db.session_scope() as session:
        query = select(TimelineEvent.props).where(TimelineEvent.name == "member.tier_changed")
        if member is not None:
            query = query.where(TimelineEvent.member_id == member)
        return list(session.scalars(query.order_by(TimelineEvent.id)))


def change_count(db: Database) -> int:
    with db.session_scope() as session:
        return int(session.scalar(select(func.count()).select_from(MemberTierChange)) or 0)


def rfm_rows(db: Database) -> dict[int, MemberRfm]:
    with db.session_scope() as session:
        rows = {r.member_id: r for r in session.scalars(select(MemberRfm))}
        session.expunge_all()
        return rows
