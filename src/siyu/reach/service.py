"""Reach: templates, the quota ledger, preferences, send by intent, delivery outcomes, broadcasts.

siyu keeps a ledger of what WeChat still allows for each member — one-time subscribe credits,
follow status, the customer-service window and its count — fed by the pushes (bus
subscribers), and spends from it when it picks a channel. It never asks WeChat for what the
ledger says WeChat would refuse (43101, 43004, 45015, 45047); a notice no channel allows is
held until one does, or until it expires.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from typing import Any, TypeVar

from sqlalchemy import and_, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from siyu.core import clock
from siyu.core.errors import Conflict, Invalid, NotFound, SiyuError
from siyu.core.jobs import enqueue_after_commit
from siyu.core.logging import get_logger
from siyu.identity import service as identity
from siyu.reach import policy as policies
from siyu.reach import repository
from siyu.reach.models import (
    BroadcastStatus,
    ReachBroadcast,
    ReachLedger,
    ReachPolicy,
    ReachPreference,
    ReachSend,
    ReachTemplate,
    SendStatus,
    TemplateKind,
)
from siyu.reach.rules import check_oa_value, check_subscribe_value, slots
from siyu.reach.schemas import (
    BroadcastCreate,
    BroadcastRead,
    CreditRow,
    LedgerRead,
    LedgerRow,
    LegacyReport,
    PreferencesIn,
    PreferencesRead,
    SendRead,
    TemplateCreate,
    TemplateRead,
)
from siyu.security import service as security
from siyu.security.schemas import Principal
from siyu.wechat.schemas import (
    Message,
    SubscribeEvent,
    SubscribeMsgChangeEvent,
    SubscribeMsgPopupEvent,
    SubscribeMsgSentEvent,
    TemplateSendJobFinishEvent,
    UnsubscribeEvent,
)
from siyu.workspaces import service as workspaces
from siyu.workspaces.enums import AppKind
from siyu.workspaces.schemas import AppRead

log = get_logger(__name__)
T = TypeVar("T")
CHANNEL_OF_KIND = {
    TemplateKind.mp_subscribe: "mp_subscribe",
    TemplateKind.oa_template: "oa_template",
    TemplateKind.customer_service: "customer_service",
}
MAX_ATTEMPTS = 5
MASS = "mass"  # the channel (and template key) of OA mass broadcasts
SENT_STATES = (SendStatus.sent, SendStatus.delivered)


def _audit(
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


# --- templates --------------------------------------------------------------------------------


def add_template(
    session: Session, workspace_id: int, data: TemplateCreate, actor: Principal | str
) -> TemplateRead:
    """Register one channel's form of a notice; its rules are checked before every send."""
    app = workspaces.get_app_by_appid(session, data.appid, workspace_id)
    if data.kind == TemplateKind.oa_template and app.kind != AppKind.oa_service:
        raise Invalid("reach.wrong_app", "OA template messages need a service account")
    if data.kind == TemplateKind.mp_subscribe and app.kind != AppKind.mp:
        raise Invalid("reach.wrong_app", "subscribe messages need a Mini Program")
    if data.kind == TemplateKind.customer_service:
        try:
            names = slots(data.body)
        except ValueError as exc:
            raise Invalid("reach.invalid_template", str(exc)) from None
        if not data.body.strip():
            raise Invalid("reach.invalid_template", "a customer-service form needs a body")
        fields = {name: name for name in names}
    else:
        if not data.template_id or not data.fields:
            raise Invalid("reach.invalid_template", "a template needs its template_id and fields")
        fields = dict(data.fields)
    if any(
        t.kind == data.kind for t in repository.templates_by_key(session, workspace_id, data.key)
    ):
        raise Conflict("reach.template_exists", f"{data.key} already has a {data.kind} form")
    _forget_cached(session)
    row = ReachTemplate(
        workspace_id=workspace_id,
        key=data.key,
        kind=data.kind,
        app_id=app.id,
        template_id=data.template_id,
        title=data.title,
        fields=fields,
        body=data.body,
        page=data.page,
        url=data.url,
        created_at=clock.now(),
    )
    session.add(row)
    session.flush()
    _audit(session, actor, "reach.template_add", workspace_id, ("reach_template", row.id))
    return TemplateRead.model_validate(row)


def list_templates(session: Session, workspace_id: int) -> list[TemplateRead]:
    return [
        TemplateRead.model_validate(t) for t in repository.list_templates(session, workspace_id)
    ]


