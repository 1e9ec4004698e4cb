"""Reach: templates, the quota ledger, preferences, send by intent, delivery outcomes, broadcasts.

siyu keeps a ledger of what WeChat still allows for each member — one-time subscribe credits,
follow status, the customer-service window and its count — fed by the pushes (bus
subscribers), and spends from it when it picks a channel. It never asks WeChat for what the
ledger says WeChat would refuse (43101, 43004, 45015, 45047); a notice no channel allows is
held until one does, or until it expires.

One module per topic; this package re-exports their public functions, so callers keep
`from siyu.reach import service` and `service.notify(...)`.
"""

from __future__ import annotations

from siyu.reach.service.backlog import notice_backlog
from siyu.reach.service.broadcasts import (
    advance_broadcast,
    create_broadcast,
    due_broadcasts,
    get_broadcast,
    list_broadcasts,
    pause_broadcast,
    start_broadcast,
)
from siyu.reach.service.common import MASS, MAX_ATTEMPTS
from siyu.reach.service.delivery import (
    INTERRUPTED_AFTER,
    LOST_AFTER,
    Outbound,
    Outcomes,
    claim,
    claim_batch,
    claim_mass,
    record_outcomes,
    record_refused,
    record_retry,
    record_sent,
    sweep_stuck_sends,
)
from siyu.reach.service.ledger import (
    follower_openids,
    get_ledger,
    members_by_openid,
    on_follow,
    on_message,
    on_pushes,
    on_subscribe_change,
    on_subscribe_popup,
    on_subscribe_sent,
    on_template_finished,
    on_unfollow,
)
from siyu.reach.service.preferences import (
    get_policy,
    get_preferences,
    set_policy,
    set_preferences,
)
from siyu.reach.service.reports import (
    LEGACY_SENT_CHANNELS,
    legacy_report,
    list_sends,
    outcome_summary,
    record_sends_export,
    sends_page,
)
from siyu.reach.service.selections import (
    credit_ids,
    follower_ids,
    window_open_ids,
)
from siyu.reach.service.sending import (
    DELIVERY_BATCH,
    Intent,
    default_dedupe_key,
    held_due,
    held_of_member,
    notify,
    notify_many,
    retry_held,
)
from siyu.reach.service.templates import (
    add_template,
    check_data,
    get_template,
    list_templates,
    render,
    update_template,
)

__all__ = [
    "DELIVERY_BATCH",
    "INTERRUPTED_AFTER",
    "LEGACY_SENT_CHANNELS",
    "LOST_AFTER",
    "MASS",
    "MAX_ATTEMPTS",
    "Intent",
    "Outbound",
    "Outcomes",
    "add_template",
    "advance_broadcast",
    "check_data",
    "claim",
    "claim_batch",
    "claim_mass",
    "create_broadcast",
    "credit_ids",
    "default_dedupe_key",
    "due_broadcasts",
    "follower_ids",
    "follower_openids",
    "get_broadcast",
    "get_ledger",
    "get_policy",
    "get_preferences",
    "get_template",
    "held_due",
    "held_of_member",
    "legacy_report",
    "list_broadcasts",
    "list_sends",
    "list_templates",
    "members_by_openid",
    "notice_backlog",
    "notify",
    "notify_many",
    "on_follow",
    "on_message",
    "on_pushes",
    "on_subscribe_change",
    "on_subscribe_popup",
    "on_subscribe_sent",
    "on_template_finished",
    "on_unfollow",
    "outcome_summary",
    "pause_broadcast",
    "record_outcomes",
    "record_refused",
    "record_retry",
    "record_sends_export",
    "record_sent",
    "render",
    "retry_held",
    "sends_page",
    "set_policy",
    "set_preferences",
    "start_broadcast",
    "sweep_stuck_sends",
    "update_template",
    "window_open_ids",
]
