"""The identity hub: resolve people to members, link and merge them, record their timeline."""

from __future__ import annotations

import base64
from collections.abc import Collection, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from pydantic import ValidationError
from sqlalchemy import Table, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from siyu.core import clock
from siyu.core.crypto import hasher
from siyu.core.errors import Conflict, Invalid, NotFound, SiyuError
from siyu.core.events import DomainEvent, bus
from siyu.identity import repository
from siyu.identity.models import (
    ConflictStatus,
    Identity,
    IdentityKind,
    Member,
    MemberMerge,
    MemberStatus,
    MergeConflict,
    TimelineEvent,
)
from siyu.identity.repository import IdentityKey
from siyu.identity.schemas import (
    ConflictRead,
    DailyCount,
    EventIn,
    IdentityRead,
    IngestReport,
    LineError,
    MemberRead,
    MergeRead,
    Overview,
    PersonRef,
    ResolvedMember,
    TimelineEventRead,
    TimelinePage,
    error_reason,
    latest_event_time,
    mask_phone,
    normalize_phone,
)
from siyu.workspaces import service as workspaces
from siyu.workspaces.schemas import AppRead

RESOLVE_ATTEMPTS = 5
BATCH_LIMIT = 1000
SYSTEM = "system"


@dataclass(frozen=True, slots=True)
class MemberCreated(DomainEvent):
    workspace_id: int
    member_id: int
    number: int


@dataclass(frozen=True, slots=True)
class MembersMerged(DomainEvent):
    workspace_id: int
    survivor_id: int
    merged_id: int
    reason: str


@dataclass(frozen=True, slots=True)
class MergeUndone(DomainEvent):
    workspace_id: int
    survivor_id: int
    merged_id: int


@dataclass(frozen=True, slots=True)
class MergeConflictOpened(DomainEvent):
    workspace_id: int
    conflict_id: int
    reason: str


@dataclass(frozen=True, slots=True)
class EventsRecorded(DomainEvent):
    workspace_id: int
    count: int


def phone_hash(phone: str) -> str:
    """The keyed lookup hash of a normalized phone number."""
    return hasher().digest(phone, "phone")


def _keys(person: PersonRef) -> dict[IdentityKind, IdentityKey]:
    keys: dict[IdentityKind, IdentityKey] = {}
    if person.openid:
        keys[IdentityKind.openid] = (IdentityKind.openid, person.appid, person.openid)
    if person.external_id:
        keys[IdentityKind.external] = (IdentityKind.external, person.appid, person.external_id)
    if person.unionid:
        keys[IdentityKind.unionid] = (IdentityKind.unionid, "", person.unionid)
    if person.phone:
        keys[IdentityKind.phone] = (IdentityKind.phone, "", phone_hash(person.phone))
    return keys


