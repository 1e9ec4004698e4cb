"""The ledger of what WeChat still allows each member, fed by the pushes (bus subscribers):
follow status, the customer-service window, subscribe credits, delivery reports."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from siyu.core import clock, jobs
from siyu.reach import policy as policies
from siyu.reach import repository
from siyu.reach.enums import SendStatus
from siyu.reach.models import ReachLedger
from siyu.reach.schemas import CreditRow, LedgerRead, LedgerRow
from siyu.reach.service.common import SENT_STATES, family_of, month, timeline, window_until
from siyu.wechat.schemas import (
    Message,
    SubscribeEvent,
    SubscribeMsgChangeEvent,
    SubscribeMsgPopupEvent,
    SubscribeMsgSentEvent,
    TemplateSendJobFinishEvent,
    UnsubscribeEvent,
)


def _ledger(session: Session, push: Any) -> ReachLedger | None:
    if push.member_id is None:
        return None
    return repository.get_or_add_ledger_row(
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
            credit = repository.get_or_add_credit(
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
            credit = repository.get_or_add_credit(
                session, push.member_id, push.app_id, choice.template_id, now
            )
            credit.used, credit.updated_at = credit.granted, now
    session.flush()


def on_template_finished(session: Session, push: TemplateSendJobFinishEvent) -> None:
    """TEMPLATESENDJOBFINISH: `success`, `failed:user block`, `failed: system failed`."""
    send = repository.get_send_by_msgid(session, push.app_id, push.msg_id)
    if send is None or send.status not in SENT_STATES:
        return
    if push.status == "success":
        send.status = SendStatus.delivered
    else:
        send.status, send.reason = SendStatus.failed, push.status.replace(" ", "")[:64]
        timeline(session, send, "message.failed", {"reason": send.reason})
    send.finished_at = clock.now()
    session.flush()


def on_subscribe_sent(session: Session, push: SubscribeMsgSentEvent) -> None:
    """subscribe_msg_sent_event: per message, ErrorCode 0 or why it did not arrive."""
    for delivery in push.deliveries:
        send = repository.get_send_by_msgid(session, push.app_id, delivery.msg_id)
        if send is None or send.status not in SENT_STATES:
            continue
        if delivery.error_code == 0:
            send.status = SendStatus.delivered
        else:
            send.status, send.errcode = SendStatus.failed, delivery.error_code
            send.reason = (delivery.error_status or "refused")[:64]
            timeline(session, send, "message.failed", {"errcode": delivery.error_code})
        send.finished_at = clock.now()
    session.flush()


def _release_held(session: Session, member_id: int | None) -> None:
    """The ledger changed: held notices of the member get another look, after commit."""
    if member_id is None or not repository.list_held_sends(session, member_ids=[member_id]):
        return
    jobs.enqueue(session, "reach.retry_held", member_id)


def get_ledger(session: Session, workspace_id: int, member_id: int) -> LedgerRead:
    members = family_of(session, workspace_id, member_id)
    now = clock.now()
    this_month = month(now)
    apps = []
    for row in repository.list_ledger_rows(session, members):
        open_until = window_until(row)
        live = open_until is not None and open_until > now
        apps.append(
            LedgerRow(
                app_id=row.app_id,
                following=row.following,
                window_open_until=open_until if live else None,
                window_left=max(policies.WINDOW_QUOTA - row.window_used, 0) if live else 0,
                mass_this_month=row.mass_count if row.mass_month == this_month else 0,
            )
        )
    credits = [
        CreditRow(app_id=c.app_id, template_id=c.template_id, left=max(c.granted - c.used, 0))
        for c in repository.list_credits(session, members)
    ]
    return LedgerRead(member_id=members[0], apps=apps, credits=credits)
