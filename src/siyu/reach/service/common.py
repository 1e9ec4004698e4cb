"""What every topic of reach's service shares: the audit call, the per-session cache, a
member's family, the customer-service window, the month of the broadcast cap, the timeline."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy.orm import Session

from siyu.core import clock
from siyu.identity import service as identity
from siyu.reach import policy as policies
from siyu.reach.enums import SendStatus, TemplateKind
from siyu.reach.models import ReachLedger, ReachSend
from siyu.security import service as security
from siyu.security.schemas import Principal

T = TypeVar("T")
CHANNEL_OF_KIND = {
    TemplateKind.mp_subscribe: "mp_subscribe",
    TemplateKind.oa_template: "oa_template",
    TemplateKind.customer_service: "customer_service",
}
MAX_ATTEMPTS = 5
MASS = "mass"  # the channel (and template key) of OA mass broadcasts
SENT_STATES = (SendStatus.sent, SendStatus.delivered)


def audit(
    session: Session,
    actor: Principal | str,
    action: str,
    workspace_id: int,
    target: tuple[str, int | str],
    *,
    detail: dict[str, Any] | None = None,
) -> None:
    security.record_audit(
        session,
        actor,
        action,
        workspace_id=workspace_id,
        target_type=target[0],
        target_id=target[1],
        detail=detail,
    )


_CACHE = "reach.cache"


def cached(session: Session, key: tuple[Any, ...], load: Callable[[], T]) -> T:
    """A value read once per session: a broadcast notifies hundreds in one transaction."""
    cache: dict[tuple[Any, ...], Any] = session.info.setdefault(_CACHE, {})
    if key not in cache:
        cache[key] = load()
    value: T = cache[key]
    return value


def forget_cached(session: Session) -> None:
    session.info.pop(_CACHE, None)


def family_of(session: Session, workspace_id: int, member_id: int) -> list[int]:
    """The member's family (survivor first): the ledger and preferences follow merges."""
    return identity.member_family(session, workspace_id, member_id)


def window_until(row: ReachLedger) -> datetime | None:
    if row.window_opened_at is None:
        return None
    return row.window_opened_at + policies.WINDOW - policies.WINDOW_MARGIN


def month(at: datetime) -> str:
    """The calendar month a broadcast counts in (Beijing time): WeChat's cap is monthly."""
    return at.astimezone(clock.BEIJING).strftime("%Y-%m")


def timeline(session: Session, send: ReachSend, name: str, extra: dict[str, Any]) -> None:
    props = {
        "send_id": send.id,
        "template": send.template_key,
        "category": send.category,
        "channel": send.channel,
        **extra,
    }
    identity.record_event(
        session,
        send.workspace_id,
        send.member_id,
        name,
        clock.now(),
        app_id=send.app_id,
        channel=send.channel,
        props=props,
    )