class _Resolution:
    """One attempt at resolving a person, inside a savepoint that a unique violation undoes."""

    def __init__(
        self, session: Session, app: AppRead, person: PersonRef, actor: str, seen_at: datetime
    ) -> None:
        self.session = session
        self.seen_at = seen_at
        self.app = app
        self.workspace_id = app.workspace_id
        self.person = person
        self.actor = actor
        self.keys = _keys(person)
        self.created = False
        self.merged: list[int] = []

    def run(self) -> ResolvedMember:
        found = repository.find_identities(self.session, self.workspace_id, self.keys.values())
        owner = {IdentityKind(row.kind): row.member_id for row in found}
        member_id = self._anchor(owner) or self._phone_link(owner.get(IdentityKind.phone))
        created: Member | None = None
        if member_id is None:
            created = self._create()
            member_id = created.id
        self._attach_missing(member_id, owner)
        if self.person.phone is not None:
            # Look again: a merge above may have moved the phone to the survivor.
            key = self.keys[IdentityKind.phone]
            phone_owner = repository.find_identity_owners(self.session, self.workspace_id, [key])
            member_id, loser = _link_phone(
                self.session, member_id, self.person.phone, phone_owner.get(key), actor=self.actor
            )
            self.merged += [loser] if loser is not None else []
        member = created if created is not None and created.id == member_id else None
        if member is None:
            member = repository.get_member(self.session, member_id)
        assert member is not None
        return ResolvedMember(
            id=member.id, number=member.number, created=self.created, merged_ids=self.merged
        )

    def _anchor(self, owner: dict[IdentityKind, int]) -> int | None:
        anchor = owner.get(IdentityKind.openid)
        external = owner.get(IdentityKind.external)
        if anchor is not None and external is not None and anchor != external:
            _open_conflict(
                self.session,
                self.workspace_id,
                (anchor, external),
                reason="external_id_on_two_members",
                evidence={"appid": self.app.appid},
            )
        anchor = anchor or external
        unionid_owner = owner.get(IdentityKind.unionid)
        if self.person.unionid is None or unionid_owner == anchor:
            return anchor
        if anchor is None:
            return unionid_owner
        known = _unionid_of(self.session, anchor)
        if unionid_owner is None:
            if known is not None and known != self.person.unionid:
                raise Conflict(
                    "identity.unionid_mismatch",
                    "this openid already belongs to another UnionID",
                    data={"member_id": anchor},
                )
            return anchor
        if known is None:
            # The openid was first seen without UnionID: it joins the UnionID's member.
            _merge(
                self.session,
                unionid_owner,
                anchor,
                reason="unionid",
                evidence={"appid": self.app.appid},
                actor=self.actor,
            )
            self.merged.append(anchor)
            return unionid_owner
        _open_conflict(
            self.session,
            self.workspace_id,
            (anchor, unionid_owner),
            reason="openid_unionid_mismatch",
            evidence={"appid": self.app.appid},
        )
        return anchor

    def _phone_link(self, phone_owner: int | None) -> int | None:
        """A new openid whose phone is known joins that member, unless UnionIDs disagree."""
        if phone_owner is None:
            return None
        known = _unionid_of(self.session, phone_owner)
        if self.person.unionid and known and known != self.person.unionid:
            return None  # a new member is made and the conflict goes to review
        return phone_owner

    def _create(self) -> Member:
        number = workspaces.take_member_numbers(self.session, self.workspace_id)
        member = Member(
            workspace_id=self.workspace_id,
            number=number,
            status=MemberStatus.active,
            attributes={},
            created_at=self.seen_at,
        )
        repository.add(self.session, member)
        self.created = True
        bus.publish(self.session, MemberCreated(self.workspace_id, member.id, number))
        return member

    def _attach_missing(self, member_id: int, owner: dict[IdentityKind, int]) -> None:
        missing = []
        for kind, key in self.keys.items():
            if kind is IdentityKind.phone or kind in owner:
                continue
            if (
                kind is IdentityKind.unionid
                and not self.created
                and _unionid_of(self.session, member_id)
            ):
                continue  # a conflict was recorded; a member keeps one UnionID
            missing.append(key)
        now = clock.now()
        # One flush for all of them: one INSERT statement rather than one per identity.
        self.session.add_all(
            Identity(
                workspace_id=self.workspace_id,
                member_id=member_id,
                kind=kind,
                scope=scope,
                value=value,
                secret=None,
                created_at=now,
            )
            for kind, scope, value in missing
        )
        self.session.flush()


def _add_identity(
    session: Session,
    workspace_id: int,
    member_id: int,
    key: IdentityKey,
    secret: str | None = None,
) -> Identity:
    kind, scope, value = key
    identity = Identity(
        workspace_id=workspace_id,
        member_id=member_id,
        kind=kind,
        scope=scope,
        value=value,
        secret=secret,
        created_at=clock.now(),
    )
    repository.add(session, identity)
    return identity


def _unionid_of(session: Session, member_id: int) -> str | None:
    for identity in repository.list_identities(session, [member_id]):
        if identity.kind == IdentityKind.unionid:
            return identity.value
    return None


def _link_phone(
    session: Session, member_id: int, phone: str, phone_owner: int | None, *, actor: str
) -> tuple[int, int | None]:
    """Attach a phone to a member; a phone already on another member is evidence of one person.

    Returns the member that holds the phone afterwards and the member merged away, if any.
    """
    member = repository.get_member(session, member_id)
    assert member is not None
    if phone_owner is None:
        _add_identity(
            session,
            member.workspace_id,
            member_id,
            (IdentityKind.phone, "", phone_hash(phone)),
            secret=phone,
        )
        return member_id, None
    if phone_owner == member_id:
        return member_id, None
    mine, theirs = _unionid_of(session, member_id), _unionid_of(session, phone_owner)
    if mine is not None and theirs is not None and mine != theirs:
        # Same phone, two UnionIDs: two WeChat users share a number. Never merge by itself.
        _open_conflict(
            session,
            member.workspace_id,
            (member_id, phone_owner),
            reason="phone_on_two_unionids",
            evidence={"phone_hash": phone_hash(phone)[:16]},
        )
        return member_id, None
    other = repository.get_member(session, phone_owner)
    assert other is not None
    keep_other = theirs is not None or (mine is None and other.number < member.number)
    survivor, loser = (other, member) if keep_other else (member, other)
    evidence = {"phone_hash": phone_hash(phone)[:16]}
    _merge(session, survivor.id, loser.id, reason="phone", evidence=evidence, actor=actor)
    return survivor.id, loser.id


