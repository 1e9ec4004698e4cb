"""How a siyu process is wired: every bus subscriber and passive-reply handler, in the order
they run, and every module that declares jobs. The app factory, the worker and the CLI call
`wire()`; nothing subscribes or registers itself at import.

Order is part of behaviour: handlers of one event run in the order of `SUBSCRIBERS` (inside the
publisher's transaction); a handler's `batch` form, if any, takes all of a batch's events at
once when they are published together (`bus.publish_all`: the push-processing job), still in
that order for each event; reply handlers are asked by priority, lower first, and the first
answer wins (a channel's own welcome, 10, before the general follow and keyword replies, 100).
`tests/test_wiring.py` pins both tables.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from siyu.analytics import service as analytics
from siyu.audience import service as audience
from siyu.autoreply import service as autoreply
from siyu.community import service as community
from siyu.core.events import BatchHandler, DomainEvent, bus
from siyu.entries import service as entries
from siyu.identity import service as identity
from siyu.members import service as members
from siyu.reach import service as reach
from siyu.wechat import service as wechat
from siyu.wechat.pay import service as pay
from siyu.wechat.schemas import (
    ClickEvent,
    MenuEvent,
    Message,
    Push,
    ScanEvent,
    SubscribeEvent,
    SubscribeMsgChangeEvent,
    SubscribeMsgPopupEvent,
    SubscribeMsgSentEvent,
    TemplateSendJobFinishEvent,
    UnsubscribeEvent,
)


@dataclass(frozen=True)
class Subscriber:
    """`handler` runs for every `event` published (and for its subclasses); `batch`, for all
    of a batch's events at once (handlers sharing it: all of theirs, in publishing order)."""

    event: type[DomainEvent]
    handler: Callable[[Session, Any], None]
    batch: BatchHandler | None = None


@dataclass(frozen=True)
class ReplyRegistration:
    """`handler` may answer the pushes of `answers`; asked in order of `priority`."""

    priority: int
    handler: wechat.ReplyHandler
    answers: Sequence[type[Push]]


SUBSCRIBERS: tuple[Subscriber, ...] = (
    # Arrivals first: the member's channel is known before anyone greets or counts them.
    Subscriber(SubscribeEvent, entries.on_subscribe, batch=entries.on_pushes),
    Subscriber(ScanEvent, entries.on_scan, batch=entries.on_pushes),
    Subscriber(UnsubscribeEvent, entries.on_unsubscribe, batch=entries.on_pushes),
    Subscriber(wechat.MpLaunched, entries.on_launch),
    # Paid enrollments and refunds of community activities.
    Subscriber(pay.OrderPaid, community.on_order_paid),
    Subscriber(pay.RefundSettled, community.on_refund_settled),
    # Points: a payment earns by the rules, its refund takes back; a first follow earns.
    Subscriber(pay.OrderPaid, members.on_order_paid),
    Subscriber(pay.RefundSettled, members.on_refund_settled),
    Subscriber(SubscribeEvent, members.on_follow),
    # Reach's quota ledger and subscribe credits, fed by the pushes.
    Subscriber(Message, reach.on_message, batch=reach.on_pushes),
    Subscriber(SubscribeEvent, reach.on_follow, batch=reach.on_pushes),
    Subscriber(UnsubscribeEvent, reach.on_unfollow, batch=reach.on_pushes),
    Subscriber(SubscribeMsgPopupEvent, reach.on_subscribe_popup),
    Subscriber(SubscribeMsgChangeEvent, reach.on_subscribe_change),
    Subscriber(TemplateSendJobFinishEvent, reach.on_template_finished),
    Subscriber(SubscribeMsgSentEvent, reach.on_subscribe_sent),
    # Auto-replies the budget missed are sent by a job: after the ledger saw the message.
    Subscriber(Message, autoreply.on_push),
    Subscriber(SubscribeEvent, autoreply.on_push),
    Subscriber(ClickEvent, autoreply.on_push),
    # Segments: recorded events may move members in or out (a job refreshes them).
    Subscriber(identity.EventsRecorded, audience.on_events_recorded),
    # Sales leads: recorded events may move scores (a job scores); a payment may win a lead.
    Subscriber(identity.EventsRecorded, audience.leads.on_events_recorded),
    Subscriber(pay.OrderPaid, audience.leads.on_order_paid),
    # The analytics store copies again the events of members merged, split or erased.
    Subscriber(identity.MembersMerged, analytics.on_members_merged),
    Subscriber(identity.MergeUndone, analytics.on_merge_undone),
    Subscriber(identity.MemberErased, analytics.on_member_erased),
    # "签到" by keyword or menu click: the passive reply told the member; here it is done.
    Subscriber(Message, members.on_oa_push),
    Subscriber(ClickEvent, members.on_oa_push),
    # Coupons: new-member gifts; a claim keyword in the OA's chat, issued once per push.
    Subscriber(identity.MemberCreated, members.on_member_created),
    Subscriber(Message, members.on_message, batch=members.on_messages),
    # Lifecycle tiers: a dormant or churned member who acts is 回流 at once (last: nothing
    # above depends on a tier).
    Subscriber(Message, audience.on_activity, batch=audience.on_activities),
    Subscriber(SubscribeEvent, audience.on_activity, batch=audience.on_activities),
    Subscriber(ScanEvent, audience.on_activity, batch=audience.on_activities),
    Subscriber(MenuEvent, audience.on_activity, batch=audience.on_activities),
    Subscriber(SubscribeMsgPopupEvent, audience.on_activity, batch=audience.on_activities),
    Subscriber(wechat.MpLaunched, audience.on_activity, batch=audience.on_activities),
    Subscriber(pay.OrderPaid, audience.on_activity, batch=audience.on_activities),
)

REPLY_HANDLERS: tuple[ReplyRegistration, ...] = (
    ReplyRegistration(10, entries.channel_welcome, (SubscribeEvent, ScanEvent)),
    # "积分" and "签到" (keywords, menu keys) before the general keyword replies.
    ReplyRegistration(50, members.reply_handler, (Message, ClickEvent)),
    # The member's own coupons ("优惠券") and coupon claim keywords, before general keywords.
    ReplyRegistration(55, members.coupons_reply_handler, (Message,)),
    ReplyRegistration(100, autoreply.reply_handler, (Message, SubscribeEvent, ClickEvent)),
)

# A consumer runs only the jobs whose modules it imported; every module with `@job` is here.
TASK_MODULES: tuple[str, ...] = (
    "siyu.identity.tasks",
    "siyu.wechat.tasks",
    "siyu.wechat.pay.tasks",
    "siyu.community.tasks",
    "siyu.reach.tasks",
    "siyu.autoreply.tasks",
    "siyu.audience.tasks",
    "siyu.analytics.tasks",
    "siyu.members.tasks",
)

_wired = False


def wire() -> None:
    """Subscribe, register and load the jobs: once per process, whoever asks first."""
    global _wired  # noqa: PLW0603 - once per process, like the engine
    if _wired:
        return
    _wired = True
    for subscriber in SUBSCRIBERS:
        bus.subscribe(subscriber.event, subscriber.handler, batch=subscriber.batch)
    for reply in REPLY_HANDLERS:
        wechat.register_reply_handler(reply.handler, priority=reply.priority, answers=reply.answers)
    for module in TASK_MODULES:
        importlib.import_module(module)


__all__ = ["REPLY_HANDLERS", "SUBSCRIBERS", "TASK_MODULES", "wire"]
