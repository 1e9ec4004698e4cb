"""Resolving many people of one app at once (a CRM sync, a follower list, a login storm)."""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import nullcontext
from datetime import datetime

from sqlalchemy.orm import Session

from siyu.identity import errors, repository
from siyu.identity.schemas import PersonRef, ResolvedMember
from siyu.identity.service.importer import EventImport
from siyu.workspaces.schemas import AppRead


def resolve_members(
    session: Session,
    app: AppRead,
    people: Sequence[PersonRef],
    *,
    seen_at: Sequence[datetime] | None = None,
) -> list[ResolvedMember]:
    """Each person as `resolve_member` would resolve them in this order, with a few queries for
    the whole batch (the bulk import's planner). `seen_at` (one per person, e.g. a push's
    time) dates the members made as `resolve_member(seen_at=...)` would.

    All or nothing: if anyone is refused (e.g. an openid already bound to another UnionID),
    nothing is written and the refusals come back by index.
    """
    ids, created = _resolve(session, app, people, seen_at, number_at_commit=False)
    numbers = repository.member_numbers(session, set(ids))
    return [
        ResolvedMember(id=member_id, number=numbers[member_id], created=made)
        for member_id, made in zip(ids, created, strict=True)
    ]


def resolve_member_ids(
    session: Session,
    app: AppRead,
    people: Sequence[PersonRef],
    *,
    seen_at: Sequence[datetime] | None = None,
) -> list[tuple[int, bool]]:
    """`resolve_members` for a batch that commits soon after (the push jobs): (member id,
    whether this person made it) per person, without numbers. The members made are numbered
    just before commit (`number_new_members`), so that the workspace's counter is locked for
    a moment at the end instead of for the rest of the transaction.

    A refusal raises as `resolve_members` does, but leaves what was written to the caller's
    transaction, which is to roll back (a push batch's does, and is done again push by push):
    no savepoint of its own, two round trips fewer a batch."""
    ids, created = _resolve(session, app, people, seen_at, number_at_commit=True)
    return list(zip(ids, created, strict=True))


def _resolve(
    session: Session,
    app: AppRead,
    people: Sequence[PersonRef],
    seen_at: Sequence[datetime] | None,
    *,
    number_at_commit: bool,
) -> tuple[list[int], list[bool]]:
    if any(person.appid != app.appid for person in people):
        raise errors.APP_MISMATCH("every person's appid must be the app's")
    # All or nothing by a savepoint, unless the caller's transaction is to roll back instead.
    batch = None if number_at_commit else session.begin_nested()
    with batch or nullcontext():
        ids, created, refused = EventImport(
            app.workspace_id, number_at_commit=number_at_commit
        ).resolve_people(session, app, people, seen_at)
        if refused:
            if batch is not None:
                batch.rollback()
            raise errors.INVALID_BATCH(
                f"{len(refused)} of {len(people)} people could not be resolved; "
                "nothing was written",
                data={"errors": [e.model_dump() for e in refused]},
                invalid=len(refused),
            )
    made = []
    for member_id in ids:  # "created" for the first person naming a new member, as one by one
        made.append(member_id in created)
        created.discard(member_id)
    return ids, made
