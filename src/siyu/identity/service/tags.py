"""Tags on members: labels staff (audited) or rules put on them, and who carries which."""

from __future__ import annotations

import unicodedata
from collections.abc import Collection

from sqlalchemy.orm import Session

from siyu.core import clock
from siyu.identity import errors, repository
from siyu.identity.service.access import ensure_member_visible
from siyu.security import service as security
from siyu.security.schemas import Principal

TAG_MAX = 64


def _unprintable(ch: str) -> bool:
    return unicodedata.category(ch) in ("Cc", "Cs")


def clean_tag(tag: str) -> str:
    """The tag as stored (trimmed), or `identity.invalid_tag`."""
    cleaned = tag.strip()
    # A control character (NUL, a line break, an escape) is invisible in the console and
    # PostgreSQL refuses NUL in text; a lone surrogate cannot be stored as UTF-8. Format
    # characters stay allowed: an emoji sequence joins its parts with one (U+200D).
    if not cleaned or len(cleaned) > TAG_MAX or any(_unprintable(ch) for ch in cleaned):
        raise errors.INVALID_TAG(
            f"a tag is 1–{TAG_MAX} printable characters on one line", max_length=TAG_MAX
        )
    return cleaned


def _members_of(session: Session, workspace_id: int, member_ids: Collection[int]) -> list[int]:
    """The members named, each followed to its survivor if it was merged; unknown ids refused."""
    found = []
    for member_id in member_ids:
        member = repository.get_member(session, member_id)
        if member is None or member.workspace_id != workspace_id:
            raise errors.MEMBER_NOT_FOUND(f"member {member_id} not found")
        found.append(member.merged_into_id or member.id)
    return found


def tag_members(
    session: Session, workspace_id: int, member_ids: Collection[int], tag: str, *, actor: str
) -> int:
    """Put a tag on members (idempotent: already tagged ones are left); how many were new.
    What rules do (a channel's tags, an auto-reply's); staff tag through `tag_member`."""
    cleaned = clean_tag(tag)
    ids = _members_of(session, workspace_id, member_ids)
    return repository.add_tags(session, workspace_id, ids, cleaned, actor=actor, now=clock.now())


def untag_members(
    session: Session, workspace_id: int, member_ids: Collection[int], tag: str
) -> int:
    """Take a tag off members; how many had it."""
    ids = _members_of(session, workspace_id, member_ids)
    return repository.remove_tags(session, ids, clean_tag(tag))


def tag_member(session: Session, actor: Principal, member_id: int, tag: str) -> list[str]:
    """An operator puts a tag on a member they may see (audited); the member's tags after."""
    ensure_member_visible(session, actor, member_id)
    tag_members(session, actor.workspace_id, [member_id], tag, actor=actor.actor)
    security.record_audit(
        session, actor, "member.tagged", target_type="member", target_id=member_id
    )
    return member_tags(session, member_id)


def untag_member(session: Session, actor: Principal, member_id: int, tag: str) -> list[str]:
    """An operator takes a tag off a member they may see (audited); the member's tags after."""
    ensure_member_visible(session, actor, member_id)
    untag_members(session, actor.workspace_id, [member_id], tag)
    security.record_audit(
        session, actor, "member.untagged", target_type="member", target_id=member_id
    )
    return member_tags(session, member_id)


def member_tags(session: Session, member_id: int) -> list[str]:
    return repository.tags_of(session, [member_id]).get(member_id, [])


def members_with_tag(session: Session, workspace_id: int, tag: str) -> list[int]:
    return repository.members_with_tag(session, workspace_id, tag.strip())


def tag_counts(session: Session, workspace_id: int) -> dict[str, int]:
    """Every tag of the workspace with how many members carry it."""
    return repository.tag_counts(session, workspace_id)
