"""The member list as a download: the members an operator may see (all of them, or those a
search finds), page by page so that an export of any size streams, shown as their role
allows (masked phone, no WeChat ids without the permission) with the staff's name and remark
for the member, decrypted as on the profile page; the export is audited."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass

from sqlalchemy.orm import Session

from siyu.identity import repository
from siyu.identity.schemas import MemberRead
from siyu.identity.service.access import present_members, visible_members
from siyu.identity.service.members import SEARCH_MAX, is_phone, member_reads, search_members
from siyu.security import service as security
from siyu.security.enums import Permission
from siyu.security.schemas import Principal


@dataclass(frozen=True)
class ListedMember:
    member: MemberRead
    tags: list[str]


def record_member_list_export(session: Session, principal: Principal, *, query: str) -> None:
    """Audit a download of the member list (before its rows stream out)."""
    security.record_audit(
        session,
        principal,
        "export.member_list",
        target_type="member",
        detail={"searched": bool(query), "by_phone": is_phone(query)},
    )


def member_list_page(
    session: Session,
    principal: Principal,
    *,
    query: str = "",
    before_number: int | None = None,
    limit: int = 500,
    member_ids: Collection[int] | None = None,
) -> list[ListedMember]:
    """One page of the list, highest member number first, below `before_number`. A search
    (`query`, as on the members page) finds a few members: it comes as one page. With
    `member_ids` (a page of a segment, say), only those of them the operator may see."""
    reveal = security.allows(principal.role, Permission.members_phone)
    within = visible_members(session, principal)
    if member_ids is not None:
        within = frozenset(member_ids) if within is None else within & frozenset(member_ids)
    if query:
        if before_number is not None:
            return []
        found = search_members(
            session, principal.workspace_id, query=query, limit=SEARCH_MAX, within=within
        )
        if reveal:  # search_members shows phones masked: read them again, revealed
            ids = [m.id for m in found]
            rows = repository.list_members(
                session, principal.workspace_id, limit=SEARCH_MAX, member_ids=ids
            )
            found = member_reads(session, list(rows), reveal=True)
    else:
        ids_within = sorted(within) if within is not None else None
        rows = repository.members_before(
            session,
            principal.workspace_id,
            before_number=before_number,
            limit=limit,
            member_ids=ids_within,
        )
        found = member_reads(session, list(rows), reveal=reveal)
    tags = repository.tags_of(session, [m.id for m in found])
    return [
        ListedMember(member, tags.get(member.id, []))
        for member in present_members(found, principal)
    ]
