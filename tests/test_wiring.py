"""The wiring table pins who hears what, in which order, and which modules hold the jobs."""

from __future__ import annotations

import importlib
import pkgutil

import siyu
from siyu import wiring
from siyu.core.events import bus
from siyu.core.jobs import job_named, job_names
from siyu.wechat.inbox import reply_handlers_for
from siyu.wechat.schemas import ClickEvent, ScanEvent, SubscribeEvent, TextMessage, ViewEvent


def _name(fn: object) -> str:
    return f"{fn.__module__}.{fn.__qualname__}"  # type: ignore[attr-defined]


def test_the_subscribers_and_their_order_are_pinned() -> None:
    table = [(s.event.__name__, _name(s.handler)) for s in wiring.SUBSCRIBERS]
    assert table == [
        ("SubscribeEvent", "siyu.entries.service.arrivals.on_subscribe"),
        ("ScanEvent", "siyu.entries.service.arrivals.on_scan"),
        ("UnsubscribeEvent", "siyu.entries.service.arrivals.on_unsubscribe"),
        ("MpLaunched", "siyu.entries.service.arrivals.on_launch"),
        ("OrderPaid", "siyu.community.service.enrollment.on_order_paid"),
        ("RefundSettled", "siyu.community.service.enrollment.on_refund_settled"),
        ("OrderPaid", "siyu.members.service.centre.on_order_paid"),
        ("RefundSettled", "siyu.members.service.centre.on_refund_settled"),
        ("SubscribeEvent", "siyu.members.service.centre.on_follow"),
        ("Message", "siyu.reach.service.ledger.on_message"),
        ("SubscribeEvent", "siyu.reach.service.ledger.on_follow"),
        ("UnsubscribeEvent", "siyu.reach.service.ledger.on_unfollow"),
        ("SubscribeMsgPopupEvent", "siyu.reach.service.ledger.on_subscribe_popup"),
        ("SubscribeMsgChangeEvent", "siyu.reach.service.ledger.on_subscribe_change"),
        ("TemplateSendJobFinishEvent", "siyu.reach.service.ledger.on_template_finished"),
        ("SubscribeMsgSentEvent", "siyu.reach.service.ledger.on_subscribe_sent"),
        ("Message", "siyu.autoreply.service.on_push"),
        ("SubscribeEvent", "siyu.autoreply.service.on_push"),
        ("ClickEvent", "siyu.autoreply.service.on_push"),
        ("EventsRecorded", "siyu.audience.service.segments.on_events_recorded"),
        ("EventsRecorded", "siyu.audience.service.leads.scoring.on_events_recorded"),
        ("OrderPaid", "siyu.audience.service.leads.sweep.on_order_paid"),
        ("MembersMerged", "siyu.analytics.service.sync.on_members_merged"),
        ("MergeUndone", "siyu.analytics.service.sync.on_merge_undone"),
        ("MemberErased", "siyu.analytics.service.sync.on_member_erased"),
        ("Message", "siyu.members.service.centre.on_oa_push"),
        ("ClickEvent", "siyu.members.service.centre.on_oa_push"),
        ("MemberCreated", "siyu.members.service.coupons.on_member_created"),
        ("Message", "siyu.members.service.coupons.on_message"),
        ("Message", "siyu.audience.service.lifecycle.on_activity"),
        ("SubscribeEvent", "siyu.audience.service.lifecycle.on_activity"),
        ("ScanEvent", "siyu.audience.service.lifecycle.on_activity"),
        ("MenuEvent", "siyu.audience.service.lifecycle.on_activity"),
        ("SubscribeMsgPopupEvent", "siyu.audience.service.lifecycle.on_activity"),
        ("MpLaunched", "siyu.audience.service.lifecycle.on_activity"),
        ("OrderPaid", "siyu.audience.service.lifecycle.on_activity"),
    ]


def test_the_batch_forms_are_pinned() -> None:
    table = [(_name(s.handler), _name(s.batch)) for s in wiring.SUBSCRIBERS if s.batch]
    assert table[:-7] == [
        ("siyu.entries.service.arrivals.on_subscribe", "siyu.entries.service.arrivals.on_pushes"),
        ("siyu.entries.service.arrivals.on_scan", "siyu.entries.service.arrivals.on_pushes"),
        (
            "siyu.entries.service.arrivals.on_unsubscribe",
            "siyu.entries.service.arrivals.on_pushes",
        ),
        ("siyu.reach.service.ledger.on_message", "siyu.reach.service.ledger.on_pushes"),
        ("siyu.reach.service.ledger.on_follow", "siyu.reach.service.ledger.on_pushes"),
        ("siyu.reach.service.ledger.on_unfollow", "siyu.reach.service.ledger.on_pushes"),
        ("siyu.members.service.coupons.on_message", "siyu.members.service.coupons.on_messages"),
    ]
    tiers = "siyu.audience.service.lifecycle"
    assert table[-7:] == [(f"{tiers}.on_activity", f"{tiers}.on_activities")] * 7


def test_the_reply_handlers_and_their_priorities_are_pinned() -> None:
    table = [(r.priority, _name(r.handler)) for r in wiring.REPLY_HANDLERS]
    assert table == [
        (10, "siyu.entries.service.arrivals.channel_welcome"),
        (50, "siyu.members.service.centre.reply_handler"),
        (55, "siyu.members.service.coupons.reply_handler"),
        (100, "siyu.autoreply.service.reply_handler"),
    ]


def test_wiring_twice_subscribes_each_handler_once_in_the_table_order() -> None:
    # given a process wired (tests/conftest.py wires it, as the app and the worker do)
    # when it is wired again
    wiring.wire()
    # then each event's handlers run once each, in the order of the table
    for event in {s.event for s in wiring.SUBSCRIBERS}:
        expected = tuple(s.handler for s in wiring.SUBSCRIBERS if s.event is event)
        assert bus.handlers_of(event) == expected, event.__name__


def test_a_follow_is_offered_to_the_channel_welcome_before_the_auto_replies() -> None:
    # (only a push's type decides who is asked, so bare instances do)
    kinds = (SubscribeEvent, ScanEvent, TextMessage, ClickEvent, ViewEvent)
    follow, scan, text, click, view = (object.__new__(kind) for kind in kinds)
    welcome, points, coupons, autoreply = (r.handler for r in wiring.REPLY_HANDLERS)
    assert reply_handlers_for(follow) == (welcome, autoreply)
    assert reply_handlers_for(scan) == (welcome,)
    # "积分" and "签到", then the member's own coupons ("优惠券") and coupon keywords, come
    # before any keyword rule
    assert reply_handlers_for(text) == (points, coupons, autoreply)
    # a menu click may be answered by a menu-click rule; a link button opens its page
    assert reply_handlers_for(click) == (points, autoreply)
    assert reply_handlers_for(view) == ()


def test_every_job_lives_in_a_listed_tasks_module() -> None:
    # given every module of siyu imported (so any @job anywhere is registered)
    for info in pkgutil.walk_packages(siyu.__path__, "siyu."):
        if not info.name.startswith("siyu.migrations") and not info.name.endswith("__main__"):
            importlib.import_module(info.name)
    # then each job's function is in a module the wiring loads in every worker
    homes = {job_named(name).func.__module__ for name in job_names()}
    assert homes == set(wiring.TASK_MODULES)
