"""A typed in-process event bus: domains publish facts, handlers subscribe by event class."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from sqlalchemy.orm import Session


@dataclass(frozen=True, slots=True)
class DomainEvent:
    """Base of every domain event; subclasses are frozen dataclasses."""


E = TypeVar("E", bound=DomainEvent)
Handler = Callable[[Session, Any], None]


class EventBus:
    """Handlers run synchronously inside the publisher's transaction, so they share its fate."""

    def __init__(self) -> None:
        self._handlers: defaultdict[type[DomainEvent], list[Handler]] = defaultdict(list)

    def subscribe(self, event_type: type[E], handler: Callable[[Session, E], None]) -> None:
        self._handlers[event_type].append(handler)

    def unsubscribe(self, event_type: type[E], handler: Callable[[Session, E], None]) -> None:
        self._handlers[event_type].remove(handler)

    def handlers_of(self, event_type: type[DomainEvent]) -> tuple[Handler, ...]:
        """The handlers subscribed to exactly this type, in the order they run."""
        return tuple(self._handlers.get(event_type, ()))

    def publish(self, session: Session, event: DomainEvent) -> None:
        # Walk the MRO so that a handler on a base class sees every subclass.
        for cls in type(event).__mro__:
            for handler in list(self._handlers.get(cls, ())):
                handler(session, event)


bus = EventBus()