def _open_conflict(
    session: Session,
    workspace_id: int,
    pair: tuple[int, int],
    *,
    reason: str,
    evidence: dict[str, Any],
) -> MergeConflict:
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
        raise NotFound("identity.member_not_found", "member not found")
    return first, second


def _merge(
    session: Session,
    survivor_id: int,
    merged_id: int,
    *,
    reason: str,
    evidence: dict[str, Any],
    actor: str,
) -> MemberMerge:
    survivor, merged = _lock_pair(session, survivor_id, merged_id)
    if survivor.id == merged.id:
        raise Invalid("identity.merge_self", "a member cannot be merged into itself")
    if survivor.workspace_id != merged.workspace_id:
        raise NotFound("identity.member_not_found", "member not found")
    for member in (survivor, merged):
        if member.status != MemberStatus.active:
            raise Conflict(
                "identity.member_merged",
                f"member {member.number} was already merged into another",
                data={"member_id": member.id, "merged_into_id": member.merged_into_id},
            )
    survivor_before, merged_before = dict(survivor.attributes), dict(merged.attributes)
    moved = repository.move_identities(session, merged.id, survivor.id)
    repository.move_events(session, merged.id, survivor.id)
    repository.copy_tags(session, merged.id, survivor.id)
    # The survivor's own attributes win; the merged member's fill the gaps.
    survivor.attributes = {**merged_before, **survivor_before}
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
        actor=actor,
        created_at=clock.now(),
    )
    repository.add(session, record)
    bus.publish(session, MembersMerged(survivor.workspace_id, survivor.id, merged.id, reason))
    return record


def resolve_member(
    session: Session,
    app: AppRead,
    person: PersonRef,
    *,
    actor: str = SYSTEM,
    seen_at: datetime | None = None,
) -> ResolvedMember:
    """The member this person is, creating or linking as the evidence says.

    `seen_at` dates a member created from history (an import) at its first event, not today.

    Simultaneous first logins of one person race on the identities' unique key: the loser's
    savepoint rolls back and it tries again, finding the winner's member.
    """
    if person.appid != app.appid:
        raise Invalid("identity.app_mismatch", "person.appid differs from the app")
    for _attempt in range(RESOLVE_ATTEMPTS):
        try:
            with session.begin_nested():
                seen = min(seen_at, clock.now()) if seen_at else clock.now()
                return _Resolution(session, app, person, actor, seen).run()
        except IntegrityError:
            continue
    raise Conflict(
        "identity.resolve_contention", "too many concurrent changes to this person; retry"
    )


def resolve_members(
    session: Session, app: AppRead, people: Sequence[PersonRef]
) -> list[ResolvedMember]:
    """Many people of one app at once (a CRM sync, a follower list, a login storm), each as
    `resolve_member` would resolve them in this order, with a few queries for the whole batch.

    All or nothing: if anyone is refused (e.g. an openid already bound to another UnionID),
    nothing is written and the refusals come back by index.
    """
    from siyu.identity.ingest import EventImport  # the bulk planner builds on this module

    if any(person.appid != app.appid for person in people):
        raise Invalid("identity.app_mismatch", "every person's appid must be the app's")
    with session.begin_nested() as batch:
        ids, created, errors = EventImport(app.workspace_id).resolve_people(session, app, people)
        if errors:
            batch.rollback()
            raise Invalid(
                "identity.invalid_batch",
                f"{len(errors)} of {len(people)} people could not be resolved; nothing was written",
                data={"errors": [e.model_dump() for e in errors]},
            )
    numbers = repository.member_numbers(session, set(ids))
    results = []
    for member_id in ids:  # "created" for the first person naming a new member, as one by one
        results.append(
            ResolvedMember(id=member_id, number=numbers[member_id], created=member_id in created)
        )
        created.discard(member_id)
    return results


def resolve(
    session: Session,
    app: AppRead,
    openid: str,
    unionid: str | None = None,
    phone: str | None = None,
    *,
    external_id: str | None = None,
) -> ResolvedMember:
    """`resolve(app, openid, unionid=None, phone=None)` as the identity hub promises it."""
    try:
        person = PersonRef(
            appid=app.appid, openid=openid, unionid=unionid, phone=phone, external_id=external_id
        )
    except ValidationError as exc:
        raise Invalid(
            "identity.invalid_person", _first_error(exc), data={"errors": _errors(exc)}
        ) from exc
    return resolve_member(session, app, person)