def _templates(session: Session, workspace_id: int, key: str) -> list[ReachTemplate]:
    found = _cached(
        session,
        ("templates", workspace_id, key),
        lambda: repository.templates_by_key(session, workspace_id, key),
    )
    if not found:
        raise NotFound("reach.unknown_template", f"no template {key!r}")
    return found


def check_data(templates: list[ReachTemplate], data: dict[str, str]) -> None:
    """Every form's fields filled and within WeChat's rules (47003 is never reached)."""
    for template in templates:
        for wechat_key, name in template.fields.items():
            value = data.get(name)
            if value is None:
                problem: str | None = "is missing"
            elif template.kind == TemplateKind.mp_subscribe:
                problem = check_subscribe_value(wechat_key, value)
            else:
                problem = check_oa_value(value)
            if problem:
                raise Invalid(
                    "reach.invalid_field",
                    f"{name} ({template.kind} field {wechat_key}) {problem}",
                    data={"field": name, "wechat_key": wechat_key, "kind": str(template.kind)},
                )


def render(template: ReachTemplate, data: dict[str, str]) -> dict[str, str]:
    """The template's WeChat data: key → value."""
    return {wechat_key: data.get(name, "") for wechat_key, name in template.fields.items()}


# --- policy and preferences -------------------------------------------------------------------


_CACHE = "reach.cache"


def _cached(session: Session, key: tuple[Any, ...], load: Callable[[], T]) -> T:
    """A value read once per session: a broadcast notifies hundreds in one transaction."""
    cache: dict[tuple[Any, ...], Any] = session.info.setdefault(_CACHE, {})
    if key not in cache:
        cache[key] = load()
    value: T = cache[key]
    return value


def _forget_cached(session: Session) -> None:
    session.info.pop(_CACHE, None)


def get_policy(session: Session, workspace_id: int) -> policies.Policy:
    def load() -> policies.Policy:
        row = repository.policy_row(session, workspace_id)
        return policies.load(row.rules if row else None)

    return _cached(session, ("policy", workspace_id), load)


def set_policy(
    session: Session, workspace_id: int, rules: dict[str, Any], actor: Principal | str
) -> policies.Policy:
    if not rules:
        raise Invalid("reach.invalid_policy", "the policy is empty")
    try:
        policy = policies.Policy.model_validate(rules)
    except ValueError as exc:
        raise Invalid("reach.invalid_policy", str(exc).splitlines()[0]) from None
    _forget_cached(session)
    row = repository.policy_row(session, workspace_id)
    stored = policy.model_dump(mode="json")
    if row is None:
        session.add(ReachPolicy(workspace_id=workspace_id, rules=stored, updated_at=clock.now()))
    else:
        row.rules, row.updated_at = stored, clock.now()
    session.flush()
    _audit(session, actor, "reach.policy_set", workspace_id, ("reach_policy", workspace_id))
    return policy


def _survivor(session: Session, workspace_id: int, member_id: int) -> list[int]:
    """The member's family (survivor first): the ledger and preferences follow merges."""
    return identity.member_family(session, workspace_id, member_id)


def get_preferences(session: Session, workspace_id: int, member_id: int) -> PreferencesRead:
    family = _survivor(session, workspace_id, member_id)
    rows = repository.preference(session, family)
    muted = sorted({c for row in rows for c in row.muted})
    dnc = any(row.do_not_contact for row in rows)
    return PreferencesRead(member_id=family[0], muted=muted, do_not_contact=dnc)


def set_preferences(
    session: Session,
    workspace_id: int,
    member_id: int,
    prefs: PreferencesIn,
    actor: Principal | str,
) -> PreferencesRead:
    """One set of choices for the person, whichever app they set it from."""
    policy = get_policy(session, workspace_id)
    unknown = sorted(set(prefs.muted) - set(policy.categories))
    if unknown:
        raise Invalid("reach.unknown_category", f"unknown categories: {', '.join(unknown)}")
    family = _survivor(session, workspace_id, member_id)
    rows = {row.member_id: row for row in repository.preference(session, family)}
    for other in family[1:]:
        if other in rows:
            session.delete(rows.pop(other))
    row = rows.get(family[0])
    if row is None:
        row = ReachPreference(workspace_id=workspace_id, member_id=family[0])
        session.add(row)
    row.muted = sorted(set(prefs.muted))
    row.do_not_contact = prefs.do_not_contact
    row.updated_at = clock.now()
    session.flush()
    _audit(
        session,
        actor,
        "reach.preferences_set",
        workspace_id,
        ("member", family[0]),
        detail={"muted": row.muted, "do_not_contact": row.do_not_contact},
    )
    return get_preferences(session, workspace_id, family[0])


