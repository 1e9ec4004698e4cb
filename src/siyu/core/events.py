"""A typed in-process event bus: domains publish facts, handlers subscribe by event class."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from itertools import pairwise
from typing import Any, TypeVar

from sqlalchemy.orm import Session


@dataclass(frozen=True, slots=True)
class DomainEvent:
    """Base of every domain event; subclasses are frozen dataclasses."""


E = TypeVar("E", bound=DomainEvent)
Handler = Callable[[Session, Any], None]
BatchHandler = Callable[[Session, Sequence[Any]], None]
Step = Handler | BatchHandler


class EventBus:
    """Handlers run synchronously inside the publisher's transaction, so they share its fate.

    A handler may have a batch form (`subscribe(..., batch=...)`): `publish_all` gives it every
    event of a batch it would have been given one by one, in one call. Several handlers may
    share one batch form (e.g. a ledger fed by messages, follows and unfollows), which then
    receives all their events in publishing order.
    """

    def __init__(self) -> None:
        self._handlers: defaultdict[type[DomainEvent], list[Handler]] = defaultdict(list)
        self._batch: dict[Handler, BatchHandler] = {}
        self._plans: dict[tuple[type[DomainEvent], ...], list[Step] | None] = {}

    def subscribe(
        self,
        event_type: type[E],
        handler: Callable[[Session, E], None],
        *,
        batch: BatchHandler | None = None,
    ) -> None:
        self._handlers[event_type].append(handler)
        if batch is not None:
            self._batch[handler] = batch
        self._plans.clear()

    def unsubscribe(self, event_type: type[E], handler: Callable[[Session, E], None]) -> None:
        self._handlers[event_type].remove(handler)
        if not any(handler in handlers for handlers in self._handlers.values()):
            self._batch.pop(handler, None)
        self._plans.clear()

    def handlers_of(self, event_type: type[DomainEvent]) -> tuple[Handler, ...]:
        """The handlers subscribed to exactly this type, in the order they run."""
        return tuple(self._handlers.get(event_type, ()))

    def publish(self, session: Session, event: DomainEvent) -> None:
        for handler in self._chain(type(event)):
            handler(session, event)

    def publish_all(self, session: Session, events: Sequence[DomainEvent]) -> None:
        """Publish a batch: each event meets its handlers in the order `publish` would give
        them, each handler meets its events in the batch's order, and a handler with a batch
        form is called once with all of its events.

        What differs from publishing one by one is only how different handlers interleave
        across events (all of the ledger's events, then all of the auto-replies'). Where the
        events' handler orders cannot be merged into one, they are published one by one.
        """
        types = tuple(dict.fromkeys(type(event) for event in events))
        if types not in self._plans:
            self._plans[types] = self._plan(types)
        plan = self._plans[types]
        if plan is None:
            for event in events:
                self.publish(session, event)
            return
        steps_of = {t: {self._batch.get(h, h) for h in self._chain(t)} for t in types}
        for step in plan:
            mine = [event for event in events if step in steps_of[type(event)]]
            if not mine:
                continue
            if step in self._batch.values():
                step(session, mine)
            else:
                single: Handler = step
                for event in mine:
                    single(session, event)

    def _chain(self, event_type: type[DomainEvent]) -> list[Handler]:
        # Walk the MRO so that a handler on a base class sees every subclass.
        return [h for cls in event_type.__mro__ for h in list(self._handlers.get(cls, ()))]

    def _plan(self, types: tuple[type[DomainEvent], ...]) -> list[Step] | None:
        """One order of the steps that keeps every type's own order (a stable topological
        sort, first seen first); None if two types order two steps both ways, or a plain
        handler would meet an event twice."""
        chains = []
        for event_type in types:
            handlers = self._chain(event_type)
            plain = [h for h in handlers if h not in self._batch]
            if len(set(plain)) != len(plain):
                return None  # a handler meets the event twice (on a class and its base)
            chains.append(list(dict.fromkeys(self._batch.get(h, h) for h in handlers)))
        first_seen: dict[Step, int] = {}
        after: dict[Step, set[Step]] = {}
        for chain in chains:
            for step in chain:
                first_seen.setdefault(step, len(first_seen))
                after.setdefault(step, set())
            for earlier, later in pairwise(chain):
                after[later].add(earlier)
        order: list[Step] = []
        waiting = sorted(first_seen, key=first_seen.__getitem__)
        while waiting:
            ready = next((s for s in waiting if not (after[s] - set(order))), None)
            if ready is None:
                return None
            order.append(ready)
            waiting.remove(ready)
        return order


bus = EventBus()