def bind_phone(
    session: Session, workspace_id: int, member_id: int, phone: str, actor: str = SYSTEM
) -> ResolvedMember:
    """Attach a phone to a member, merging where it proves one person (e.g. getuserphonenumber)."""
    try:
        normalized = normalize_phone(phone)
    except ValueError as exc:
        raise Invalid("identity.invalid_phone", str(exc)) from exc
    member = _active_member(session, workspace_id, member_id)
    owners = repository.member_ids_with_identity(
        session, workspace_id, IdentityKind.phone, phone_hash(normalized), scope=""
    )
    survivor_id, loser = _link_phone(
        session, member.id, normalized, owners[0] if owners else None, actor=actor
    )
    survivor = repository.get_member(session, survivor_id)
    assert survivor is not None
    merged = [loser] if loser is not None else []
    return ResolvedMember(id=survivor.id, number=survivor.number, merged_ids=merged)


def _active_member(session: Session, workspace_id: int, member_id: int) -> Member:
    member = repository.get_member(session, member_id)
    if member is None or member.workspace_id != workspace_id:
        raise NotFound("identity.member_not_found", f"member {member_id} not found")
    return member


def member_family(session: Session, workspace_id: int, member_id: int) -> list[int]:
    """The person behind a member id: the member it was merged into (followed to the end),
    first, then every member merged into that one, at any depth."""
    member = _active_member(session, workspace_id, member_id)
    seen = {member.id}
    while member.merged_into_id is not None:
        parent = repository.get_member(session, member.merged_into_id)
        if parent is None or parent.id in seen:
            break
        seen.add(parent.id)
        member = parent
    family, frontier = [member.id], [member.id]
    while frontier:
        frontier = [m for m in repository.members_merged_into(session, frontier) if m not in family]
        family += frontier
    return family


def workspace_of_member(session: Session, member_id: int) -> int | None:
    member = repository.get_member(session, member_id)
    return member.workspace_id if member is not None else None


def wechat_ids_of(session: Session, member_ids: list[int]) -> list[str]:
    """The openids, UnionIDs and external ids of these members (not their phones)."""
    return [
        value
        for kind, value in repository.identity_values(session, member_ids)
        if kind != IdentityKind.phone
    ]


def identity_values_of(session: Session, member_ids: list[int]) -> list[str]:
    """Every identity value of these members: ids as they are, phones as their keyed hash."""
    return [value for _kind, value in repository.identity_values(session, member_ids)]


def mark_erased(session: Session, member_ids: list[int]) -> None:
    repository.mark_erased(session, member_ids, clock.now())
    session.flush()


def merge_members(
    session: Session,
    workspace_id: int,
    survivor_id: int,
    merged_id: int,
    *,
    actor: str,
    conflict_id: int | None = None,
) -> MergeRead:
    """Staff merge two members (from the review list or by hand)."""
    _active_member(session, workspace_id, survivor_id)
    _active_member(session, workspace_id, merged_id)
    conflict = None
    if conflict_id is not None:
        conflict = repository.get_conflict(session, conflict_id)
        if conflict is None or conflict.workspace_id != workspace_id:
            raise NotFound("identity.conflict_not_found", f"conflict {conflict_id} not found")
        if conflict.status != ConflictStatus.open:
            raise Conflict("identity.conflict_closed", "this conflict was already resolved")
        if {conflict.member_a_id, conflict.member_b_id} != {survivor_id, merged_id}:
            raise Invalid("identity.conflict_mismatch", "the conflict names other members")
    evidence: dict[str, Any] = {"conflict_id": conflict_id} if conflict_id else {}
    record = _merge(
        session, survivor_id, merged_id, reason="manual", evidence=evidence, actor=actor
    )
    if conflict is not None:
        conflict.status = ConflictStatus.merged
        conflict.resolved_at = clock.now()
        conflict.resolved_by = actor
    return MergeRead.model_validate(record)


def undo_merge(session: Session, workspace_id: int, merge_id: int, *, actor: str) -> MergeRead:
    """Split a merge again, while nothing that depends on it has happened since."""
    record = repository.get_merge(session, merge_id)
    if record is None or record.workspace_id != workspace_id:
        raise NotFound("identity.merge_not_found", f"merge {merge_id} not found")
    if record.undone_at is not None:
        raise Conflict("identity.merge_already_undone", "this merge was already undone")
    survivor, merged = _lock_pair(session, record.survivor_id, record.merged_id)
    later = repository.later_live_merges(session, record)
    moved = list(record.moved_identity_ids)
    if later or survivor.status != MemberStatus.active:
        raise Conflict(
            "identity.merge_undo_conflict",
            "a later merge involves these members; undo that one first",
            data={"later_merge_ids": [m.id for m in later]},
        )
    if repository.count_identities_owned(session, moved, survivor.id) != len(moved):
        raise Conflict(
            "identity.merge_undo_conflict",
            "identities moved by this merge have changed owner since",
        )
    repository.set_identities_owner(session, moved, merged.id)
    repository.return_events(session, merged.id, survivor.id)
    survivor.attributes = dict(record.survivor_attributes)
    merged.attributes = dict(record.merged_attributes)
    merged.status = MemberStatus.active
    merged.merged_into_id = None
    record.undone_at = clock.now()
    record.undone_by = actor
    session.flush()
    bus.publish(session, MergeUndone(workspace_id, survivor.id, merged.id))
    return MergeRead.model_validate(record)


