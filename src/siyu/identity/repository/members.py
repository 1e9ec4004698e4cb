"""Queries over members and their identities, merges, review conflicts and tags."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import (
    ColumnElement,
    String,
    and_,
    any_,
    bindparam,
    case,
    delete,
    func,
    or_,
    select,
    text,
    update,
)
from sqlalchemy.dialects import postgresql
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value

from siyu.core.db import Base
from siyu.identity.enums import ConflictStatus, IdentityKind, MemberStatus
from siyu.identity.models import (
    Identity,
    Member,
    MemberMerge,
    MemberTag,
    MergeConflict,
)

IdentityKey = tuple[IdentityKind, str, str]


def add(session: Session, row: Base) -> None:
    session.add(row)
    session.flush()


def _key_matches(workspace_id: int, keys: Iterable[IdentityKey]) -> ColumnElement[bool]:
    # An OR of equalities, not a row-value IN: SQLite (and PostgreSQL's generic plans) serve
    # each equality from the unique index, where the IN list made them scan the workspace.
    return or_(
        *(
            and_(
                Identity.workspace_id == workspace_id,
                Identity.kind == kind,
                Identity.scope == scope,
                Identity.value == value,
            )
            for kind, scope, value in keys
        )
    )


def find_identities(
    session: Session, workspace_id: int, keys: Iterable[IdentityKey]
) -> Sequence[Identity]:
    wanted = list(set(keys))
    if not wanted:
        return []
    return session.scalars(select(Identity).where(_key_matches(workspace_id, wanted))).all()


def find_identity_owners(
    session: Session, workspace_id: int, keys: Sequence[IdentityKey]
) -> dict[IdentityKey, int]:
    """Member ids owning these identity keys, in one query (the import's fast path)."""
    if not keys:
        return {}
    rows = session.execute(
        select(Identity.kind, Identity.scope, Identity.value, Identity.member_id).where(
            _key_matches(workspace_id, keys)
        )
    )
    return {(IdentityKind(k), s, v): m for k, s, v, m in rows}


def list_identities(session: Session, member_ids: Iterable[int]) -> Sequence[Identity]:
    return session.scalars(
        select(Identity).where(Identity.member_id.in_(list(member_ids))).order_by(Identity.id)
    ).all()


def member_numbers(
    session: Session, member_ids: Iterable[int], workspace_id: int | None = None
) -> dict[int, int]:
    ids = list(member_ids)
    found: dict[int, int] = {}
    for start in range(0, len(ids), 2000):
        query = select(Member.id, Member.number).where(Member.id.in_(ids[start : start + 2000]))
        if workspace_id is not None:
            query = query.where(Member.workspace_id == workspace_id)
        rows = session.execute(query)
        found.update((member_id, number) for member_id, number in rows)
    return found


def unnumbered_members(session: Session, workspace_id: int) -> list[int]:
    """The members of this transaction still holding a provisional (negative) number, in the
    order they were made (ids come in that order); other transactions' are never seen."""
    return list(
        session.scalars(
            select(Member.id)
            .where(Member.workspace_id == workspace_id, Member.number < 0)
            .order_by(Member.id)
        )
    )


def set_member_numbers(session: Session, numbers: dict[int, int]) -> None:
    """Give these members their numbers in one statement; loaded rows see them too."""
    if not numbers:
        return
    ids, values = list(numbers), list(numbers.values())
    if session.get_bind().dialect.name == "postgresql":
        batch = (
            func.unnest(
                bindparam(None, ids, type_=postgresql.ARRAY(Member.id.type)),
                bindparam(None, values, type_=postgresql.ARRAY(Member.number.type)),
            )
            .table_valued("id", "number")
            .render_derived(name="batch")
        )
        session.execute(
            update(Member)
            .where(Member.id == batch.c.id)
            .values(number=batch.c.number)
            .execution_options(synchronize_session=False)
        )
    else:
        session.execute(
            update(Member)
            .where(Member.id.in_(ids))
            .values(number=case(numbers, value=Member.id))
            .execution_options(synchronize_session=False)
        )
    for row in list(session.identity_map.values()):
        if isinstance(row, Member) and row.id in numbers:
            set_committed_value(row, "number", numbers[row.id])


def get_member(session: Session, member_id: int) -> Member | None:
    return session.get(Member, member_id)


def get_member_for_update(session: Session, member_id: int) -> Member | None:
    return session.scalars(select(Member).where(Member.id == member_id).with_for_update()).first()


def get_member_by_number(session: Session, workspace_id: int, number: int) -> Member | None:
    return session.scalars(
        select(Member).where(Member.workspace_id == workspace_id, Member.number == number)
    ).first()


def list_members(
    session: Session,
    workspace_id: int,
    *,
    limit: int,
    offset: int = 0,
    member_ids: Sequence[int] | None = None,
) -> Sequence[Member]:
    query = select(Member).where(
        Member.workspace_id == workspace_id, Member.status == MemberStatus.active
    )
    if member_ids is not None:
        query = query.where(Member.id.in_(member_ids))
    return session.scalars(query.order_by(Member.number.desc()).limit(limit).offset(offset)).all()


def members_before(
    session: Session,
    workspace_id: int,
    *,
    before_number: int | None,
    limit: int,
    member_ids: Sequence[int] | None = None,
) -> Sequence[Member]:
    """Active members by number, highest first, below `before_number` (keyset paging: each
    page costs the same however deep the export is)."""
    query = select(Member).where(
        Member.workspace_id == workspace_id, Member.status == MemberStatus.active
    )
    if before_number is not None:
        query = query.where(Member.number < before_number)
    if member_ids is not None:
        query = query.where(Member.id.in_(member_ids))
    return session.scalars(query.order_by(Member.number.desc()).limit(limit)).all()


def count_members(session: Session, workspace_id: int, since: datetime | None = None) -> int:
    query = (
        select(func.count())
        .select_from(Member)
        .where(Member.workspace_id == workspace_id, Member.status == MemberStatus.active)
    )
    if since is not None:
        query = query.where(Member.created_at >= since)
    return int(session.scalar(query) or 0)


def member_ids_with_identity(
    session: Session, workspace_id: int, kind: IdentityKind, value: str, scope: str | None = None
) -> list[int]:
    query = select(Identity.member_id).where(
        Identity.workspace_id == workspace_id, Identity.kind == kind, Identity.value == value
    )
    if scope is not None:
        query = query.where(Identity.scope == scope)
    return list(dict.fromkeys(session.scalars(query)))


def move_identities(session: Session, from_member: int, to_member: int) -> list[int]:
    ids = list(session.scalars(select(Identity.id).where(Identity.member_id == from_member)))
    if ids:
        session.execute(update(Identity).where(Identity.id.in_(ids)).values(member_id=to_member))
    return ids


def set_identities_owner(session: Session, identity_ids: Sequence[int], member_id: int) -> None:
    if identity_ids:
        session.execute(
            update(Identity).where(Identity.id.in_(identity_ids)).values(member_id=member_id)
        )


def count_identities_owned(session: Session, identity_ids: Sequence[int], member_id: int) -> int:
    if not identity_ids:
        return 0
    return int(
        session.scalar(
            select(func.count())
            .select_from(Identity)
            .where(Identity.id.in_(identity_ids), Identity.member_id == member_id)
        )
        or 0
    )


def get_merge(session: Session, merge_id: int) -> MemberMerge | None:
    return session.get(MemberMerge, merge_id)


def list_merges(session: Session, member_ids: Sequence[int]) -> Sequence[MemberMerge]:
    return session.scalars(
        select(MemberMerge)
        .where(or_(MemberMerge.survivor_id.in_(member_ids), MemberMerge.merged_id.in_(member_ids)))
        .order_by(MemberMerge.id.desc())
    ).all()


def later_live_merges(session: Session, merge: MemberMerge) -> Sequence[MemberMerge]:
    involved = (merge.survivor_id, merge.merged_id)
    return session.scalars(
        select(MemberMerge).where(
            MemberMerge.id > merge.id,
            MemberMerge.undone_at.is_(None),
            or_(MemberMerge.survivor_id.in_(involved), MemberMerge.merged_id.in_(involved)),
        )
    ).all()


def get_conflict(session: Session, conflict_id: int) -> MergeConflict | None:
    return session.get(MergeConflict, conflict_id)


def find_conflict(
    session: Session, workspace_id: int, member_a: int, member_b: int, reason: str
) -> MergeConflict | None:
    return session.scalars(
        select(MergeConflict).where(
            MergeConflict.workspace_id == workspace_id,
            MergeConflict.member_a_id == member_a,
            MergeConflict.member_b_id == member_b,
            MergeConflict.reason == reason,
        )
    ).first()


def list_conflicts(
    session: Session, workspace_id: int, status: ConflictStatus | None, limit: int
) -> Sequence[MergeConflict]:
    query = select(MergeConflict).where(MergeConflict.workspace_id == workspace_id)
    if status is not None:
        query = query.where(MergeConflict.status == status)
    return session.scalars(query.order_by(MergeConflict.id.desc()).limit(limit)).all()


def count_open_conflicts(session: Session, workspace_id: int) -> int:
    return int(
        session.scalar(
            select(func.count())
            .select_from(MergeConflict)
            .where(
                MergeConflict.workspace_id == workspace_id,
                MergeConflict.status == ConflictStatus.open,
            )
        )
        or 0
    )


def unionids_of(session: Session, member_ids: Sequence[int]) -> dict[int, str]:
    """The UnionID of each of these members that has one, in one query (the import's)."""
    if not member_ids:
        return {}
    rows = session.execute(
        select(Identity.member_id, Identity.value)
        .where(Identity.member_id.in_(member_ids), Identity.kind == IdentityKind.unionid)
        .order_by(Identity.id)
    )
    found: dict[int, str] = {}
    for member_id, value in rows:
        found.setdefault(member_id, value)
    return found


def find_identity_owners_by_value(
    session: Session, workspace_id: int, kind: IdentityKind, scope: str, values: Sequence[str]
) -> dict[str, int]:
    """Member ids owning these values of one kind and scope, in one query that looks each value
    up in the unique index: however big the table, whatever its statistics say (a row-value IN
    list, or a long IN list on PostgreSQL, ends up scanning every identity of the kind)."""
    if not values:
        return {}
    if session.get_bind().dialect.name == "postgresql":
        wanted = (
            func.unnest(bindparam("values", list(values), type_=postgresql.ARRAY(String)))
            .table_valued("value")
            .render_derived(name="wanted")
        )
        owner = (
            select(Identity.member_id)
            .where(
                Identity.workspace_id == workspace_id,
                Identity.kind == kind,
                Identity.scope == scope,
                Identity.value == wanted.c.value,
            )
            .scalar_subquery()
        )
        rows = session.execute(select(wanted.c.value, owner))
        return {value: member_id for value, member_id in rows if member_id is not None}
    # SQLite walks the unique index once per value of the IN list.
    found = session.execute(
        select(Identity.value, Identity.member_id).where(
            Identity.workspace_id == workspace_id,
            Identity.kind == kind,
            Identity.scope == scope,
            Identity.value.in_(values),
        )
    )
    return {row.value: row.member_id for row in found}


def among(session: Session, column: Any, values: Sequence[Any]) -> ColumnElement[bool]:
    """`column IN values`; on PostgreSQL `= ANY(array)`, one parameter (psycopg parses a
    statement of more than 50 parameters afresh on every call: a batch's long IN lists)."""
    if session.get_bind().dialect.name == "postgresql":
        array = bindparam(None, list(values), type_=postgresql.ARRAY(column.type))
        return column == any_(array)  # type: ignore[no-any-return]
    return column.in_(list(values))  # type: ignore[no-any-return]


def member_links(
    session: Session, member_ids: Sequence[int]
) -> list[tuple[int, int, int | None, datetime | None]]:
    """(id, workspace, merged into, erased at) of these members, in one query."""
    if not member_ids:
        return []
    rows = session.execute(
        select(Member.id, Member.workspace_id, Member.merged_into_id, Member.erased_at).where(
            among(session, Member.id, member_ids)
        )
    )
    return [(r.id, r.workspace_id, r.merged_into_id, r.erased_at) for r in rows]


def merged_children(session: Session, parent_ids: Sequence[int]) -> list[tuple[int, int]]:
    """(member, the member it was merged into) for every member merged into one of these."""
    if not parent_ids:
        return []
    rows = session.execute(
        select(Member.id, Member.merged_into_id)
        .where(among(session, Member.merged_into_id, parent_ids))
        .order_by(Member.id)
    )
    return [(r.id, r.merged_into_id) for r in rows]


def members_merged_into(session: Session, member_ids: Sequence[int]) -> list[int]:
    if not member_ids:
        return []
    return list(session.scalars(select(Member.id).where(Member.merged_into_id.in_(member_ids))))


def identity_values(session: Session, member_ids: Sequence[int]) -> list[tuple[IdentityKind, str]]:
    rows = session.execute(
        select(Identity.kind, Identity.value)
        .where(Identity.member_id.in_(list(member_ids)))
        .order_by(Identity.id)
    )
    return [(IdentityKind(kind), value) for kind, value in rows]


def mark_erased(session: Session, member_ids: Sequence[int], at: datetime) -> None:
    session.execute(update(Member).where(Member.id.in_(list(member_ids))).values(erased_at=at))


def tags_of(session: Session, member_ids: Iterable[int]) -> dict[int, list[str]]:
    rows = session.execute(
        select(MemberTag.member_id, MemberTag.tag)
        .where(MemberTag.member_id.in_(list(member_ids)))
        .order_by(MemberTag.tag)
    )
    found: dict[int, list[str]] = {}
    for member_id, tag in rows:
        found.setdefault(member_id, []).append(tag)
    return found


def add_tags(
    session: Session,
    workspace_id: int,
    member_ids: Iterable[int],
    tag: str,
    *,
    actor: str,
    now: datetime,
) -> int:
    """Tag the members not tagged yet; how many were."""
    ids = set(member_ids)
    have = set(
        session.scalars(
            select(MemberTag.member_id).where(
                MemberTag.member_id.in_(list(ids)), MemberTag.tag == tag
            )
        )
    )
    new = sorted(ids - have)
    session.add_all(
        MemberTag(workspace_id=workspace_id, member_id=m, tag=tag, created_by=actor, created_at=now)
        for m in new
    )
    session.flush()
    return len(new)


def remove_tags(session: Session, member_ids: Iterable[int], tag: str) -> int:
    result = session.execute(
        delete(MemberTag).where(MemberTag.member_id.in_(list(member_ids)), MemberTag.tag == tag)
    )
    return int(result.rowcount)  # type: ignore[attr-defined]


def members_with_tag(session: Session, workspace_id: int, tag: str) -> list[int]:
    return list(
        session.scalars(
            select(MemberTag.member_id)
            .where(MemberTag.workspace_id == workspace_id, MemberTag.tag == tag)
            .order_by(MemberTag.member_id)
        )
    )


def tag_counts(session: Session, workspace_id: int) -> dict[str, int]:
    rows = session.execute(
        select(MemberTag.tag, func.count())
        .where(MemberTag.workspace_id == workspace_id)
        .group_by(MemberTag.tag)
        .order_by(MemberTag.tag)
    )
    return {tag: int(count) for tag, count in rows}


def copy_tags(session: Session, from_member: int, to_member: int) -> None:
    """The merged member's tags onto the survivor (those it lacks); the merged keep theirs."""
    survivor = session.get(Member, to_member)
    assert survivor is not None
    for tag in tags_of(session, [from_member]).get(from_member, []):
        add_tags(
            session, survivor.workspace_id, [to_member], tag, actor="merge", now=survivor.created_at
        )


def new_member_ids(session: Session, count: int) -> list[int]:
    """Ids for new members, as the database would give them one by one (the bulk import)."""
    if session.get_bind().dialect.name == "postgresql":
        return list(
            session.scalars(
                text(
                    "SELECT nextval(pg_get_serial_sequence('members', 'id')) AS id"
                    " FROM generate_series(1, :count) ORDER BY id"
                ),
                {"count": count},
            )
        )
    # SQLite: the next rowids; the transaction holds the write lock (BEGIN IMMEDIATE).
    last = session.scalar(text("SELECT coalesce(max(id), 0) FROM members")) or 0
    return list(range(last + 1, last + 1 + count))
