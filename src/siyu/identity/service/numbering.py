"""Member numbers given at the end of a transaction: a batch of pushes makes its members with
provisional numbers and numbers them just before it commits, so that the workspace's counter,
a row lock held until commit, is held for a moment instead of for the rest of the batch (two
workers' batches of new followers then overlap instead of waiting for each other)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import event
from sqlalchemy.orm import Session

from siyu.core.events import bus
from siyu.identity import repository
from siyu.identity.service.domain_events import MemberCreated
from siyu.workspaces import service as workspaces

_PENDING = "siyu.identity.unnumbered"  # session.info: workspaces whose new members wait


def provisional_number(member_id: int) -> int:
    """A number no real member has (they start at 10001) and no two members share."""
    return -member_id


def number_later(session: Session, workspace_id: int) -> None:
    """Members of this workspace were made with provisional numbers in this transaction:
    number them before it commits (`number_new_members`, or at the latest on commit)."""
    session.info.setdefault(_PENDING, set()).add(workspace_id)
    if not event.contains(session, "before_commit", _number_before_commit):
        event.listen(session, "before_commit", _number_before_commit)


def number_new_members(session: Session, workspace_id: int | None = None) -> None:
    """Number the members waiting for one (those of `workspace_id`, or all), in the order they
    were made, as one by one would have: one counter update and one update of the members."""
    pending: set[int] = session.info.get(_PENDING) or set()
    for ws in sorted(pending if workspace_id is None else pending & {workspace_id}):
        pending.discard(ws)
        # Those of a savepoint rolled back since are gone: only what is left is numbered.
        ids = repository.unnumbered_members(session, ws)
        if not ids:
            continue
        first = workspaces.take_member_numbers(session, ws, len(ids))
        numbers = {member_id: first + i for i, member_id in enumerate(ids)}
        repository.set_member_numbers(session, numbers)
        for member_id, number in numbers.items():
            bus.publish(session, MemberCreated(ws, member_id, number))


def take_member_numbers(session: Session, workspace_id: int, count: int) -> int:
    """Numbers for members made now: those made earlier in the transaction come first."""
    number_new_members(session, workspace_id)
    return workspaces.take_member_numbers(session, workspace_id, count)


def _number_before_commit(session: Session, *_: Any) -> None:
    # Called for a savepoint's release too: only the transaction's own commit numbers.
    if not session.in_nested_transaction():
        number_new_members(session)
