"""Send by intent: the policy picks the channel the ledger allows, or the notice is held (with
an expiry) or dropped, and the reason recorded; held notices are decided again later."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from siyu.core import clock, jobs
from siyu.identity import service as identity
from siyu.reach import errors, repository
from siyu.reach import policy as policies
from siyu.reach.enums import SendStatus, TemplateKind
from siyu.reach.models import ReachLedger, ReachSend, ReachTemplate
from siyu.reach.schemas import SendRead
from siyu.reach.service.common import (
    CHANNEL_OF_KIND,
    audit,
    family_of,
    timeline,
    window_until,
)
from siyu.reach.service.preferences import get_policy
from siyu.reach.service.templates import check_data, templates_of
from siyu.security.schemas import Principal


@dataclass(frozen=True)
class Intent:
    member_id: int
    template_key: str
    data: dict[str, str]
    category: str = "service"
    urgency: str = "normal"
    dedupe_key: str | None = None
    broadcast_id: int | None = None


def default_dedupe_key(intent: Intent) -> str:
    """The same notice (member, template, category, data) asked twice is one send."""
    blob = json.dumps(
        [intent.member_id, intent.template_key, intent.category, intent.data],
        sort_keys=True,
        ensure_ascii=False,
    )
    return "auto:" + hashlib.sha256(blob.encode()).hexdigest()[:40]


def notify(
    session: Session, workspace_id: int, intent: Intent, actor: Principal | str = "system"
) -> SendRead:
    """Send a notice by intent: the policy picks the channel the ledger allows, or the notice
    is held (with an expiry) or dropped, and the reason recorded. Bad input writes nothing."""
    policy = get_policy(session, workspace_id)
    if intent.category not in policy.categories:
        raise errors.UNKNOWN_CATEGORY(
            f"unknown category {intent.category!r}", categories=intent.category
        )
    templates = templates_of(session, workspace_id, intent.template_key)
    check_data(templates, intent.data)
    member = identity.get_member(session, workspace_id, intent.member_id)
    if member.erased_at is not None:
        raise errors.MEMBER_ERASED(f"member {intent.member_id} was erased")
    family = family_of(session, workspace_id, intent.member_id)
    key = intent.dedupe_key or default_dedupe_key(intent)
    existing = repository.get_send_by_key(session, workspace_id, key)
    if existing is not None:
        return SendRead.model_validate(existing)
    now = clock.now()
    send = ReachSend(
        workspace_id=workspace_id,
        member_id=family[0],
        dedupe_key=key,
        template_key=intent.template_key,
        category=intent.category,
        urgency=intent.urgency,
        status=SendStatus.held,
        data=json.dumps(intent.data, ensure_ascii=False),
        attempts=0,
        broadcast_id=intent.broadcast_id,
        created_at=now,
    )
    try:
        with session.begin_nested():
            session.add(send)
            session.flush()
    except IntegrityError:  # the same notice, asked at the same moment elsewhere
        raced = repository.get_send_by_key(session, workspace_id, key)
        assert raced is not None
        return SendRead.model_validate(raced)
    decide(session, send, policy, templates, family=family, now=now)
    if not isinstance(actor, str) or actor != "system":
        audit(
            session,
            actor,
            "reach.notify",
            workspace_id,
            ("member", family[0]),
            detail={
                "send_id": send.id,
                "template": intent.template_key,
                "status": str(send.status),
            },
        )
    return SendRead.model_validate(send)


def decide(
    session: Session,
    send: ReachSend,
    policy: policies.Policy,
    templates: list[ReachTemplate],
    *,
    family: list[int],
    now: datetime,
) -> None:
    """Pick the channel (reserving its quota), or hold or drop the send with its reason."""
    reason = refusal(session, send, policy, family, now)
    if reason is not None:
        drop(session, send, reason, now)
        return
    quiet_until = (
        None
        if send.urgency == "urgent" or policy.quiet_hours is None
        else (policy.quiet_hours.holds(now))
    )
    expires = send.created_at + policy.hold_for(send.urgency)
    if quiet_until is not None:
        if quiet_until > expires:
            drop(session, send, "quiet_hours", now)
        else:
            send.status, send.reason, send.hold_until = SendStatus.held, "quiet_hours", quiet_until
        return
    by_channel = {CHANNEL_OF_KIND[t.kind]: t for t in templates}
    ledger = repository.list_ledger_rows(session, family)
    for channel in policy.channels(send.urgency):
        template = by_channel.get(channel)
        if template is None:
            continue
        openid = _reserve(session, template, family, ledger, now)
        if openid is not None:
            send.status, send.channel, send.reason = SendStatus.queued, channel, None
            send.app_id, send.template_row_id, send.openid = template.app_id, template.id, openid
            send.hold_until = None
            session.flush()
            jobs.enqueue(session, "reach.deliver", send.id)
            return
    if now >= expires:
        drop(session, send, "hold_expired", now)
        return
    send.status, send.reason, send.hold_until = SendStatus.held, "no_channel", expires
    session.flush()


def refusal(
    session: Session, send: ReachSend, policy: policies.Policy, family: list[int], now: datetime
) -> str | None:
    """Why the member's choices or the policy's caps forbid this send whatever the channel."""
    prefs = repository.list_preferences(session, family)
    if any(p.do_not_contact for p in prefs):
        return "do_not_contact"
    if any(send.category in p.muted for p in prefs):
        return "category_muted"
    if send.category in policy.consent_required and not identity.has_consent(
        session, family[0], "marketing"
    ):
        return "no_consent"
    cap = policy.caps.get(send.category)
    if cap is not None:
        since = now - timedelta(hours=cap.hours)
        if repository.count_recent_sends(session, family, send.category, since) >= cap.count:
            return "frequency_cap"
    return None


def _reserve(
    session: Session,
    template: ReachTemplate,
    family: list[int],
    ledger: list[ReachLedger],
    now: datetime,
) -> str | None:
    """The openid to send to, with the channel's quota spent; None if the ledger refuses."""
    rows = [r for r in ledger if r.app_id == template.app_id]
    if not rows:
        return None
    if template.kind == TemplateKind.oa_template:
        followers = [r for r in rows if r.following]
        return followers[0].openid if followers else None
    if template.kind == TemplateKind.mp_subscribe:
        if repository.take_credit(session, family, template.app_id, template.template_id, now):
            return rows[0].openid
        return None
    for row in rows:
        until = window_until(row)
        if (
            until is not None
            and now < until
            and row.window_used < policies.WINDOW_QUOTA
            and repository.take_window(session, row, policies.WINDOW_QUOTA, now)
        ):
            return row.openid
    return None


def drop(session: Session, send: ReachSend, reason: str, now: datetime) -> None:
    """Not sent, for `reason`: final, and on the member's timeline."""
    send.status, send.reason, send.hold_until, send.finished_at = (
        SendStatus.dropped,
        reason,
        None,
        now,
    )
    session.flush()
    timeline(session, send, "message.failed", {"reason": reason})


def retry_held(session: Session, send_ids: list[int]) -> int:
    """Decide again for held sends (their hold ended, or the member's ledger changed)."""
    now = clock.now()
    moved = 0
    for send_id in send_ids:
        send = repository.get_send_for_update(session, send_id)
        if send is None or send.status != SendStatus.held:
            continue
        templates = repository.list_templates_by_key(session, send.workspace_id, send.template_key)
        family = family_of(session, send.workspace_id, send.member_id)
        decide(
            session,
            send,
            get_policy(session, send.workspace_id),
            templates,
            family=family,
            now=now,
        )
        moved += send.status != SendStatus.held
    return moved


def held_of_member(session: Session, member_id: int) -> list[int]:
    return repository.list_held_sends(session, member_ids=[member_id])


def held_due(session: Session) -> list[int]:
    return repository.list_held_sends(session, due_before=clock.now())
