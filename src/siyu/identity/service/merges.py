"""Merges of two members into one person, their undoing, and the review list of conflicts
(evidence that two members may be one person, which staff judge)."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from siyu.core import clock
from siyu.core.events import bus
from siyu.identity import errors, repository
from siyu.identity.enums import ConflictStatus, MemberStatus
from siyu.identity.models import Member, MemberMerge, MergeConflict
from siyu.identity.schemas import ConflictRead, MergeRead
from siyu.identity.service.domain_events import MembersMerged, MergeConflictOpened, MergeUndone
from siyu.identity.service.members import active_member
from siyu.security import service as security
from siyu.security.schemas import Principal


def open_conflict(
    session: Session,
    workspace_id: int,
    pair: tuple[int, int],
    *,
    reason: str,
    evidence: dict[str, Any],
) -> MergeConflict:
    """Put a pair on the review list (once per pair and reason)."""
    low, high = sorted(pair)
    existing = repository.find_conflict(session, workspace_id, low, high, reason)
    if existing is not None:
        return existing
    conflict = MergeConflict(
        workspace_id=workspace_id,
        member_a_id=low,
        member_b_id=high,
        reason=reason,
        evidence=evidence,
        status=ConflictStatus.open,
        created_at=clock.now(),
    )
    repository.add(session, conflict)
    bus.publish(session, MergeConflictOpened(workspace_id, conflict.id, reason))
    return conflict


def _lock_pair(session: Session, a: int, b: int) -> tuple[Member, Member]:
    # Lock in id order so that two merges of the same pair cannot deadlock.
    locked = {mid: repository.get_member_for_update(session, mid) for mid in sorted((a, b))}
    first, second = locked[a], locked[b]
    if first is None or second is None:
        raise errors.MEMBER_NOT_FOUND("member not found")
    return first, second


def merge_pair(
    session: Session,
    survivor_id: int,
    merged_id: int,
    *,
    reason: str,
    evidence: dict[str, Any],
    actor: str,
) -> MemberMerge:
    """Fold `merged_id` into `survivor_id`: identities, events and tags move, attributes fill
    the survivor's gaps; the record keeps what an undo needs."""
    survivor, merged = _lock_pair(session, survivor_id, merged_id)
    if survivor.id == merged.id:
        raise errors.MERGE_SELF("a member cannot be merged into itself")
    if survivor.workspace_id != merged.workspace_id:
        raise errors.MEMBER_NOT_FOUND("member not found")
    for member in (survivor, merged):
        if member.status != MemberStatus.active:
            raise errors.MEMBER_MERGED(
                f"member {member.number} was already merged into another",
                data={"member_id": member.id, "merged_into_id": member.merged_into_id},
                number=member.number,
            )
    survivor_before, merged_before = dict(survivor.attributes), dict(merged.attributes)
    survivor_created_at = survivor.created_at
    moved = repository.move_identities(session, merged.id, survivor.id)
    repository.move_events(session, merged.id, survivor.id)
    repository.copy_tags(session, merged.id, survivor.id)
    # The survivor's own attributes win; the merged member's fill the gaps.
    survivor.attributes = {**merged_before, **survivor_before}
    # The person existed since the earlier of the two: the survivor now holds the merged
    # member's history, so its 创建时间 must not be later than that history.
    survivor.created_at = min(survivor_created_at, merged.created_at)
    merged.status = MemberStatus.merged
    merged.merged_into_id = survivor.id
    record = MemberMerge(
        workspace_id=survivor.workspace_id,
        survivor_id=survivor.id,
        merged_id=merged.id,
        reason=reason,
        evidence=evidence,
        moved_identity_ids=moved,
        survivor_attributes=survivor_before,
        merged_attributes=merged_before,
        survivor_created_at=survivor_created_at,
        actor=actor,
        created_at=clock.now(),
    )
    repository.add(session, record)
    bus.publish(session, MembersMerged(survivor.workspace_id, survivor.id, merged.id, reason))
    return record


def _open_conflict_named(session: Session, workspace_id: int, conflict_id: int) -> MergeConflict:
    conflict = repository.get_conflict(session, conflict_id)
    if conflict is None or conflict.workspace_id != workspace_id:
        raise errors.CONFLICT_NOT_FOUND(f"conflict {conflict_id} not found")
    if conflict.status != ConflictStatus.open:
        raise errors.CONFLICT_CLOSED("this conflict was already resolved")
    return conflict


