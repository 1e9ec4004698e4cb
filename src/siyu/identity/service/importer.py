"""Streaming import of canonical events (JSON Lines): validate, resolve members, append in bulk.

Each chunk is resolved with the rules of `resolution.resolve_member`, but without a savepoint and
half a dozen queries per person where the outcome is certain from one look at the database:

* KNOWN: every key of the person already belongs to one member: that member, nothing written.
* JOIN: the known keys belong to one member, and the new ones are the person's own (or shared
  only with people of the chunk who join the same member); each person links to that member
  or to those before, naming no second UnionID: the new keys are attached to the member.
* NEW: no key is known, and the people of the chunk sharing keys with this one link up in line
  order naming at most one UnionID: one new member with all their keys, created in bulk with
  the others, numbered in order of first appearance as if one by one.

Everyone else (a key on another member, two UnionIDs, a merge to be) goes through
`resolve_member` in line order, exactly as before, and so does a JOIN whose member an earlier
line of the chunk changed; what was decided before such a line is written before it. New
members, identities and events are written with COPY on PostgreSQL, executemany on SQLite.
"""

from __future__ import annotations

import gc
from collections import OrderedDict
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from itertools import islice
from typing import TypeVar

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from siyu.core import clock
from siyu.core.db import Database
from siyu.core.errors import SiyuError
from siyu.core.events import bus
from siyu.identity import repository
from siyu.identity.bulk import PipelinedWriter, insert_rows
from siyu.identity.enums import IdentityKind, MemberStatus
from siyu.identity.models import Identity, Member, TimelineEvent
from siyu.identity.repository import IdentityKey
from siyu.identity.schemas import EventIn, IngestReport, LineError, PersonRef
from siyu.identity.service import numbering, resolution
from siyu.identity.service.domain_events import EventsRecorded, MemberCreated
from siyu.identity.service.import_plan import (
    Attempt,
    Group,
    Person,
    PersonKey,
    Plan,
    components,
    joined,
    may_join,
    member_id_of,
    new_member,
)
from siyu.identity.service.ingest import parse_events, refused_line
from siyu.identity.service.keys import person_keys
from siyu.workspaces.schemas import AppRead

CHUNK_LINES = 20_000
CACHE_SIZE = 200_000  # people remembered between chunks; bounds memory whatever the file size
LOOKUP_BATCH = 2000  # values per lookup query
FAST_TRIES = 30  # plans of a batch of people before it is resolved person by person
EVENT_COLUMNS = (
    "workspace_id",
    "member_id",
    "origin_member_id",
    "app_id",
    "name",
    "ts",
    "channel",
    "props",
    "received_at",
)

P = TypeVar("P", bound=PersonRef)


def read_lines(stream: Iterable[bytes]) -> Iterator[tuple[int, bytes]]:
    """Numbered non-blank lines (1-based), never holding more than one in memory."""
    return filter(_not_blank, enumerate(stream, start=1))  # in C: a line costs no frame


def _not_blank(item: tuple[int, bytes]) -> bool:
    return bool(item[1].strip())


def chunked(
    lines: Iterable[tuple[int, bytes]], size: int = CHUNK_LINES
) -> Iterator[list[tuple[int, bytes]]]:
    """Lists of `size` lines (the last one shorter), taken in C."""
    rest = iter(lines)
    while chunk := list(islice(rest, size)):
        yield chunk


class _Contention(Exception):
    """A bulk insert met a row written concurrently: the chunk is redone person by person."""