def dismiss_conflict(
    session: Session, workspace_id: int, conflict_id: int, *, actor: str
) -> ConflictRead:
    conflict = repository.get_conflict(session, conflict_id)
    if conflict is None or conflict.workspace_id != workspace_id:
        raise NotFound("identity.conflict_not_found", f"conflict {conflict_id} not found")
    if conflict.status != ConflictStatus.open:
        raise Conflict("identity.conflict_closed", "this conflict was already resolved")
    conflict.status = ConflictStatus.dismissed
    conflict.resolved_at = clock.now()
    conflict.resolved_by = actor
    session.flush()
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
    _active_member(session, workspace_id, member_id)
    return [MergeRead.model_validate(m) for m in repository.list_merges(session, [member_id])]


# --- reading -------------------------------------------------------------------------------


def _identity_read(identity: Identity, reveal: bool) -> IdentityRead:
    app_scoped = identity.kind in (IdentityKind.openid, IdentityKind.external)
    if identity.kind == IdentityKind.phone:
        phone = identity.secret or ""
        return IdentityRead(
            kind=identity.kind,
            appid=None,
            value=None,
            phone_masked=mask_phone(phone),
            phone=phone if reveal else None,
            created_at=identity.created_at,
        )
    return IdentityRead(
        kind=identity.kind,
        appid=identity.scope if app_scoped else None,
        value=identity.value,
        created_at=identity.created_at,
    )


def _member_reads(session: Session, members: list[Member], reveal: bool) -> list[MemberRead]:
    identities: dict[int, list[IdentityRead]] = {m.id: [] for m in members}
    for identity in repository.list_identities(session, identities):
        identities[identity.member_id].append(_identity_read(identity, reveal))
    return [
        MemberRead(
            id=m.id,
            workspace_id=m.workspace_id,
            number=m.number,
            status=m.status,
            merged_into_id=m.merged_into_id,
            attributes=m.attributes,
            created_at=m.created_at,
            identities=identities[m.id],
            erased_at=m.erased_at,
        )
        for m in members
    ]


def get_member(
    session: Session, workspace_id: int, member_id: int, *, reveal_phone: bool = False
) -> MemberRead:
    member = _active_member(session, workspace_id, member_id)
    return _member_reads(session, [member], reveal_phone)[0]


def get_member_by_number(
    session: Session, workspace_id: int, number: int, *, reveal_phone: bool = False
) -> MemberRead:
    member = repository.get_member_by_number(session, workspace_id, number)
    if member is None:
        raise NotFound("identity.member_not_found", f"no member number {number}")
    return _member_reads(session, [member], reveal_phone)[0]


def search_members(
    session: Session,
    workspace_id: int,
    *,
    phone: str | None = None,
    openid: str | None = None,
    unionid: str | None = None,
    external_id: str | None = None,
    number: int | None = None,
    query: str | None = None,
    limit: int = 50,
    offset: int = 0,
    within: Collection[int] | None = None,
) -> list[MemberRead]:
    """Members by any identity; `query` guesses the kind (number, phone, or WeChat id).

    `within` limits the answer to these member ids (a sales rep's own members)."""
    if query:
        phone, openid, unionid, number = _guess(query)
    ids: list[int] | None = None
    criteria: list[tuple[IdentityKind, str]] = []
    if phone:
        try:
            criteria.append((IdentityKind.phone, phone_hash(normalize_phone(phone))))
        except ValueError as exc:
            raise Invalid("identity.invalid_phone", str(exc)) from exc
    if openid:
        criteria.append((IdentityKind.openid, openid))
    if unionid:
        criteria.append((IdentityKind.unionid, unionid))
    if external_id:
        criteria.append((IdentityKind.external, external_id))
    if criteria or number is not None:
        ids = []
        for kind, value in criteria:
            ids += repository.member_ids_with_identity(session, workspace_id, kind, value)
        if number is not None:
            hit = repository.get_member_by_number(session, workspace_id, number)
            ids += [hit.merged_into_id or hit.id] if hit else []
    if within is not None:
        ids = [i for i in ids if i in within] if ids is not None else list(within)
    members = list(
        repository.list_members(
            session, workspace_id, limit=min(limit, 200), offset=offset, member_ids=ids
        )
    )
    return _member_reads(session, members, reveal=False)