def merge_members(
    session: Session,
    actor: Principal,
    survivor_id: int,
    merged_id: int,
    *,
    conflict_id: int | None = None,
) -> MergeRead:
    """Staff merge two members (from the review list, closing its conflict, or by hand)."""
    workspace_id = actor.workspace_id
    active_member(session, workspace_id, survivor_id)
    active_member(session, workspace_id, merged_id)
    conflict = None
    if conflict_id is not None:
        conflict = _open_conflict_named(session, workspace_id, conflict_id)
        if {conflict.member_a_id, conflict.member_b_id} != {survivor_id, merged_id}:
            raise errors.CONFLICT_MISMATCH("the conflict names other members")
    evidence: dict[str, Any] = {"conflict_id": conflict_id} if conflict_id else {}
    record = merge_pair(
        session, survivor_id, merged_id, reason="manual", evidence=evidence, actor=actor.actor
    )
    if conflict is not None:
        conflict.status = ConflictStatus.merged
        conflict.resolved_at = clock.now()
        conflict.resolved_by = actor.actor
    merged = MergeRead.model_validate(record)
    security.record_audit(
        session,
        actor,
        "member.merged",
        target_type="member",
        target_id=merged.survivor_id,
        detail={"merged_id": merged.merged_id, "merge_id": merged.id},
    )
    return merged


def undo_merge(session: Session, actor: Principal, merge_id: int) -> MergeRead:
    """Split a merge again, while nothing that depends on it has happened since."""
    workspace_id = actor.workspace_id
    record = repository.get_merge(session, merge_id)
    if record is None or record.workspace_id != workspace_id:
        raise errors.MERGE_NOT_FOUND(f"merge {merge_id} not found")
    if record.undone_at is not None:
        raise errors.MERGE_ALREADY_UNDONE("this merge was already undone")
    survivor, merged = _lock_pair(session, record.survivor_id, record.merged_id)
    later = repository.later_live_merges(session, record)
    moved = list(record.moved_identity_ids)
    if later or survivor.status != MemberStatus.active:
        raise errors.MERGE_UNDO_CONFLICT(
            "a later merge involves these members; undo that one first",
            data={"later_merge_ids": [m.id for m in later]},
        )
    if repository.count_identities_owned(session, moved, survivor.id) != len(moved):
        raise errors.MERGE_UNDO_CONFLICT("identities moved by this merge have changed owner since")
    repository.set_identities_owner(session, moved, merged.id)
    repository.return_events(session, merged.id, survivor.id)
    survivor.attributes = dict(record.survivor_attributes)
    if record.survivor_created_at is not None:
        survivor.created_at = record.survivor_created_at
    merged.attributes = dict(record.merged_attributes)
    merged.status = MemberStatus.active
    merged.merged_into_id = None
    record.undone_at = clock.now()
    record.undone_by = actor.actor
    session.flush()
    bus.publish(session, MergeUndone(workspace_id, survivor.id, merged.id))
    security.record_audit(
        session,
        actor,
        "member.merge_undone",
        target_type="merge",
        target_id=merge_id,
        detail={"survivor_id": survivor.id, "merged_id": merged.id},
    )
    return MergeRead.model_validate(record)


def dismiss_conflict(session: Session, actor: Principal, conflict_id: int) -> ConflictRead:
    """Staff judge that the pair is two people: the conflict leaves the review list."""
    conflict = _open_conflict_named(session, actor.workspace_id, conflict_id)
    conflict.status = ConflictStatus.dismissed
    conflict.resolved_at = clock.now()
    conflict.resolved_by = actor.actor
    session.flush()
    security.record_audit(
        session, actor, "conflict.dismissed", target_type="conflict", target_id=conflict_id
    )
    return ConflictRead.model_validate(conflict)


def list_conflicts(
    session: Session,
    workspace_id: int,
    status: ConflictStatus | None = ConflictStatus.open,
    limit: int = 100,
) -> list[ConflictRead]:
    """The review list: open conflicts by default, every conflict with `status=None`."""
    rows = repository.list_conflicts(session, workspace_id, status, limit)
    return [ConflictRead.model_validate(row) for row in rows]


def list_merges(session: Session, workspace_id: int, member_id: int) -> list[MergeRead]:
    active_member(session, workspace_id, member_id)
    return [MergeRead.model_validate(m) for m in repository.list_merges(session, [member_id])]