@dataclass
class EventImport:
    """One import run: remembers resolved people across chunks; each chunk is one transaction.

    `fast=False` resolves every person the cache does not know through
    `resolution.resolve_member`, one by one (the reference the fast path is tested against).
    With a `writer`, each chunk's events are written on its connection while the next chunk
    is read and resolved, and committed right after the chunk's own transaction.
    """

    workspace_id: int
    fast: bool = True
    writer: PipelinedWriter | None = None
    # Members made get provisional numbers, numbered just before commit (`numbering`).
    number_at_commit: bool = False
    report: IngestReport = field(default_factory=IngestReport)
    # When each person was first seen (a push's time): a member made of them is dated so,
    # as `resolve_member(seen_at=...)` dates it; otherwise (an import) when it is written.
    seen: dict[PersonKey, datetime] = field(default_factory=dict)
    _members: OrderedDict[PersonKey, int] = field(default_factory=OrderedDict)
    _redirects: dict[int, int] = field(default_factory=dict)

    def import_chunk(self, session: Session, lines: list[tuple[int, bytes]]) -> IngestReport:
        """Import one chunk; valid lines are written, invalid ones reported by line number."""
        with _gc_paused():
            return self._import_chunk(session, lines)

    def _import_chunk(self, session: Session, lines: list[tuple[int, bytes]]) -> IngestReport:
        events, errors = parse_events(session, self.workspace_id, lines)
        attempt = Attempt(list(errors))
        if self.fast:
            try:
                with session.begin_nested():
                    resolved = self._resolve_fast(session, events, attempt)
            except _Contention:
                self._forget(attempt)
                attempt = Attempt(list(errors))
                resolved = self._resolve_slow(session, events, attempt)
        else:
            resolved = self._resolve_slow(session, events, attempt)
        if resolved:
            self._write_events(session, resolved, clock.now())
            bus.publish(session, EventsRecorded(self.workspace_id, len(resolved)))
        chunk = IngestReport(
            accepted=len(resolved),
            members_created=attempt.members_created,
            rejected=sorted(attempt.errors, key=lambda e: e.line),
        )
        self.report.accepted += chunk.accepted
        self.report.members_created += chunk.members_created
        self.report.rejected += chunk.rejected
        return chunk

    # --- resolving people ------------------------------------------------------------------

    def _resolve_slow(
        self,
        session: Session,
        events: list[tuple[int, tuple[P, AppRead]]],
        attempt: Attempt,
    ) -> list[tuple[P, AppRead, int]]:
        resolved: list[tuple[P, AppRead, int]] = []
        for line, (event, app) in events:
            member_id = self._member_for(session, app, event, line, attempt)
            if member_id is not None:
                resolved.append((event, app, member_id))
        return resolved

    def _resolve_fast(
        self,
        session: Session,
        events: list[tuple[int, tuple[P, AppRead]]],
        attempt: Attempt,
    ) -> list[tuple[P, AppRead, int]]:
        # Each line's person, numbered in order of first appearance: one hash of the key a
        # line, where looking it up in three dicts hashed it five times (a tenth of the work).
        slots: dict[PersonKey, int] = {}
        firsts: list[P] = []
        of_line: list[int] = []
        for _line, (event, app) in events:
            key: PersonKey = (
                app.appid,
                event.openid,
                event.unionid,
                event.phone,
                event.external_id,
            )
            slot = slots.get(key)
            if slot is None:
                slot = slots[key] = len(firsts)
                firsts.append(event)
            of_line.append(slot)
        # Whom the cache knows; the others are planned together.
        targets: list[int | Person] = []
        people: list[Person] = []
        for key, event in zip(slots, firsts, strict=True):
            cached = self._members.get(key)
            if cached is not None:
                self._members.move_to_end(key)
                targets.append(cached)
            else:
                person = Person(key, event, person_keys(event))
                people.append(person)
                targets.append(person)
        self._plan(session, people)

        resolved: list[tuple[P, AppRead, int | Group]] = []
        for (line, (event, app)), slot in zip(events, of_line, strict=True):
            target = targets[slot]
            found = (
                target
                if isinstance(target, int)
                else self._target(session, target, app, line, attempt)
            )
            if found is not None:
                resolved.append((event, app, found))
        self._flush(session, attempt)
        return [
            (event, app, target if isinstance(target, int) else member_id_of(target))
            for event, app, target in resolved
        ]

    def _plan(self, session: Session, people: list[Person]) -> None:
        """Decide from one look at the identities which people need the full rules."""
        if not people:
            return
        holders: dict[IdentityKey, list[int]] = {}
        for index, person in enumerate(people):
            for key in person.keys.values():
                holders.setdefault(key, []).append(index)
        owners = _owners(session, self.workspace_id, holders)
        for person in people:
            person.owned = frozenset(k for k in person.keys.values() if k in owners)
        linked = components(people, holders)
        # A new UnionID joins a member only if it has none: ask for those members' UnionIDs.
        asking = {
            owners[k]
            for p in people
            if IdentityKind.unionid in p.keys and p.keys[IdentityKind.unionid] not in owners
            for k in p.owned
        }
        unionids = _unionids(session, asking)
        for component in linked:
            group = new_member(component, owners)
            if group is not None:
                for person in component:
                    person.plan, person.group = Plan.NEW, group
                continue
            member_id = joined(component, owners, unionids)
            for person in component:
                found = {owners[k] for k in person.owned}
                if member_id is None and len(found) == 1:
                    # Alone in the chunk with their new keys, this person may still join.
                    alone = all(
                        len(holders[k]) == 1 for k in person.keys.values() if k not in person.owned
                    )
                    mine = found.pop()
                    if alone and joined([person], owners, unionids) == mine:
                        person.member_id = mine
                elif member_id is not None:
                    person.member_id = member_id
                if person.member_id is not None:
                    known = len(person.owned) == len(person.keys)
                    person.plan = Plan.KNOWN if known else Plan.JOIN

    def _target(
        self, session: Session, person: Person, app: AppRead, line: int, attempt: Attempt
    ) -> int | Group | None:
        """This person's member (or member to be) at this line, deciding in line order."""
        if person.target is not None:
            return person.target
        member_id = person.member_id
        if person.plan is Plan.NEW:
            assert person.group is not None
            if not person.group.queued:
                person.group.queued = True
                attempt.groups.append(person.group)
            person.target = person.group
        elif person.plan is Plan.KNOWN and member_id is not None:
            person.target = member_id  # merged since? _follow finds the survivor
            self._remember(person.key, member_id, attempt)
        elif (
            person.plan is Plan.JOIN
            and member_id is not None
            and may_join(person, member_id, attempt)
        ):
            for kind, key in person.keys.items():  # phone last, as resolve_member does
                if key not in person.owned and key not in attempt.attached:
                    secret = person.event.phone if kind is IdentityKind.phone else None
                    attempt.attach.append((member_id, key, secret))
                    attempt.attached.add(key)
                    if kind is IdentityKind.unionid:
                        attempt.unionids[member_id] = key[2]
            person.target = member_id
            self._remember(person.key, member_id, attempt)
        else:
            # The full rules, after writing what earlier lines decided, in their order.
            self._flush(session, attempt)
            return self._member_for(session, app, person.event, line, attempt)
        return person.target

    def _flush(self, session: Session, attempt: Attempt) -> None:
        """Write the new members and attached keys decided so far, in bulk."""
        groups = attempt.groups
        if not groups and not attempt.attach:
            return
        now = clock.now()
        first = 0
        numbers: list[int] = []
        dbapi_error = session.get_bind().dialect.loaded_dbapi.IntegrityError
        try:  # inside the chunk's savepoint: a failure here undoes the whole chunk
            if groups:
                ids = repository.new_member_ids(session, len(groups))
                if self.number_at_commit:
                    numbers = [numbering.provisional_number(member_id) for member_id in ids]
                else:
                    first = numbering.take_member_numbers(session, self.workspace_id, len(groups))
                    numbers = list(range(first, first + len(groups)))
                seen = self.seen
                insert_rows(
                    session.connection(),
                    Member.__table__,
                    ("id", "workspace_id", "number", "status", "attributes", "created_at"),
                    [
                        (
                            member_id,
                            self.workspace_id,
                            number,
                            MemberStatus.active,
                            {},
                            min(seen[group.people[0]], now) if group.people[0] in seen else now,
                        )
                        for group, member_id, number in zip(groups, ids, numbers, strict=True)
                    ],
                )
                for group, member_id in zip(groups, ids, strict=True):
                    group.member_id = member_id
            rows = [
                (member_id_of(group), key, secret)
                for group in groups
                for key, secret in group.keys.items()
            ] + attempt.attach
            if self.number_at_commit:
                # No counter lock orders concurrent batches then: the keys go in in one order
                # for all, so that two batches naming the same new people wait for each other
                # (and plan again) instead of deadlocking.
                rows.sort(key=lambda row: row[1])
            insert_rows(
                session.connection(),
                Identity.__table__,
                ("workspace_id", "member_id", "kind", "scope", "value", "secret", "created_at"),
                [
                    (self.workspace_id, member_id, kind, scope, value, secret, now)
                    for member_id, (kind, scope, value), secret in rows
                ],
            )
        except (IntegrityError, dbapi_error) as exc:  # someone else wrote one of these people
            raise _Contention from exc
        for number, group in enumerate(groups, start=first):
            attempt.created_ids.add(member_id_of(group))
            for key in group.people:
                self._remember(key, member_id_of(group), attempt)
            if not self.number_at_commit:
                bus.publish(session, MemberCreated(self.workspace_id, member_id_of(group), number))
        if groups and self.number_at_commit:
            numbering.number_later(session, self.workspace_id)
        attempt.members_created += len(groups)
        attempt.groups = []
        attempt.attach = []

    def _remember(self, key: PersonKey, member_id: int, attempt: Attempt) -> None:
        self._members[key] = member_id
        attempt.cached.append(key)
        if len(self._members) > CACHE_SIZE:
            self._members.popitem(last=False)

    def _forget(self, attempt: Attempt) -> None:
        for key in attempt.cached:
            self._members.pop(key, None)
        for merged in attempt.redirected:
            self._redirects.pop(merged, None)

    def _follow(self, member_id: int) -> int:
        while member_id in self._redirects:  # merged since: follow to the survivor
            member_id = self._redirects[member_id]
        return member_id

    def _member_for(
        self, session: Session, app: AppRead, event: PersonRef, line: int, attempt: Attempt
    ) -> int | None:
        key: PersonKey = (app.appid, event.openid, event.unionid, event.phone, event.external_id)
        cached = self._members.get(key)
        if cached is not None:
            self._members.move_to_end(key)
            return self._follow(cached)
        person = PersonRef(
            appid=app.appid,
            openid=event.openid,
            unionid=event.unionid,
            phone=event.phone,
            external_id=event.external_id,
        )
        if self.writer is not None:
            self.writer.settle()  # a merge moves the member's events: all of them, written
        try:
            resolved = resolution.resolve_member(
                session,
                app,
                person,
                seen_at=self.seen.get(key),
                number_at_commit=self.number_at_commit,
            )
        except SiyuError as exc:
            attempt.errors.append(refused_line(line, exc))
            return None
        attempt.members_created += int(resolved.created)
        if resolved.created:
            attempt.created_ids.add(resolved.id)
        attempt.touched.add(resolved.id)
        for merged in resolved.merged_ids:
            self._redirects[merged] = resolved.id
            attempt.redirected.append(merged)
            attempt.touched.add(merged)
        self._remember(key, resolved.id, attempt)
        return resolved.id

    def resolve_people(
        self,
        session: Session,
        app: AppRead,
        people: Sequence[PersonRef],
        seen_at: Sequence[datetime] | None = None,
    ) -> tuple[list[int], set[int], list[LineError]]:
        """Resolve many people of one app at once, by the rules of `resolution.resolve_member`:
        (member id per person, or 0 where refused; the ids created; the refusals by index).

        `seen_at`, one per person, dates the members made as `resolve_member(seen_at=...)`
        would (the first person naming a member dates it)."""
        items = [(index, (person, app)) for index, person in enumerate(people)]
        for person, seen in zip(people, seen_at or (), strict=False):
            key = (app.appid, person.openid, person.unionid, person.phone, person.external_id)
            self.seen.setdefault(key, seen)
        attempt = Attempt([])
        with _gc_paused():
            for _ in range(FAST_TRIES):
                try:
                    with session.begin_nested():
                        resolved = self._resolve_fast(session, items, attempt)
                    break
                except _Contention:
                    # Another transaction made some of these people and has committed (the
                    # insert waited for it): planned again, they are known now. Person by
                    # person only if that keeps happening.
                    self._forget(attempt)
                    attempt = Attempt([])
            else:
                resolved = self._resolve_slow(session, items, attempt)
        refused = {error.line for error in attempt.errors}
        found = iter(resolved)
        ids = [0 if index in refused else self._follow(next(found)[2]) for index, _ in items]
        return ids, attempt.created_ids, attempt.errors

    # --- writing events --------------------------------------------------------------------

    def _write_events(
        self, session: Session, rows: list[tuple[EventIn, AppRead, int]], received: datetime
    ) -> None:
        session.flush()
        follow = self._follow  # a later line of the chunk may have merged a member away
        values = [
            (
                self.workspace_id,
                (member := follow(member_id)),
                member,
                app.id,
                event.event,
                event.ts,
                event.channel,
                event.props,
                received,
            )
            for event, app, member_id in rows
        ]
        if self.writer is not None and self.writer.accepts(session):
            self.writer.submit(session, TimelineEvent.__table__, EVENT_COLUMNS, values)
        else:
            insert_rows(session.connection(), TimelineEvent.__table__, EVENT_COLUMNS, values)


