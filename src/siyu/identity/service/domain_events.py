"""What the identity hub publishes on the bus (inside the publisher's transaction)."""

from __future__ import annotations

from dataclasses import dataclass

from siyu.core.events import DomainEvent


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


@dataclass(frozen=True, slots=True)
class MemberErased(DomainEvent):
    """A member's personal data (and that of every member merged into it) was erased."""

    workspace_id: int
    member_ids: tuple[int, ...]
