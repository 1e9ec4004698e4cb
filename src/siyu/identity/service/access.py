"""What an operator may see of members: only those assigned to them without `members.all`,
identifiers and the full phone as their role allows; finding and viewing members (audited),
and assigning members to sales reps."""

from __future__ import annotations

from collections.abc import Sequence
from functools import partial
from typing import Any

from sqlalchemy.orm import Session

from siyu.core import clock
from siyu.core.db import get_database
from siyu.identity import errors, repository
from siyu.identity.schemas import IdentityRead, MemberPage, MemberRead
from siyu.identity.service.members import get_member, get_member_by_number, is_phone
from siyu.identity.service.members import search_members as _search
from siyu.security import errors as security_errors
from siyu.security import service as security
from siyu.security.enums import Permission
from siyu.security.schemas import Principal


def visible_members(session: Session, principal: Principal) -> frozenset[int] | None:
    """The member ids this principal may see: None for all of the workspace."""
    if security.allows(principal.role, Permission.members_all):
        return None
    return frozenset(repository.assigned_member_ids(session, principal.operator_id))


def ensure_member_visible(session: Session, principal: Principal, member_id: int) -> None:
    """404, like a member that does not exist, for one outside the principal's members."""
    visible = visible_members(session, principal)
    if visible is not None and member_id not in visible:
        hidden = errors.MEMBER_NOT_FOUND(f"member {member_id} not found")
        # A denial like any other, though it looks like a missing member: audited, in a
        # transaction of its own once the request's is rolled back.
        hidden.on_refused = partial(_audit_hidden_member, principal, member_id)
        raise hidden


def _audit_hidden_member(principal: Principal, member_id: int) -> None:
    with get_database().session_scope() as session:
        security.record_audit(
            session,
            principal,
            "security.denied",
            target_type="member",
            target_id=member_id,
            detail={"reason": "not_assigned"},
        )


def _present_identity(identity_read: IdentityRead, principal: Principal) -> IdentityRead:
    updates: dict[str, Any] = {}
    if not security.allows(principal.role, Permission.members_phone):
        updates["phone"] = None
    if identity_read.kind != "phone" and not security.allows(
        principal.role, Permission.members_identifiers
    ):
        updates["value"] = None
    return identity_read.model_copy(update=updates) if updates else identity_read


def present_member(member: MemberRead, principal: Principal) -> MemberRead:
    """A member as this principal's role may see it: full phone only with `members.phone`,
    WeChat ids only with `members.identifiers` (otherwise 138****0000 and the id's kind)."""
    return member.model_copy(
        update={"identities": [_present_identity(i, principal) for i in member.identities]}
    )


def present_members(members: Sequence[MemberRead], principal: Principal) -> list[MemberRead]:
    return [present_member(m, principal) for m in members]


def find_members(
    session: Session,
    principal: Principal,
    *,
    query: str | None = None,
    phone: str | None = None,
    openid: str | None = None,
    unionid: str | None = None,
    external_id: str | None = None,
    number: int | None = None,
    limit: int = 50,
    offset: int = 0,
) -> MemberPage:
    """A page of the members this principal may see, found by any identity (`query` guesses
    which), shown as their role allows; a search by phone number is audited."""
    found = _search(
        session,
        principal.workspace_id,
        phone=phone,
        openid=openid,
        unionid=unionid,
        external_id=external_id,
        number=number,
        query=query,
        limit=limit + 1,  # one more: is there a next page?
        offset=offset,
        within=visible_members(session, principal),
    )
    members = found[:limit]
    if phone or is_phone(query):
        security.record_audit(
            session,
            principal,
            "member.phone_searched",
            target_type="member",
            detail={"results": len(members)},
        )
    return MemberPage(members=present_members(members, principal), more=len(found) > limit)


def member_for(
    session: Session, principal: Principal, member_id: int, *, reveal_phone: bool = False
) -> MemberRead:
    """A member this principal may see, as their role shows it (not audited: the page that
    shows it again after a change, say)."""
    ensure_member_visible(session, principal, member_id)
    member = get_member(session, principal.workspace_id, member_id, reveal_phone=reveal_phone)
    first = repository.first_event_at(session, member.id)
    if first is not None and first < member.created_at:
        member = member.model_copy(update={"first_seen_at": first})
    return present_member(member, principal)


def view_member(
    session: Session, principal: Principal, member_id: int, *, reveal_phone: bool = False
) -> MemberRead:
    """An operator opens a member's profile: shown as their role allows, and audited."""
    member = member_for(session, principal, member_id, reveal_phone=reveal_phone)
    _audit_view(session, principal, member.id)
    return member


def view_member_by_number(session: Session, principal: Principal, number: int) -> MemberRead:
    """`view_member` by member number (学号)."""
    member = get_member_by_number(session, principal.workspace_id, number)
    ensure_member_visible(session, principal, member.id)
    _audit_view(session, principal, member.id)
    return present_member(member, principal)


def _audit_view(session: Session, principal: Principal, member_id: int) -> None:
    security.record_audit(
        session, principal, "member.viewed", target_type="member", target_id=member_id
    )


def assign_member(
    session: Session, actor: Principal, member_id: int, operator_id: int | None
) -> int | None:
    """Give a member to a sales rep (or take it back with `operator_id=None`)."""
    get_member(session, actor.workspace_id, member_id)
    if operator_id is not None:
        operator = security.get_operator(session, actor.workspace_id, operator_id)
        if operator.disabled_at is not None:
            raise security_errors.OPERATOR_DISABLED("this operator is disabled")
    repository.set_assignment(
        session, actor.workspace_id, member_id, operator_id, actor=actor.actor, at=clock.now()
    )
    security.record_audit(
        session,
        actor,
        "member.assigned",
        target_type="member",
        target_id=member_id,
        detail={"operator_id": operator_id},
    )
    return operator_id


def assignee_of(session: Session, member_id: int) -> int | None:
    return repository.assignee_of(session, member_id)