def _guess(query: str) -> tuple[str | None, str | None, str | None, int | None]:
    text = query.strip()
    if text.isdigit() and len(text) <= 9:
        return None, None, None, int(text)
    try:
        normalize_phone(text)
        return text, None, None, None
    except ValueError:
        return None, text, text, None


def count_members(session: Session, workspace_id: int) -> int:
    return repository.count_members(session, workspace_id)


def events_table() -> Table:
    """The timeline's table, for other domains' read-only aggregate reports (no writes)."""
    table = TimelineEvent.__table__
    assert isinstance(table, Table)
    return table


def get_timeline(
    session: Session,
    workspace_id: int,
    member_id: int,
    *,
    limit: int = 50,
    cursor: str | None = None,
) -> TimelinePage:
    _active_member(session, workspace_id, member_id)
    before = _decode_cursor(cursor) if cursor else None
    rows = list(repository.list_timeline(session, member_id, min(max(limit, 1), 200) + 1, before))
    page, more = rows[:limit], len(rows) > limit
    apps = workspaces.get_apps_by_id(session, [r.app_id for r in page if r.app_id])
    items = [
        TimelineEventRead(
            id=r.id,
            event=r.name,
            ts=r.ts,
            channel=r.channel,
            props=r.props,
            appid=apps[r.app_id].appid if r.app_id in apps else None,
        )
        for r in page
    ]
    next_cursor = _encode_cursor(page[-1].ts, page[-1].id) if more and page else None
    return TimelinePage(items=items, next_cursor=next_cursor)


def _encode_cursor(ts: datetime, event_id: int) -> str:
    return base64.urlsafe_b64encode(f"{ts.isoformat()}|{event_id}".encode()).decode()


def _decode_cursor(cursor: str) -> tuple[datetime, int]:
    try:
        ts, _, event_id = base64.urlsafe_b64decode(cursor.encode()).decode().partition("|")
        return datetime.fromisoformat(ts), int(event_id)
    except (ValueError, UnicodeDecodeError) as exc:
        raise Invalid("identity.invalid_cursor", "cursor is not one this API returned") from exc