# --- the ledger, fed by pushes ----------------------------------------------------------------


def _ledger(session: Session, push: Any) -> ReachLedger | None:
    if push.member_id is None:
        return None
    return repository.ledger_for_update(
        session, push.workspace_id, push.member_id, push.app_id, openid=push.openid, now=clock.now()
    )


def on_message(session: Session, push: Message) -> None:
    """A member's message opens a fresh window: 48 hours, 5 messages (fact sheet §2.5, §3)."""
    row = _ledger(session, push)
    if row is None:
        return
    if row.window_opened_at is None or push.create_time > row.window_opened_at:
        row.window_opened_at, row.window_used = push.create_time, 0
        row.updated_at = clock.now()
        session.flush()
        _release_held(session, push.member_id)


def on_follow(session: Session, push: SubscribeEvent) -> None:
    row = _ledger(session, push)
    if row is None:
        return
    if row.follow_changed_at is None or push.create_time >= row.follow_changed_at:
        row.following, row.follow_changed_at = True, push.create_time
        row.updated_at = clock.now()
        session.flush()
        _release_held(session, push.member_id)


def on_unfollow(session: Session, push: UnsubscribeEvent) -> None:
    row = _ledger(session, push)
    if row is None:
        return
    if row.follow_changed_at is None or push.create_time >= row.follow_changed_at:
        # WeChat closes an unfollower's windows too (the sandbox answers 45015 then).
        row.following, row.follow_changed_at = False, push.create_time
        row.window_opened_at, row.window_used = None, 0
        row.updated_at = clock.now()
        session.flush()


def on_subscribe_popup(session: Session, push: SubscribeMsgPopupEvent) -> None:
    """Each accepted one-time template is one more send (no expiry, fact sheet §3)."""
    if push.member_id is None:
        return
    _ledger(session, push)
    now = clock.now()
    granted = False
    for choice in push.choices:
        if choice.accepted:
            credit = repository.credit_row(
                session, push.member_id, push.app_id, choice.template_id, now
            )
            credit.granted += 1
            credit.updated_at = now
            granted = True
    session.flush()
    if granted:
        _release_held(session, push.member_id)


def on_subscribe_change(session: Session, push: SubscribeMsgChangeEvent) -> None:
    """A template turned off in the settings: its remaining credits are gone (43101)."""
    if push.member_id is None:
        return
    now = clock.now()
    for choice in push.choices:
        if not choice.accepted:
            credit = repository.credit_row(
                session, push.member_id, push.app_id, choice.template_id, now
            )
            credit.used, credit.updated_at = credit.granted, now
    session.flush()


def on_template_finished(session: Session, push: TemplateSendJobFinishEvent) -> None:
    """TEMPLATESENDJOBFINISH: `success`, `failed:user block`, `failed: system failed`."""
    send = repository.send_by_msgid(session, push.app_id, push.msg_id)
    if send is None or send.status not in SENT_STATES:
        return
    if push.status == "success":
        send.status = SendStatus.delivered
    else:
        send.status, send.reason = SendStatus.failed, push.status.replace(" ", "")[:64]
        _timeline(session, send, "message.failed", {"reason": send.reason})
    send.finished_at = clock.now()
    session.flush()


def on_subscribe_sent(session: Session, push: SubscribeMsgSentEvent) -> None:
    """subscribe_msg_sent_event: per message, ErrorCode 0 or why it did not arrive."""
    for delivery in push.deliveries:
        send = repository.send_by_msgid(session, push.app_id, delivery.msg_id)
        if send is None or send.status not in SENT_STATES:
            continue
        if delivery.error_code == 0:
            send.status = SendStatus.delivered
        else:
            send.status, send.errcode = SendStatus.failed, delivery.error_code
            send.reason = (delivery.error_status or "refused")[:64]
            _timeline(session, send, "message.failed", {"errcode": delivery.error_code})
        send.finished_at = clock.now()
    session.flush()


def _release_held(session: Session, member_id: int | None) -> None:
    """The ledger changed: held notices of the member get another look, after commit."""
    if member_id is None or not repository.held_sends(session, member_ids=[member_id]):
        return
    from siyu.reach import tasks

    enqueue_after_commit(session, tasks.retry_held, member_id)


