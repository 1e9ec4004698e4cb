"""Who matches what, as SQL: selectables of member ids that other domains' queries nest
(`member.id IN (…)`), so a segment counts in one statement instead of loading ids. Read-only;
the one write here keeps a rule tag equal to a set of members, set-based."""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime
from typing import Any

from sqlalchemy import Select, Table, and_, delete, func, insert, literal, select
from sqlalchemy.orm import Session

from siyu.identity.enums import ConsentPurpose, IdentityKind
from siyu.identity.models import Consent, Identity, Member, MemberTag
from siyu.identity.service.tags import clean_tag


def members_table() -> Table:
    """The members' table, for other domains' read-only queries (number, joined, status)."""
    table = Member.__table__
    assert isinstance(table, Table)
    return table


def tagged_member_ids(
    workspace_id: int, tags: Collection[str], *, every: bool = False
) -> Select[Any]:
    """Members carrying any of `tags` (or, with `every`, all of them)."""
    query = select(MemberTag.member_id).where(
        MemberTag.workspace_id == workspace_id, MemberTag.tag.in_(sorted(set(tags)))
    )
    if every:
        query = query.group_by(MemberTag.member_id).having(
            func.count(func.distinct(MemberTag.tag)) == len(set(tags))
        )
    return query


def app_user_ids(workspace_id: int, appids: Collection[str]) -> Select[Any]:
    """Members with an openid of one of these apps (they used it at least once)."""
    return select(Identity.member_id).where(
        Identity.workspace_id == workspace_id,
        Identity.kind == IdentityKind.openid,
        Identity.scope.in_(sorted(set(appids))),
    )


def phone_bound_ids(workspace_id: int) -> Select[Any]:
    return select(Identity.member_id).where(
        Identity.workspace_id == workspace_id, Identity.kind == IdentityKind.phone
    )


def consenting_ids(workspace_id: int, purpose: ConsentPurpose) -> Select[Any]:
    """Members whose consent for `purpose` stands (granted, not withdrawn)."""
    return select(Consent.member_id).where(
        Consent.workspace_id == workspace_id,
        Consent.purpose == purpose,
        Consent.withdrawn_at.is_(None),
    )


def keep_tag_equal(
    session: Session,
    workspace_id: int,
    tag: str,
    member_ids: Select[Any],
    *,
    actor: str,
    now: datetime,
) -> tuple[int, int]:
    """Make `tag` carried by exactly the members `member_ids` selects (a rule tag): tag the
    missing, untag the others, in two statements; (added, removed)."""
    cleaned = clean_tag(tag)
    wanted = member_ids.subquery()
    # Counted from RETURNING: an INSERT … SELECT's rowcount is -1 on PostgreSQL's driver.
    removed = session.scalars(
        delete(MemberTag)
        .where(
            MemberTag.workspace_id == workspace_id,
            MemberTag.tag == cleaned,
            MemberTag.member_id.not_in(select(wanted.c[0])),
        )
        .returning(MemberTag.member_id)
    ).all()
    have = select(MemberTag.member_id).where(
        MemberTag.workspace_id == workspace_id, MemberTag.tag == cleaned
    )
    added = session.scalars(
        insert(MemberTag)
        .from_select(
            ["workspace_id", "member_id", "tag", "created_by", "created_at"],
            select(
                literal(workspace_id, MemberTag.workspace_id.type),
                wanted.c[0],
                literal(cleaned, MemberTag.tag.type),
                literal(actor, MemberTag.created_by.type),
                literal(now, MemberTag.created_at.type),
            ).where(and_(wanted.c[0].not_in(have))),
        )
        .returning(MemberTag.member_id)
    ).all()
    return len(added), len(removed)
