"""The passive-reply handlers a push may be answered by, in the order they are asked.

Shared by the request side (the reply pool asks them within the budget) and the job side
(which asks them again for a push that overran it, and sends the answer late).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from sqlalchemy.orm import Session

from siyu.wechat.schemas import Push, Reply
from siyu.workspaces.schemas import AppRead

ReplyHandler = Callable[[Session, AppRead, Push], Reply | None]

DEFAULT_REPLY_PRIORITY = 100
_reply_handlers: list[ReplyHandler] = []
_reply_priorities: dict[ReplyHandler, int] = {}
_reply_answers: dict[ReplyHandler, tuple[type[Push], ...]] = {}
_handlers_by_type: dict[type[Push], tuple[ReplyHandler, ...]] = {}


def register_reply_handler(
    handler: ReplyHandler,
    *,
    priority: int = DEFAULT_REPLY_PRIORITY,
    answers: Sequence[type[Push]] = (Push,),
) -> None:
    """Add a passive-reply handler (auto-replies, follow greetings…); the first answer wins.

    Handlers are asked in order of `priority` (lower first; equal ones in the order they were
    registered), so that a specific answer (a channel's welcome for its own QR scene, priority
    10) comes before a general one (the default follow reply), whatever the import order.

    `answers` names the push types the handler may answer (and their subclasses); it is asked
    about no other. A push that no handler answers is stored and answered at once, without a
    trip through the reply pool.

    A handler gets a session of its own whose writes are rolled back, and may be run twice for
    one push (two racing deliveries, or again by the job when it overran the budget): it must
    only read. Effects belong on the bus, whose handlers run once, in the processing job.
    """
    if handler in _reply_priorities:
        return
    _reply_priorities[handler] = priority
    _reply_answers[handler] = tuple(answers)
    _reply_handlers.append(handler)
    _reply_handlers.sort(key=_reply_priorities.__getitem__)  # stable: ties keep their order
    _handlers_by_type.clear()


def unregister_reply_handler(handler: ReplyHandler) -> None:
    _reply_handlers.remove(handler)
    del _reply_priorities[handler]
    del _reply_answers[handler]
    _handlers_by_type.clear()


def reply_handlers_for(push: Push) -> tuple[ReplyHandler, ...]:
    """The handlers that may answer this push, in the order they are asked."""
    kind = type(push)
    handlers = _handlers_by_type.get(kind)
    if handlers is None:
        handlers = tuple(h for h in _reply_handlers if issubclass(kind, _reply_answers[h]))
        _handlers_by_type[kind] = handlers
    return handlers


def first_reply(
    session: Session, app: AppRead, push: Push, handlers: tuple[ReplyHandler, ...]
) -> Reply | None:
    """The first answer of `handlers`, asked in order; None when none answers."""
    for handler in handlers:
        reply = handler(session, app, push)
        if reply is not None:
            return reply
    return None


__all__ = [
    "DEFAULT_REPLY_PRIORITY",
    "ReplyHandler",
    "first_reply",
    "register_reply_handler",
    "reply_handlers_for",
    "unregister_reply_handler",
]
