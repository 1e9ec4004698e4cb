"""What the team calls a member: a display name and a staff remark, encrypted at rest, audited,
and found by search through keyed hashes of their characters (a blind index, as phones are
found by the keyed hash of the number)."""

from __future__ import annotations

from sqlalchemy.orm import Session

from siyu.core import clock
from siyu.identity import errors, repository
from siyu.identity.models import MemberProfile
from siyu.identity.schemas import MemberProfileIn
from siyu.identity.service.access import ensure_member_visible
from siyu.identity.service.members import active_member
from siyu.identity.service.terms import profile_terms
from siyu.security import service as security
from siyu.security.schemas import Principal


def set_member_profile(
    session: Session, principal: Principal, member_id: int, data: MemberProfileIn
) -> MemberProfile:
    """Write the member's display name and remark (empty clears), re-index them for search,
    and audit which fields changed (never their text: the audit log holds no personal data)."""
    member = active_member(session, principal.workspace_id, member_id)
    ensure_member_visible(session, principal, member.id)
    if member.erased_at is not None:
        raise errors.MEMBER_ERASED(f"member {member.id} was erased")
    row = repository.get_profile(session, member.id)
    before = (row.display_name or "", row.remark or "") if row else ("", "")
    after = (data.display_name, data.remark)
    changed = [
        name
        for name, old, new in zip(("display_name", "remark"), before, after, strict=True)
        if old != new
    ]
    if row is None:
        row = MemberProfile(member_id=member.id, workspace_id=member.workspace_id)
        session.add(row)
    row.display_name = data.display_name or None
    row.remark = data.remark or None
    row.updated_at = clock.now()
    session.flush()
    if changed:
        repository.replace_terms(session, member.workspace_id, member.id, profile_terms(*after))
        security.record_audit(
            session,
            principal,
            "member.profile_changed",
            target_type="member",
            target_id=member.id,
            detail={"fields": changed},
        )
    return row