@contextmanager
def pipelined_import(db: Database, workspace_id: int) -> Iterator[EventImport]:
    """An import for an entrypoint that commits each chunk: on PostgreSQL its events are
    written on a second connection beside the next chunk (the server's work then overlaps
    ours: bench/ingest.py); on SQLite, whose one writer would make the two wait in turn, in
    the chunk's own transaction."""
    if db.dialect != "postgresql":
        yield EventImport(workspace_id)
        return
    writer = PipelinedWriter(db)
    try:
        yield EventImport(workspace_id, writer=writer)
    except BaseException:
        # The chunk's transaction was rolled back, and its write with it: the error that
        # stopped the import is the one to tell.
        writer.close(quietly=True)
        raise
    writer.close()


@contextmanager
def _gc_paused() -> Iterator[None]:
    """The cyclic garbage collector off while a chunk is imported: its tens of thousands of
    short-lived objects would make it walk the whole heap again and again (a third of the
    time). Reference counting still frees them; the collector resumes after the chunk."""
    if not gc.isenabled():  # someone else paused it (another import thread): leave it be
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


def _owners(
    session: Session, workspace_id: int, keys: Iterable[IdentityKey]
) -> dict[IdentityKey, int]:
    """Who owns these keys: a query per kind and scope, each walking the unique index."""
    by_scope: dict[tuple[IdentityKind, str], list[str]] = {}
    for kind, scope, value in keys:
        by_scope.setdefault((kind, scope), []).append(value)
    owners: dict[IdentityKey, int] = {}
    for (kind, scope), values in by_scope.items():
        for start in range(0, len(values), LOOKUP_BATCH):
            found = repository.find_identity_owners_by_value(
                session, workspace_id, kind, scope, values[start : start + LOOKUP_BATCH]
            )
            owners.update(((kind, scope, value), member_id) for value, member_id in found.items())
    return owners


def _unionids(session: Session, member_ids: set[int]) -> dict[int, str]:
    ids = sorted(member_ids)
    found: dict[int, str] = {}
    for start in range(0, len(ids), LOOKUP_BATCH):
        found.update(repository.unionids_of(session, ids[start : start + LOOKUP_BATCH]))
    return found