def get_ledger(session: Session, workspace_id: int, member_id: int) -> LedgerRead:
    family = _survivor(session, workspace_id, member_id)
    now = clock.now()
    month = _month(now)
    apps = []
    for row in repository.ledger_rows(session, family):
        open_until = _window_until(row)
        live = open_until is not None and open_until > now
        apps.append(
            LedgerRow(
                app_id=row.app_id,
                following=row.following,
                window_open_until=open_until if live else None,
                window_left=max(policies.WINDOW_QUOTA - row.window_used, 0) if live else 0,
                mass_this_month=row.mass_count if row.mass_month == month else 0,
            )
        )
    credits = [
        CreditRow(app_id=c.app_id, template_id=c.template_id, left=max(c.granted - c.used, 0))
        for c in repository.credits_of(session, family)
    ]
    return LedgerRead(member_id=family[0], apps=apps, credits=credits)


def _window_until(row: ReachLedger) -> datetime | None:
    if row.window_opened_at is None:
        return None
    return row.window_opened_at + policies.WINDOW - policies.WINDOW_MARGIN


def _month(at: datetime) -> str:
    return at.astimezone(policies.MONTH_ZONE).strftime("%Y-%m")


# --- send by intent ---------------------------------------------------------------------------


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
        raise Invalid("reach.unknown_category", f"unknown category {intent.category!r}")
    templates = _templates(session, workspace_id, intent.template_key)
    check_data(templates, intent.data)
    member = identity.get_member(session, workspace_id, intent.member_id)
    if member.erased_at is not None:
        raise Conflict("reach.member_erased", f"member {intent.member_id} was erased")
    family = _survivor(session, workspace_id, intent.member_id)
    key = intent.dedupe_key or default_dedupe_key(intent)
    existing = repository.send_by_key(session, workspace_id, key)
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
        raced = repository.send_by_key(session, workspace_id, key)
        assert raced is not None
        return SendRead.model_validate(raced)
    decide(session, send, policy, templates, family=family, now=now)
    if not isinstance(actor, str) or actor != "system":
        _audit(
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
    reason = _refusal(session, send, policy, family, now)
    if reason is not None:
        _drop(session, send, reason, now)
        return
    quiet_until = (
        None
        if send.urgency == "urgent" or policy.quiet_hours is None
        else (policy.quiet_hours.holds(now))
    )
    expires = send.created_at + policy.hold_for(send.urgency)
    if quiet_until is not None:
        if quiet_until > expires:
            _drop(session, send, "quiet_hours", now)
        else:
            send.status, send.reason, send.hold_until = SendStatus.held, "quiet_hours", quiet_until
        return
    by_channel = {CHANNEL_OF_KIND[t.kind]: t for t in templates}
    ledger = repository.ledger_rows(session, family)
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
            from siyu.reach import tasks

            enqueue_after_commit(session, tasks.deliver, send.id)
            return
    if now >= expires:
        _drop(session, send, "hold_expired", now)
        return
    send.status, send.reason, send.hold_until = SendStatus.held, "no_channel", expires
    session.flush()


def _refusal(
    session: Session, send: ReachSend, policy: policies.Policy, family: list[int], now: datetime
) -> str | None:
    prefs = repository.preference(session, family)
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
        if repository.count_recent(session, family, send.category, since) >= cap.count:
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
        until = _window_until(row)
        if (
            until is not None
            and now < until
            and row.window_used < policies.WINDOW_QUOTA
            and repository.take_window(session, row, policies.WINDOW_QUOTA, now)
        ):
            return row.openid
    return None


def _drop(session: Session, send: ReachSend, reason: str, now: datetime) -> None:
    send.status, send.reason, send.hold_until, send.finished_at = (
        SendStatus.dropped,
        reason,
        None,
        now,
    )
    session.flush()
    _timeline(session, send, "message.failed", {"reason": reason})


def _timeline(session: Session, send: ReachSend, name: str, extra: dict[str, Any]) -> None:
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


def retry_held(session: Session, send_ids: list[int]) -> int:
    """Decide again for held sends (their hold ended, or the member's ledger changed)."""
    now = clock.now()
    moved = 0
    for send_id in send_ids:
        send = repository.send_for_update(session, send_id)
        if send is None or send.status != SendStatus.held:
            continue
        templates = repository.templates_by_key(session, send.workspace_id, send.template_key)
        family = _survivor(session, send.workspace_id, send.member_id)
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
    return repository.held_sends(session, member_ids=[member_id])


def held_due(session: Session) -> list[int]:
    return repository.held_sends(session, due_before=clock.now())


def list_sends(
    session: Session,
    workspace_id: int,
    *,
    member_id: int | None = None,
    status: SendStatus | None = None,
    broadcast_id: int | None = None,
    limit: int = 100,
    offset: int = 0,
) -> list[SendRead]:
    rows = repository.list_sends(
        session,
        workspace_id,
        member_id=member_id,
        status=status,
        broadcast_id=broadcast_id,
        limit=limit,
        offset=offset,
    )
    return [SendRead.model_validate(row) for row in rows]


# --- delivery (called by the job around the WeChat call) -------------------------------------


@dataclass(frozen=True)
class Outbound:
    """What the job sends, read inside a short transaction before the HTTP call."""

    send_id: int
    appid: str
    channel: str
    openid: str
    template_id: str
    values: dict[str, str]
    text: str
    page: str | None
    url: str | None
    attempt: int


def claim(session: Session, send_id: int) -> Outbound | None:
    """Mark a queued send as being sent, once: a retried job finds it claimed and stops."""
    send = repository.send_for_update(session, send_id)
    if send is None or send.status != SendStatus.queued:
        return None
    assert send.template_row_id is not None
    assert send.app_id is not None
    assert send.openid is not None
    template = repository.get_template(session, send.template_row_id)
    if template is None:  # pragma: no cover - templates are never deleted
        return None
    app = workspaces.get_apps_by_id(session, [send.app_id])[send.app_id]
    data: dict[str, str] = json.loads(send.data or "{}")
    send.status, send.claimed_at = SendStatus.sending, clock.now()
    send.attempts += 1
    session.flush()
    body = ""
    if template.kind == TemplateKind.customer_service:
        from siyu.reach.rules import fill

        body = fill(template.body, data)
    return Outbound(
        send_id=send.id,
        appid=app.appid,
        channel=send.channel or "",
        openid=send.openid,
        template_id=template.template_id,
        values=render(template, data),
        text=body,
        page=template.page,
        url=template.url,
        attempt=send.attempts,
    )


def record_sent(session: Session, send_id: int, msgid: int | None) -> None:
    send = repository.send_for_update(session, send_id)
    if send is None or send.status != SendStatus.sending:
        return
    now = clock.now()
    send.status, send.sent_at, send.reason = SendStatus.sent, now, None
    send.msgid = None if msgid is None else str(msgid)
    session.flush()
    _timeline(session, send, "message.sent", {})


def record_retry(session: Session, send_id: int, errcode: int) -> bool:
    """A transient failure: back to queued for another try, or failed after the last."""
    send = repository.send_for_update(session, send_id)
    if send is None or send.status != SendStatus.sending:
        return False
    send.errcode = errcode
    if send.attempts >= MAX_ATTEMPTS:
        _fail(session, send, "unavailable")
        return False
    send.status = SendStatus.queued
    session.flush()
    return True


def record_refused(session: Session, send_id: int, errcode: int, reason: str) -> None:
    """WeChat refused: the ledger learns what it did not know, and the send failed."""
    send = repository.send_for_update(session, send_id)
    if send is None or send.status != SendStatus.sending:
        return
    send.errcode = errcode
    _correct_ledger(session, send, errcode)
    _fail(session, send, reason)


def _fail(session: Session, send: ReachSend, reason: str) -> None:
    send.status, send.reason, send.finished_at = SendStatus.failed, reason[:64], clock.now()
    session.flush()
    _timeline(session, send, "message.failed", {"reason": send.reason, "errcode": send.errcode})


# A job claims, calls WeChat (seconds) and records; a send "sending" this long after its claim
# lost its worker, and one "queued" this long (beyond every backoff) lost its job.
INTERRUPTED_AFTER = timedelta(minutes=15)
LOST_AFTER = timedelta(hours=2)


def sweep_stuck_sends(session: Session, limit: int = 500) -> list[int]:
    """Sends a dead worker left behind: "sending" ones become failed with `outcome_unknown`
    (the request may have reached WeChat: never sent twice); the ids of "queued" ones whose
    job was lost are returned, to be delivered again (their claim keeps that safe)."""
    now = clock.now()
    for send in repository.sends_claimed_before(session, now - INTERRUPTED_AFTER, limit):
        log.warning("reach_send_interrupted", send_id=send.id)
        _fail(session, send, "outcome_unknown")
    return repository.sends_queued_before(session, now - LOST_AFTER, MASS, limit)


def _correct_ledger(session: Session, send: ReachSend, errcode: int) -> None:
    assert send.app_id is not None
    row = repository.ledger_row(session, send.member_id, send.app_id)
    if errcode == 43004 and row is not None:
        row.following = False
    elif errcode in (45015, 45047) and row is not None:
        row.window_used = policies.WINDOW_QUOTA
    elif errcode == 43101 and send.template_row_id is not None:
        template = repository.get_template(session, send.template_row_id)
        if template is not None:
            credit = repository.credit_row(
                session, send.member_id, send.app_id, template.template_id, clock.now()
            )
            credit.used = credit.granted
    session.flush()


# --- broadcasts -------------------------------------------------------------------------------


def create_broadcast(
    session: Session, workspace_id: int, data: BroadcastCreate, actor: Principal | str
) -> BroadcastRead:
    """A notice to an audience (tag, followers of an app, or a list), sent at `per_minute`."""
    policy = get_policy(session, workspace_id)
    if data.category not in policy.categories:
        raise Invalid("reach.unknown_category", f"unknown category {data.category!r}")
    members: set[int] | None = None
    audience: dict[str, Any] = {}
    values = dict(data.data)
    if data.mass_appid is not None:
        if data.template_key is not None or not data.mass_text:
            raise Invalid("reach.invalid_broadcast", "a mass broadcast has a text, no template")
        app = workspaces.get_app_by_appid(session, data.mass_appid, workspace_id)
        if app.kind == AppKind.oa_subscription:
            _check_subscription_mass(session, workspace_id, app, data)
            audience["to_all"] = True
        elif app.kind != AppKind.oa_service:
            raise Invalid("reach.wrong_app", "mass broadcasts come from an Official Account")
        members = set(repository.followers(session, app.id))
        audience["mass"], values = data.mass_appid, {"text": data.mass_text}
    elif data.template_key is None:
        raise Invalid("reach.invalid_broadcast", "name a template, or a mass broadcast's text")
    else:
        check_data(_templates(session, workspace_id, data.template_key), values)
    if data.tag is not None:
        tagged = set(identity.members_with_tag(session, workspace_id, data.tag))
        members = tagged if members is None else members & tagged
        audience["tag"] = data.tag
    if data.following_appid is not None:
        app = workspaces.get_app_by_appid(session, data.following_appid, workspace_id)
        fans = set(repository.followers(session, app.id))
        members = fans if members is None else members & fans
        audience["following"] = data.following_appid
    if data.member_ids is not None:
        listed = set(data.member_ids)
        members = listed if members is None else members & listed
        audience["members"] = len(listed)
    if not members:
        raise Invalid("reach.empty_audience", "the audience has no member")
    now = clock.now()
    row = ReachBroadcast(
        workspace_id=workspace_id,
        name=data.name,
        template_key=data.template_key or MASS,
        category=data.category,
        urgency=data.urgency,
        data=json.dumps(values, ensure_ascii=False),
        audience=audience,
        member_ids=sorted(members),
        cursor=0,
        per_minute=data.per_minute,
        status=BroadcastStatus.scheduled,
        scheduled_at=data.scheduled_at or now,
        created_by=actor.actor if isinstance(actor, Principal) else actor,
        created_at=now,
    )
    session.add(row)
    session.flush()
    _audit(
        session,
        actor,
        "reach.broadcast_create",
        workspace_id,
        ("reach_broadcast", row.id),
        detail={"audience": len(members), "template": data.template_key or MASS},
    )
    return _broadcast_read(session, row)


def _check_subscription_mass(
    session: Session, workspace_id: int, app: AppRead, data: BroadcastCreate
) -> None:
    """A subscription account broadcasts once a day, to all its followers by `sendall` (fact
    sheet §2.6): no list, no tag of ours, and not twice on one Beijing day."""
    if data.tag is not None or data.following_appid is not None or data.member_ids is not None:
        raise Invalid(
            "reach.invalid_broadcast",
            "a subscription account broadcasts to all its followers at once: no tag, no list",
        )
    now = clock.now()
    zone = policies.MONTH_ZONE  # Beijing
    day_start = datetime.combine(now.astimezone(zone).date(), time(0), tzinfo=zone)
    for audience in repository.audiences_since(session, workspace_id, day_start):
        if audience.get("mass") == app.appid and audience.get("to_all"):
            raise Conflict(
                "reach.daily_mass_used",
                f"{app.name or app.appid} broadcast today already (once a day); "
                "schedule it for tomorrow",
            )


def _broadcast(session: Session, workspace_id: int, broadcast_id: int) -> ReachBroadcast:
    row = session.get(ReachBroadcast, broadcast_id, with_for_update=True)
    if row is None or row.workspace_id != workspace_id:
        raise NotFound("reach.unknown_broadcast", f"no broadcast {broadcast_id}")
    return row


def _broadcast_read(session: Session, row: ReachBroadcast) -> BroadcastRead:
    return BroadcastRead(
        id=row.id,
        name=row.name,
        template_key=row.template_key,
        category=row.category,
        status=row.status,
        audience=row.audience,
        total=len(row.member_ids),
        done=row.cursor,
        per_minute=row.per_minute,
        scheduled_at=row.scheduled_at,
        created_at=row.created_at,
        finished_at=row.finished_at,
        outcomes=repository.outcome_counts(session, row.id),
    )


def get_broadcast(session: Session, workspace_id: int, broadcast_id: int) -> BroadcastRead:
    return _broadcast_read(session, _broadcast(session, workspace_id, broadcast_id))


def list_broadcasts(session: Session, workspace_id: int) -> list[BroadcastRead]:
    return [_broadcast_read(session, row) for row in repository.broadcasts(session, workspace_id)]


def pause_broadcast(
    session: Session, workspace_id: int, broadcast_id: int, actor: Principal | str, *, pause: bool
) -> BroadcastRead:
    row = _broadcast(session, workspace_id, broadcast_id)
    if row.status == BroadcastStatus.done:
        raise Conflict("reach.broadcast_done", "the broadcast has finished")
    if pause:
        row.status = BroadcastStatus.paused
    elif row.status == BroadcastStatus.paused:
        row.status = BroadcastStatus.running if row.cursor else BroadcastStatus.scheduled
    session.flush()
    action = "reach.broadcast_pause" if pause else "reach.broadcast_resume"
    _audit(session, actor, action, workspace_id, ("reach_broadcast", row.id))
    return _broadcast_read(session, row)


def advance_broadcast(session: Session, broadcast_id: int, limit: int | None = None) -> int:
    """Notify the next members of a running broadcast (at most its per-minute rate)."""
    row = session.get(ReachBroadcast, broadcast_id, with_for_update=True)
    if row is None or row.status not in (BroadcastStatus.scheduled, BroadcastStatus.running):
        return 0
    if row.scheduled_at > clock.now():
        return 0
    row.status = BroadcastStatus.running
    # A sendall reaches every follower in one call: the whole audience at once.
    step = len(row.member_ids) if row.audience.get("to_all") else limit or row.per_minute
    taken = row.member_ids[row.cursor : row.cursor + step]
    data = json.loads(row.data)
    if MASS in row.audience:
        _advance_mass(session, row, taken, data["text"])
    for member_id in [] if MASS in row.audience else taken:
        intent = Intent(
            member_id=member_id,
            template_key=row.template_key,
            data=data,
            category=row.category,
            urgency=row.urgency,
            dedupe_key=f"broadcast:{row.id}:{member_id}",
            broadcast_id=row.id,
        )
        try:
            with session.begin_nested():
                notify(session, row.workspace_id, intent)
        except SiyuError as exc:  # an erased or merged-away member: skipped, counted by log
            log.info("broadcast_member_skipped", broadcast_id=row.id, code=exc.code)
    row.cursor += len(taken)
    if row.cursor >= len(row.member_ids):
        row.status, row.finished_at = BroadcastStatus.done, clock.now()
    session.flush()
    return len(taken)


def _advance_mass(session: Session, row: ReachBroadcast, batch: list[int], text: str) -> None:
    """One mass call for the batch's followers who still have room this month (4 a month
    for a service account's follower, fact sheet §2.6); the others are dropped, with why."""
    app = workspaces.get_app_by_appid(session, row.audience[MASS], row.workspace_id)
    to_all = bool(row.audience.get("to_all"))
    policy = get_policy(session, row.workspace_id)
    now = clock.now()
    month = _month(now)
    queued: list[int] = []
    for member_id in batch:
        key = f"broadcast:{row.id}:{member_id}"
        if repository.send_by_key(session, row.workspace_id, key) is not None:
            continue  # a tick run twice
        if identity.get_member(session, row.workspace_id, member_id).erased_at is not None:
            continue
        family = _survivor(session, row.workspace_id, member_id)
        send = ReachSend(
            workspace_id=row.workspace_id,
            member_id=family[0],
            dedupe_key=key,
            template_key=MASS,
            category=row.category,
            urgency=row.urgency,
            status=SendStatus.held,
            channel=MASS,
            app_id=app.id,
            attempts=0,
            broadcast_id=row.id,
            created_at=now,
        )
        session.add(send)
        session.flush()
        reason = _refusal(session, send, policy, family, now)
        fans = [
            r for r in repository.ledger_rows(session, family) if r.app_id == app.id and r.following
        ]
        if reason is None and not fans:
            reason = "not_following"
        if reason is None:
            ledger = fans[0]
            if ledger.mass_month != month:
                ledger.mass_month, ledger.mass_count = month, 0
            if to_all and app.kind == AppKind.oa_subscription:
                send.status, send.openid = SendStatus.queued, ledger.openid  # no monthly cap
                queued.append(send.id)
            elif ledger.mass_count >= policies.MASS_PER_MONTH:
                reason = "monthly_mass_cap"
            else:
                ledger.mass_count += 1
                send.status, send.openid = SendStatus.queued, ledger.openid
                queued.append(send.id)
        if reason is not None:
            _drop(session, send, reason, now)
    session.flush()
    if queued:
        from siyu.reach import tasks

        deliver = tasks.deliver_mass_all if to_all else tasks.deliver_mass
        enqueue_after_commit(session, deliver, row.id, queued, text)


def claim_mass(session: Session, send_ids: list[int]) -> tuple[str, list[tuple[int, str]]]:
    """The queued sends of one mass call, claimed: (appid, [(send id, openid)])."""
    claimed: list[tuple[int, str]] = []
    appid = ""
    for send_id in send_ids:
        send = repository.send_for_update(session, send_id)
        if send is None or send.status != SendStatus.queued or not send.openid:
            continue
        assert send.app_id is not None
        appid = workspaces.get_apps_by_id(session, [send.app_id])[send.app_id].appid
        send.status, send.claimed_at = SendStatus.sending, clock.now()
        send.attempts += 1
        claimed.append((send.id, send.openid))
    session.flush()
    return appid, claimed


def due_broadcasts(session: Session) -> list[int]:
    return repository.due_broadcasts(session, clock.now())


def outcome_summary(session: Session, workspace_id: int, days: int = 7) -> list[tuple[str, int]]:
    """Sends of the last `days` by outcome ("sent", "held: no_channel", "dropped: …")."""
    since = clock.now() - timedelta(days=days)
    counts: dict[str, int] = {}
    for status, reason, count in repository.status_counts(session, workspace_id, since):
        label = f"{status}: {reason}" if status in ("held", "dropped", "failed") else status
        counts[label] = counts.get(label, 0) + count
    return sorted(counts.items(), key=lambda item: (-item[1], item[0]))


def sends_page(
    session: Session, workspace_id: int, before_id: int | None, limit: int = 500
) -> list[SendRead]:
    rows = repository.sends_before(session, workspace_id, before_id, limit)
    return [SendRead.model_validate(row) for row in rows]


# --- the pre-2020 template-message rules, over history ---------------------------------------

LEGACY_SENT_CHANNELS = ("mp_template", "mp_template_legacy")  # as imported histories name them


def legacy_report(
    session: Session, workspace_id: int, appid: str, since: datetime, until: datetime
) -> LegacyReport:
    """Replay the period's form submits, payments and template messages of a Mini Program the
    policy reads under the old rules: what they allowed, what was used, what lapsed, and the
    sends the rules would have refused."""
    if until <= since:
        raise Invalid("reach.invalid_period", "until must be after since")
    if appid not in get_policy(session, workspace_id).legacy_template_apps:
        raise Conflict(
            "reach.legacy_rules_off",
            f"{appid} is not read under the old template rules: add it to the policy's "
            "legacy_template_apps",
        )
    app = workspaces.get_app_by_appid(session, appid, workspace_id)
    table = identity.events_table()
    channel = table.c.props["channel"].as_string()
    rows = session.execute(
        select(table.c.member_id, table.c.name, table.c.ts).where(
            table.c.workspace_id == workspace_id,
            table.c.app_id == app.id,
            table.c.ts >= since,
            table.c.ts < until,
            or_(
                table.c.name.in_(("mp.form_submit", "pay.paid")),
                and_(table.c.name == "message.sent", channel.in_(LEGACY_SENT_CHANNELS)),
            ),
        )
    )
    history: dict[int, tuple[list[datetime], list[datetime], list[datetime]]] = {}
    for member_id, name, ts in rows:
        forms, payments, sends = history.setdefault(member_id, ([], [], []))
        {"mp.form_submit": forms, "pay.paid": payments}.get(name, sends).append(ts)
    totals = policies.LegacyTally()
    for forms, payments, sends in history.values():
        totals.add(policies.legacy_tally(forms, payments, sends, until))
    return LegacyReport(appid=appid, since=since, until=until, members=len(history), totals=totals)
