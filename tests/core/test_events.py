"""The typed in-process event bus."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.orm import Session

from siyu.core.events import DomainEvent, EventBus


@dataclass(frozen=True, slots=True)
class Joined(DomainEvent):
    member_id: int


@dataclass(frozen=True, slots=True)
class JoinedByScan(Joined):
    scene: str


def test_handlers_receive_their_event_type_and_subclasses() -> None:
    bus = EventBus()
    seen: list[DomainEvent] = []
    only_scans: list[DomainEvent] = []
    bus.subscribe(Joined, lambda _s, e: seen.append(e))
    bus.subscribe(JoinedByScan, lambda _s, e: only_scans.append(e))
    session = Session()
    bus.publish(session, Joined(1))
    bus.publish(session, JoinedByScan(2, "poster"))
    assert seen == [Joined(1), JoinedByScan(2, "poster")]
    assert only_scans == [JoinedByScan(2, "poster")]


def test_unsubscribed_handler_is_not_called() -> None:
    bus = EventBus()
    seen: list[DomainEvent] = []

    def handler(_s: Session, e: Joined) -> None:
        seen.append(e)

    bus.subscribe(Joined, handler)
    bus.unsubscribe(Joined, handler)
    bus.publish(Session(), Joined(1))
    assert seen == []
