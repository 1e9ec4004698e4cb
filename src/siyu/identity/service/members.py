"""Reading members: by id or number, search by any identity, and the person behind a member
(everyone merged into it)."""

from __future__ import annotations

from collections.abc import Collection, Iterable

from sqlalchemy import Table
from sqlalchemy.orm import Session

from siyu.core import clock
from siyu.identity import errors, repository
from siyu.identity.enums import IdentityKind
from siyu.identity.models import Identity, Member
from siyu.identity.schemas import IdentityRead, MemberRead, mask_phone, normalize_phone
from siyu.identity.service.keys import phone_hash
from siyu.identity.service.terms import find_by_profile

SEARCH_MAX = 200


def members_table() -> Table:
    """The members' table, for other domains' read-only set-based queries (no writes): the
    audience's tiers and RFM join it by id, status and dates, never its personal data."""
    table = Member.__table__
    assert isinstance(table, Table)
    return table


def active_member(session: Session, workspace_id: int, member_id: int) -> Member:
    """The member row (merged or not) of this workspace; another's is reported as unknown."""
    member = repository.get_member(session, member_id)
    if member is None or member.workspace_id != workspace_id:
        raise errors.MEMBER_NOT_FOUND(f"member {member_id} not found")
    return member


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


def member_reads(session: Session, members: list[Member], reveal: bool) -> list[MemberRead]:
    """The members with their identities, in one query for all of them."""
    identities: dict[int, list[IdentityRead]] = {m.id: [] for m in members}
    for identity in repository.list_identities(session, identities):
        identities[identity.member_id].append(_identity_read(identity, reveal))
    profiles = repository.profiles_of(session, list(identities))
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
            display_name=profiles[m.id].display_name if m.id in profiles else None,
            remark=profiles[m.id].remark if m.id in profiles else None,
        )
        for m in members
    ]


def get_member(
    session: Session, workspace_id: int, member_id: int, *, reveal_phone: bool = False
) -> MemberRead:
    member = active_member(session, workspace_id, member_id)
    return member_reads(session, [member], reveal_phone)[0]


def get_member_by_number(
    session: Session, workspace_id: int, number: int, *, reveal_phone: bool = False
) -> MemberRead:
    member = repository.get_member_by_number(session, workspace_id, number)
    if member is None:
        raise errors.MEMBER_NOT_FOUND(f"no member number {number}")
    return member_reads(session, [member], reveal_phone)[0]


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
            raise errors.INVALID_PHONE(str(exc)) from exc
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
        if query and number is None and phone is None:  # a name or words of a remark
            ids += find_by_profile(session, workspace_id, query, SEARCH_MAX)
        if number is not None:
            hit = repository.get_member_by_number(session, workspace_id, number)
            ids += [hit.merged_into_id or hit.id] if hit else []
    if within is not None:
        ids = [i for i in ids if i in within] if ids is not None else list(within)
    members = list(
        repository.list_members(
            session, workspace_id, limit=min(limit, SEARCH_MAX), offset=offset, member_ids=ids
        )
    )
    return member_reads(session, members, reveal=False)


def _guess(query: str) -> tuple[str | None, str | None, str | None, int | None]:
    text = query.strip()
    if text.isdigit() and len(text) <= 9:
        return None, None, None, int(text)
    try:
        normalize_phone(text)
        return text, None, None, None
    except ValueError:
        return None, text, text, None


def is_phone(text: str | None) -> bool:
    """Whether a search text is a phone number (a search by phone is audited)."""
    if not text:
        return False
    try:
        normalize_phone(text.strip())
    except ValueError:
        return False
    return True


def numbers_of(session: Session, workspace_id: int, member_ids: Iterable[int]) -> dict[int, int]:
    """Member id → member number (学号), for pages and exports that show people, not ids."""
    return repository.member_numbers(session, set(member_ids), workspace_id)


def count_members(session: Session, workspace_id: int) -> int:
    return repository.count_members(session, workspace_id)


def member_family(session: Session, workspace_id: int, member_id: int) -> list[int]:
    """The person behind a member id: the member it was merged into (followed to the end),
    first, then every member merged into that one, at any depth."""
    member = active_member(session, workspace_id, member_id)
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


def member_families(
    session: Session, workspace_id: int, member_ids: Collection[int]
) -> tuple[dict[int, list[int]], set[int]]:
    """`member_family` for many members at once (a few queries, not a few per member), and
    which of them were erased. A member unknown in this workspace has no family."""
    links = {row[0]: row for row in repository.member_links(session, list(member_ids))}
    requested = [m for m in member_ids if m in links and links[m][1] == workspace_id]
    erased = {m for m in requested if links[m][3] is not None}
    missing = {p for _i, _w, p, _e in links.values() if p is not None and p not in links}
    while missing:  # parents of merged members (rare), then theirs
        for row in repository.member_links(session, list(missing)):
            links[row[0]] = row
        missing = {p for _i, _w, p, _e in links.values() if p is not None and p not in links}

    def survivor(member_id: int) -> int:
        seen = {member_id}
        while (parent := links[member_id][2]) is not None:
            if parent not in links or parent in seen:
                break
            seen.add(parent)
            member_id = parent
        return member_id

    tops = {m: survivor(m) for m in requested}
    children: dict[int, list[int]] = {}
    known, frontier = set(tops.values()), list(set(tops.values()))
    while frontier:
        pairs = repository.merged_children(session, frontier)
        frontier = []
        for child, parent in pairs:
            children.setdefault(parent, []).append(child)
            if child not in known:
                known.add(child)
                frontier.append(child)
    families: dict[int, list[int]] = {}
    for top in set(tops.values()):
        family, level = [top], [top]
        while level:
            level = [c for p in level for c in children.get(p, []) if c not in family]
            family += level
        families[top] = family
    return {m: families[top] for m, top in tops.items()}, erased


def surviving_member_id(
    session: Session, workspace_id: int, member_id: int, *, max_hops: int = 16
) -> int:
    """The member this one is now (merges followed to the end): one row read per hop, no
    identities (payment notifications ask this once each)."""
    member = active_member(session, workspace_id, member_id)
    for _hop in range(max_hops):
        if member.merged_into_id is None:
            break
        member = active_member(session, workspace_id, member.merged_into_id)
    return member.id


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