def overview(session: Session, workspace_id: int, tz: str, days: int = 30) -> Overview:
    """Members, today's figures and a daily series, days counted in the display timezone."""
    zone = ZoneInfo(tz)
    local_now = clock.now().astimezone(zone)
    today = local_now.replace(hour=0, minute=0, second=0, microsecond=0)
    start = today - timedelta(days=days - 1)
    offset = int((local_now.utcoffset() or timedelta()).total_seconds() // 3600)
    members = repository.daily_counts(session, Member, workspace_id, start, offset)
    events = repository.daily_counts(session, TimelineEvent, workspace_id, start, offset)
    series = []
    for i in range(days):
        day = (start + timedelta(days=i)).date().isoformat()
        series.append(DailyCount(day=day, members=members.get(day, 0), events=events.get(day, 0)))
    return Overview(
        members=repository.count_members(session, workspace_id),
        new_today=series[-1].members,
        events_today=series[-1].events,
        open_conflicts=repository.count_open_conflicts(session, workspace_id),
        days=series,
    )


# --- recording events ----------------------------------------------------------------------


def record_event(
    session: Session,
    workspace_id: int,
    member_id: int,
    name: str,
    ts: datetime,
    *,
    app_id: int | None = None,
    channel: str | None = None,
    props: dict[str, Any] | None = None,
) -> int:
    """Append one canonical event to a member's timeline."""
    row = TimelineEvent(
        workspace_id=workspace_id,
        member_id=member_id,
        origin_member_id=member_id,
        app_id=app_id,
        name=name,
        ts=ts,
        channel=channel,
        props=props or {},
        received_at=clock.now(),
    )
    repository.add(session, row)
    bus.publish(session, EventsRecorded(workspace_id, 1))
    return row.id


def _first_error(exc: ValidationError) -> str:
    err = exc.errors()[0]
    where = ".".join(str(p) for p in err["loc"])
    return f"{where}: {error_reason(err)}" if where else error_reason(err)


def _errors(exc: ValidationError) -> list[dict[str, str]]:
    return [
        {"field": ".".join(str(p) for p in e["loc"]), "reason": error_reason(e)}
        for e in exc.errors()
    ]


def ingest_events(session: Session, workspace_id: int, raw: list[dict[str, Any]]) -> IngestReport:
    """Ingest a batch atomically: every event is valid and resolved, or nothing is written."""
    if len(raw) > BATCH_LIMIT:
        raise SiyuError(
            "events.batch_too_large",
            f"a batch holds at most {BATCH_LIMIT} events, not {len(raw)}",
            status=413,
            data={"limit": BATCH_LIMIT},
        )
    events, errors = parse_events(session, workspace_id, enumerate(raw))
    if errors:
        raise Invalid(
            "events.invalid_batch",
            f"{len(errors)} of {len(raw)} events are invalid; nothing was written",
            data={"errors": [e.model_dump() for e in errors]},
        )
    report = IngestReport()
    for index, (event, app) in events:
        try:
            resolved = resolve_member(session, app, event, seen_at=event.ts)
        except SiyuError as exc:
            errors.append(LineError(line=index, code=exc.code, reason=exc.message))
            continue
        report.members_created += int(resolved.created)
        record_event(
            session,
            workspace_id,
            resolved.id,
            event.event,
            event.ts,
            app_id=app.id,
            channel=event.channel,
            props=event.props,
        )
    if errors:
        raise Invalid(
            "events.invalid_batch",
            "some events could not be resolved; nothing was written",
            data={"errors": [e.model_dump() for e in errors]},
        )
    report.accepted = len(events)
    return report


def parse_events(
    session: Session, workspace_id: int, items: Any
) -> tuple[list[tuple[int, tuple[EventIn, AppRead]]], list[LineError]]:
    """Validate raw events (dicts or JSON text) and find their apps; collect errors by index."""
    apps: dict[str, AppRead | None] = {}
    parsed: list[tuple[int, tuple[EventIn, AppRead]]] = []
    errors: list[LineError] = []
    context = {"latest": latest_event_time()}
    validator = EventIn.__pydantic_validator__  # straight to pydantic-core: no wrapper a line
    for index, item in items:
        try:
            event: EventIn = (
                validator.validate_json(item, context=context)
                if isinstance(item, (str, bytes))
                else validator.validate_python(item, context=context)
            )
        except ValidationError as exc:
            errors.append(LineError(line=index, code="events.invalid", reason=_first_error(exc)))
            continue
        if event.appid not in apps:
            try:
                apps[event.appid] = workspaces.get_app_by_appid(session, event.appid, workspace_id)
            except NotFound:
                apps[event.appid] = None
        app = apps[event.appid]
        if app is None:
            errors.append(
                LineError(
                    line=index,
                    code="workspaces.unknown_app",
                    reason=f"no app with appid {event.appid!r}",
                )
            )
            continue
        parsed.append((index, (event, app)))
    return parsed, errors


# --- event tallies (campaign reviews read the timeline, imported or native alike) --------


def _event_day(session: Session, tz: str) -> Any:
    """The event's calendar day in `tz`, as SQL (dates on PostgreSQL, ISO text on SQLite)."""
    if session.get_bind().dialect.name == "postgresql":
        return func.date(func.timezone(tz, TimelineEvent.ts))
    offset = datetime.now(ZoneInfo(tz)).utcoffset() or timedelta(0)  # fixed for Beijing
    hours = int(offset.total_seconds() // 3600)
    return func.date(TimelineEvent.ts, f"{hours:+d} hours")


def tally_coded_events(  # noqa: PLR0917 - a query's natural arguments
    session: Session,
    workspace_id: int,
    names: Sequence[str],
    codes: Sequence[str],
    since: datetime,
    until: datetime,
    *,
    tz: str = "Asia/Shanghai",
) -> list[tuple[str, str, int, str | None, int, int]]:
    """Events whose props carry one of `codes`, per (code, name, member, channel):
    (code, name, member_id, channel, distinct days, events)."""
    code = TimelineEvent.props["code"].as_string()
    day = _event_day(session, tz)
    query = (
        select(
            code,
            TimelineEvent.name,
            TimelineEvent.member_id,
            TimelineEvent.channel,
            func.count(func.distinct(day)),
            func.count(),
        )
        .where(
            TimelineEvent.workspace_id == workspace_id,
            TimelineEvent.name.in_(list(names)),
            TimelineEvent.ts >= since,
            TimelineEvent.ts < until,
            code.in_(list(codes)),
        )
        .group_by(code, TimelineEvent.name, TimelineEvent.member_id, TimelineEvent.channel)
    )
    return [(c, n, m, ch, d, e) for c, n, m, ch, d, e in session.execute(query)]


def tally_coded_days(  # noqa: PLR0917 - a query's natural arguments
    session: Session,
    workspace_id: int,
    name: str,
    code: str,
    since: datetime,
    until: datetime,
    *,
    tz: str = "Asia/Shanghai",
) -> dict[str, int]:
    """Distinct members with a `name` event of `code`, per calendar day (ISO date → count)."""
    day = _event_day(session, tz)
    query = (
        select(day, func.count(func.distinct(TimelineEvent.member_id)))
        .where(
            TimelineEvent.workspace_id == workspace_id,
            TimelineEvent.name == name,
            TimelineEvent.ts >= since,
            TimelineEvent.ts < until,
            TimelineEvent.props["code"].as_string() == code,
        )
        .group_by(day)
    )
    return {str(d)[:10]: n for d, n in session.execute(query)}


def event_props(
    session: Session, workspace_id: int, names: Sequence[str], since: datetime, until: datetime
) -> list[tuple[int, str, dict[str, Any]]]:
    """(member_id, name, props) of the workspace's `names` events in [since, until)."""
    query = select(TimelineEvent.member_id, TimelineEvent.name, TimelineEvent.props).where(
        TimelineEvent.workspace_id == workspace_id,
        TimelineEvent.name.in_(list(names)),
        TimelineEvent.ts >= since,
        TimelineEvent.ts < until,
    )
    return [(m, n, p or {}) for m, n, p in session.execute(query)]


def members_active_since(
    session: Session, workspace_id: int, prefix: str, since: datetime
) -> set[int]:
    """Members with an event named `prefix`… (e.g. "mp.") at or after `since`."""
    query = (
        select(TimelineEvent.member_id)
        .where(
            TimelineEvent.workspace_id == workspace_id,
            TimelineEvent.ts >= since,
            TimelineEvent.name.like(f"{prefix}%"),
        )
        .distinct()
    )
    return set(session.scalars(query))


# --- tags ----------------------------------------------------------------------------------

TAG_MAX = 64


def _clean_tag(tag: str) -> str:
    cleaned = tag.strip()
    if not cleaned or len(cleaned) > TAG_MAX or any(ch in cleaned for ch in "\n\r\t"):
        raise Invalid("identity.invalid_tag", f"a tag is 1–{TAG_MAX} characters on one line")
    return cleaned


def _members_of(session: Session, workspace_id: int, member_ids: Collection[int]) -> list[int]:
    """The members named, each followed to its survivor if it was merged; unknown ids refused."""
    found = []
    for member_id in member_ids:
        member = repository.get_member(session, member_id)
        if member is None or member.workspace_id != workspace_id:
            raise NotFound("identity.member_not_found", f"member {member_id} not found")
        found.append(member.merged_into_id or member.id)
    return found


def tag_members(
    session: Session, workspace_id: int, member_ids: Collection[int], tag: str, *, actor: str
) -> int:
    """Put a tag on members (idempotent: already tagged ones are left); how many were new."""
    cleaned = _clean_tag(tag)
    ids = _members_of(session, workspace_id, member_ids)
    return repository.add_tags(session, workspace_id, ids, cleaned, actor=actor, now=clock.now())


def untag_members(
    session: Session, workspace_id: int, member_ids: Collection[int], tag: str
) -> int:
    """Take a tag off members; how many had it."""
    ids = _members_of(session, workspace_id, member_ids)
    return repository.remove_tags(session, ids, _clean_tag(tag))


def member_tags(session: Session, member_id: int) -> list[str]:
    return repository.tags_of(session, [member_id]).get(member_id, [])


def members_with_tag(session: Session, workspace_id: int, tag: str) -> list[int]:
    return repository.members_with_tag(session, workspace_id, tag.strip())


def tag_counts(session: Session, workspace_id: int) -> dict[str, int]:
    """Every tag of the workspace with how many members carry it."""
    return repository.tag_counts(session, workspace_id)


# --- de-identified export ------------------------------------------------------------------

DEIDENTIFIED_COLUMNS = (
    "pseudonym",
    "joined_on",
    "events",
    "first_event_on",
    "last_event_on",
    "apps",
    "tags",
)


def deidentified_members(
    session: Session, workspace_id: int, *, page: int = 1000
) -> Iterator[tuple[str, ...]]:
    """Every active member as figures an analyst may hold: a keyed pseudonym (stable within this
    install, meaningless outside it; not the member number, which staff can look up), dates to
    the day, counts. No identifier, phone, tag name or event content."""
    after = 0
    while True:
        rows = repository.deidentified_page(session, workspace_id, after_id=after, limit=page)
        if not rows:
            return
        for member_id, joined, events, first, last, apps, tags in rows:
            yield (
                hasher().digest(str(member_id), "deidentified.member")[:16],
                joined.date().isoformat(),
                str(events),
                first.date().isoformat() if first else "",
                last.date().isoformat() if last else "",
                str(apps),
                str(tags),
            )
        after = rows[-1][0]
