"""The typed in-process event bus."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

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


def test_a_batch_meets_each_handler_in_order_and_batch_forms_once() -> None:
    # given a handler with a batch form shared by two event types, and a per-event handler
    bus = EventBus()
    calls: list[tuple[str, Any]] = []

    def ledger(_s: Session, e: Joined) -> None:
        calls.append(("ledger", e))

    def ledger_batch(_s: Session, events: Sequence[Joined]) -> None:
        calls.append(("ledger batch", list(events)))

    bus.subscribe(JoinedByScan, ledger, batch=ledger_batch)
    bus.subscribe(Joined, ledger, batch=ledger_batch)
    bus.subscribe(Joined, lambda _s, e: calls.append(("greet", e)))
    # when a batch of both types is published
    batch = [Joined(1), JoinedByScan(2, "poster"), Joined(3)]
    bus.publish_all(Session(), batch)
    # then the batch form got every event once, in order, before the later handler saw each
    assert calls == [
        ("ledger batch", batch),
        ("greet", Joined(1)),
        ("greet", JoinedByScan(2, "poster")),
        ("greet", Joined(3)),
    ]
    # and one by one, the plain handler runs instead
    calls.clear()
    bus.publish(Session(), Joined(4))
    assert calls == [("ledger", Joined(4)), ("greet", Joined(4))]


def test_a_batch_whose_orders_disagree_is_published_one_by_one() -> None:
    # given two handlers ordered one way for one type and the other way for another
    bus = EventBus()
    calls: list[tuple[str, int]] = []

    def first(_s: Session, e: Joined) -> None:
        calls.append(("first", e.member_id))

    def second(_s: Session, e: Joined) -> None:
        calls.append(("second", e.member_id))

    bus.subscribe(JoinedByScan, second)
    bus.subscribe(Joined, first)
    bus.subscribe(Joined, second)
    # when a batch of both is published (a scan meets `second`, then `first`, then `second`)
    bus.publish_all(Session(), [Joined(1), JoinedByScan(2, "poster")])
    # then each event met its handlers in its own order: one event after the other
    assert calls == [("first", 1), ("second", 1), ("second", 2), ("first", 2), ("second", 2)]
