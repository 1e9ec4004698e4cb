"""Queries over members' profiles (display name, remark) and their search terms."""

from __future__ import annotations

from collections.abc import Collection, Sequence

from sqlalchemy import delete, func, insert, select
from sqlalchemy.orm import Session

from siyu.identity.models import MemberProfile, MemberSearchTerm


def get_profile(session: Session, member_id: int) -> MemberProfile | None:
    return session.get(MemberProfile, member_id)


def profiles_of(session: Session, member_ids: Collection[int]) -> dict[int, MemberProfile]:
    if not member_ids:
        return {}
    rows = session.scalars(select(MemberProfile).where(MemberProfile.member_id.in_(member_ids)))
    return {row.member_id: row for row in rows}


def replace_terms(
    session: Session, workspace_id: int, member_id: int, terms: Collection[str]
) -> None:
    session.execute(delete(MemberSearchTerm).where(MemberSearchTerm.member_id == member_id))
    if terms:
        session.execute(
            insert(MemberSearchTerm),
            [{"workspace_id": workspace_id, "member_id": member_id, "term": t} for t in terms],
        )


def member_ids_with_terms(
    session: Session, workspace_id: int, terms: Sequence[str], limit: int
) -> list[int]:
    """Members whose profile holds every one of `terms`."""
    wanted = set(terms)
    query = (
        select(MemberSearchTerm.member_id)
        .where(MemberSearchTerm.workspace_id == workspace_id, MemberSearchTerm.term.in_(wanted))
        .group_by(MemberSearchTerm.member_id)
        .having(func.count(MemberSearchTerm.term.distinct()) == len(wanted))
        .limit(limit)
    )
    return list(session.scalars(query))
