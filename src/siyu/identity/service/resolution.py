"""Resolving a person to a member: find them by any identity, create them, attach what is new,
merge where the evidence proves one person and send to review where it only suggests it."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import ValidationError
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from siyu.core import clock
from siyu.core.events import bus
from siyu.identity import errors, repository
from siyu.identity.enums import IdentityKind, MemberStatus
from siyu.identity.models import Identity, Member
from siyu.identity.repository import IdentityKey
from siyu.identity.schemas import PersonRef, ResolvedMember, error_reason, normalize_phone
from siyu.identity.service import numbering
from siyu.identity.service.domain_events import MemberCreated
from siyu.identity.service.keys import person_keys, phone_hash
from siyu.identity.service.members import active_member
from siyu.identity.service.merges import merge_pair, open_conflict
from siyu.workspaces.schemas import AppRead

RESOLVE_ATTEMPTS = 5
SYSTEM = "system"


class _Resolution:
    """One attempt at resolving a person, inside a savepoint that a unique violation undoes."""

    def __init__(  # noqa: PLR0917 - one attempt's whole context
        self,
        session: Session,
        app: AppRead,
        person: PersonRef,
        actor: str,
        seen_at: datetime,
        number_at_commit: bool = False,
    ) -> None:
        self.session = session
        self.number_at_commit = number_at_commit
        self.seen_at = seen_at
        self.app = app
        self.workspace_id = app.workspace_id
        self.person = person
        self.actor = actor
        self.keys = person_keys(person)
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
            open_conflict(
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
                raise errors.UNIONID_MISMATCH(
                    "this openid already belongs to another UnionID",
                    data={"member_id": anchor},
                )
            return anchor
        if known is None:
            # The openid was first seen without UnionID: it joins the UnionID's member.
            merge_pair(
                self.session,
                unionid_owner,
                anchor,
                reason="unionid",
                evidence={"appid": self.app.appid},
                actor=self.actor,
            )
            self.merged.append(anchor)
            return unionid_owner
        open_conflict(
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
        member = Member(
            workspace_id=self.workspace_id,
            status=MemberStatus.active,
            attributes={},
            created_at=self.seen_at,
        )
        if self.number_at_commit:
            [member.id] = repository.new_member_ids(self.session, 1)
            member.number = numbering.provisional_number(member.id)
        else:
            member.number = numbering.take_member_numbers(self.session, self.workspace_id, 1)
        repository.add(self.session, member)
        self.created = True
        if self.number_at_commit:
            numbering.number_later(self.session, self.workspace_id)
        else:
            bus.publish(self.session, MemberCreated(self.workspace_id, member.id, member.number))
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


def _older(one: Member, other: Member) -> bool:
    """Whether `one` was numbered first; members still waiting for their number at commit
    (a provisional one, `numbering`) come after all numbered, in the order they were made."""

    def rank(member: Member) -> tuple[bool, int]:
        return (member.number < 0, member.id if member.number < 0 else member.number)

    return rank(one) < rank(other)


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
        open_conflict(
            session,
            member.workspace_id,
            (member_id, phone_owner),
            reason="phone_on_two_unionids",
            evidence={"phone_hash": phone_hash(phone)[:16]},
        )
        return member_id, None
    other = repository.get_member(session, phone_owner)
    assert other is not None
    keep_other = theirs is not None or (mine is None and _older(other, member))
    survivor, loser = (other, member) if keep_other else (member, other)
    evidence = {"phone_hash": phone_hash(phone)[:16]}
    merge_pair(session, survivor.id, loser.id, reason="phone", evidence=evidence, actor=actor)
    return survivor.id, loser.id


def resolve_member(
    session: Session,
    app: AppRead,
    person: PersonRef,
    *,
    actor: str = SYSTEM,
    seen_at: datetime | None = None,
    number_at_commit: bool = False,
) -> ResolvedMember:
    """The member this person is, creating or linking as the evidence says.

    `seen_at` dates a member created from history (an import) at its first event, not today.
    With `number_at_commit`, a member made gets its number just before commit (`numbering`;
    the answer then carries a provisional one).

    Simultaneous first logins of one person race on the identities' unique key: the loser's
    savepoint rolls back and it tries again, finding the winner's member.
    """
    if person.appid != app.appid:
        raise errors.APP_MISMATCH("person.appid differs from the app")
    for _attempt in range(RESOLVE_ATTEMPTS):
        try:
            with session.begin_nested():
                seen = min(seen_at, clock.now()) if seen_at else clock.now()
                return _Resolution(session, app, person, actor, seen, number_at_commit).run()
        except IntegrityError:
            continue
    raise errors.RESOLVE_CONTENTION("too many concurrent changes to this person; retry")


def first_error(exc: ValidationError) -> str:
    """The first thing wrong with an input, as "field: reason"."""
    err = exc.errors()[0]
    where = ".".join(str(p) for p in err["loc"])
    return f"{where}: {error_reason(err)}" if where else error_reason(err)


def field_errors(exc: ValidationError) -> list[dict[str, Any]]:
    return [
        {"field": ".".join(str(p) for p in e["loc"]), "reason": error_reason(e)}
        for e in exc.errors()
    ]


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
        raise errors.INVALID_PERSON(
            first_error(exc), data={"errors": field_errors(exc)}, reason=first_error(exc)
        ) from exc
    return resolve_member(session, app, person)


def bind_phone(
    session: Session, workspace_id: int, member_id: int, phone: str, actor: str = SYSTEM
) -> ResolvedMember:
    """Attach a phone to a member, merging where it proves one person (e.g. getuserphonenumber)."""
    try:
        normalized = normalize_phone(phone)
    except ValueError as exc:
        raise errors.INVALID_PHONE(str(exc)) from exc
    member = active_member(session, workspace_id, member_id)
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
