"""The bulk import's plan for one chunk: which people the database already knows, which join
a known member and which become one new member together, decided from one look at the
identities (see `importer`); everyone else goes through `resolve_member`."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

from siyu.identity.enums import IdentityKind
from siyu.identity.repository import IdentityKey
from siyu.identity.schemas import LineError, PersonRef

PersonKey = tuple[str, str | None, str | None, str | None, str | None]


class Plan(enum.Enum):
    KNOWN = "known"
    JOIN = "join"
    NEW = "new"
    SLOW = "slow"


@dataclass(eq=False, slots=True)
class Group:
    """New people of one chunk who become one new member (one person, most often)."""

    keys: dict[IdentityKey, str | None]  # in the order they are attached; phone -> the number
    people: list[PersonKey]
    member_id: int | None = None
    queued: bool = False


@dataclass(eq=False, slots=True)
class Person:
    """A person of the chunk whom the cache does not know, in order of first appearance."""

    key: PersonKey
    event: PersonRef
    keys: dict[IdentityKind, IdentityKey]
    plan: Plan = Plan.SLOW
    owned: frozenset[IdentityKey] = frozenset()  # the keys known at the start of the chunk
    member_id: int | None = None  # KNOWN and JOIN: the member owning them
    group: Group | None = None  # NEW
    target: int | Group | None = None  # once resolved in this chunk


@dataclass
class Attempt:
    """What one chunk did so far; forgotten in memory if its database work is rolled back."""

    errors: list[LineError]
    cached: list[PersonKey] = field(default_factory=list)
    redirected: list[int] = field(default_factory=list)
    touched: set[int] = field(default_factory=set)  # changed by `resolve_member` calls
    attached: set[IdentityKey] = field(default_factory=set)  # new keys of joining people
    unionids: dict[int, str] = field(default_factory=dict)  # UnionIDs they attached
    members_created: int = 0
    created_ids: set[int] = field(default_factory=set)
    groups: list[Group] = field(default_factory=list)  # decided, not yet written
    attach: list[tuple[int, IdentityKey, str | None]] = field(default_factory=list)


def components(people: list[Person], holders: dict[IdentityKey, list[int]]) -> list[list[Person]]:
    """The people linked by shared keys, each component in order of first appearance."""
    parent = list(range(len(people)))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for indexes in holders.values():
        for other in indexes[1:]:
            a, b = root(indexes[0]), root(other)
            if a != b:
                parent[max(a, b)] = min(a, b)
    components: dict[int, list[Person]] = {}
    for index, person in enumerate(people):
        components.setdefault(root(index), []).append(person)
    return list(components.values())


def member_id_of(group: Group) -> int:
    assert group.member_id is not None
    return group.member_id


def joined(
    people: list[Person], owners: dict[IdentityKey, int], unionids: dict[int, str]
) -> int | None:
    """The one existing member `resolve_member` would find for each of these people, taken in
    line order, attaching their new keys; None where the outcome needs the full rules.

    Every known key is this member's. Each person has a key of the member's or of those
    before them: found by openid or external id, by UnionID, or by the phone of a member with
    no other UnionID. With at most one UnionID among them and the member, no mismatch,
    conflict or new member can arise. (`may_join` checks, line by line, that nothing else
    in the chunk changed the member meanwhile.)
    """
    found = {owners[k] for p in people for k in p.owned}
    if len(found) != 1:
        return None
    member_id = found.pop()
    names = {p.keys[IdentityKind.unionid] for p in people if IdentityKind.unionid in p.keys}
    if member_id in unionids:
        names.add((IdentityKind.unionid, "", unionids[member_id]))
    if len(names) > 1:
        return None
    seen: set[IdentityKey] = set()
    for person in people:
        if not person.owned and not any(k in seen for k in person.keys.values()):
            return None
        seen.update(person.keys.values())
    return member_id


def may_join(person: Person, member_id: int, attempt: Attempt) -> bool:
    """Whether the member is still as planned: untouched by the full rules, and any UnionID
    the person brings is the one attached to it in this chunk, if any."""
    if member_id in attempt.touched:
        return False
    unionid = person.keys.get(IdentityKind.unionid)
    if unionid is None or unionid in person.owned:
        return True
    return attempt.unionids.get(member_id, unionid[2]) == unionid[2]


def new_member(people: list[Person], owners: dict[IdentityKey, int]) -> Group | None:
    """The one new member `resolve_member` would make of these people, taken in line order;
    None where the outcome needs the full rules (a known key, two UnionIDs, a merge to be).

    The first person's keys are all unknown: a member is created with all of them. A later
    person sharing a key with those before is found by it (openid, UnionID, or the phone, whose
    member has no other UnionID) and brings their other keys: with at most one UnionID among
    them no mismatch or conflict can arise. A later person sharing no key with those before
    would become a second member, merged once a person linking both comes: not here.
    """
    unionids = {p.keys[IdentityKind.unionid] for p in people if IdentityKind.unionid in p.keys}
    if len(unionids) > 1:
        return None
    keys: dict[IdentityKey, str | None] = {}
    for person in people:
        mine = person.keys.values()
        if any(k in owners for k in mine) or (keys and not any(k in keys for k in mine)):
            return None
        for kind, k in person.keys.items():
            if kind is not IdentityKind.phone:
                keys.setdefault(k, None)
        if IdentityKind.phone in person.keys:  # attached last, the number encrypted
            keys.setdefault(person.keys[IdentityKind.phone], person.event.phone)
    return Group(keys=keys, people=[p.key for p in people])
