"""Reach's public vocabulary: the forms of a notice, and where a send or a broadcast stands."""

from __future__ import annotations

import enum


class TemplateKind(enum.StrEnum):
    oa_template = "oa_template"  # OA template message (service accounts, followers)
    mp_subscribe = "mp_subscribe"  # MP subscribe message (one accepted credit per send)
    customer_service = "customer_service"  # a text through the 48-hour window


class SendStatus(enum.StrEnum):
    queued = "queued"  # a channel was chosen and its quota reserved; the job sends it
    sending = "sending"  # claimed by a job: never sent a second time
    sent = "sent"  # WeChat accepted it
    delivered = "delivered"  # WeChat reported it reached the user (job-finish events)
    failed = "failed"  # WeChat refused it, or its outcome is unknown
    held = "held"  # no channel allows it now; retried when the ledger changes, until expiry
    dropped = "dropped"  # not sent, for the recorded reason (preferences, cap, expiry)


class BroadcastStatus(enum.StrEnum):
    scheduled = "scheduled"
    running = "running"
    paused = "paused"
    done = "done"
