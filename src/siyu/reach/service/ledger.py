"""The ledger of what WeChat still allows each member, fed by the pushes (bus subscribers):
follow status, the customer-service window, subscribe credits, delivery reports."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from siyu.core import clock, jobs
from siyu.reach import policy as policies
from siyu.reach import repository
from siyu.reach.enums import SendStatus
from siyu.reach.models import ReachLedger
from siyu.reach.repository import LedgerState
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


LedgerPush = Message | SubscribeEvent | UnsubscribeEvent


def _apply(row: ReachLedger | LedgerState, push: LedgerPush, now: datetime) -> bool:
    """What a message, follow or unfollow does to the member's row; whether it changed it.

    A message opens a fresh window: 48 hours, 5 messages (fact sheet §2.5, §3). Each compares
    the push's own time, so that pushes processed out of order leave the newest state.
    """
    match push:
        case Message():
            if row.window_opened_at is not None and push.create_time <= row.window_opened_at:
                return False
            row.window_opened_at, row.window_used = push.create_time, 0
        case SubscribeEvent():
            if row.follow_changed_at is not None and push.create_time < row.follow_changed_at:
                return False
            row.following, row.follow_changed_at = True, push.create_time
        case UnsubscribeEvent():
            if row.follow_changed_at is not None and push.create_time < row.follow_changed_at:
                return False
            # WeChat closes an unfollower's windows too (the sandbox answers 45015 then).
            row.following, row.follow_changed_at = False, push.create_time
            row.window_opened_at, row.window_used = None, 0
    row.updated_at = now
    return True


def _releases(push: LedgerPush) -> bool:
    # A message or a follow may let a held notice go; an unfollow never does.
    return not isinstance(push, UnsubscribeEvent)


def _on_push(session: Session, push: LedgerPush) -> None:
    row = _ledger(session, push)
    if row is None or not _apply(row, push, clock.now()):
        return
    session.flush()
    if _releases(push):
        _release_held(session, [push.member_id])


def on_message(session: Session, push: Message) -> None:
    _on_push(session, push)


def on_follow(session: Session, push: SubscribeEvent) -> None:
    _on_push(session, push)


def on_unfollow(session: Session, push: UnsubscribeEvent) -> None:
    _on_push(session, push)


def on_pushes(session: Session, pushes: Sequence[LedgerPush]) -> None:
    """The batch form of `on_message`, `on_follow` and `on_unfollow`: the batch's rows read
    (and made) and locked at once, each push applied in order in memory, the changed rows
    written in one statement, and the held notices of the members they concern looked up
    once."""
    mine = [(push, push.member_id) for push in pushes if push.member_id is not None]
    if not mine:
        return
    now = clock.now()
    # A row missing is made as the first push naming it would have made it.
    wanted = {(m, p.app_id): (p.workspace_id, p.openid) for p, m in reversed(mine)}
    rows = repository.lock_ledger_rows(session, wanted, now)
    released: list[int | None] = []
    changed: dict[int, LedgerState] = {}
    for push, member_id in mine:
        row = rows[(member_id, push.app_id)]
        if _apply(row, push, now):
            changed[row.id] = row
            if _releases(push):
                released.append(member_id)
    repository.update_ledger_states(session, list(changed.values()), now)
    _release_held(session, released)


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
        _release_held(session, [push.member_id])


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


def _release_held(session: Session, member_ids: Sequence[int | None]) -> None:
    """The ledger changed: held notices of these members get another look, after commit."""
    wanted = sorted({m for m in member_ids if m is not None})
    for member_id in repository.members_with_held_sends(session, wanted):
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


def follower_openids(session: Session, app_id: int) -> dict[int, str]:
    """Every member following the app now, with their openid there (as the ledger knows from
    the pushes: a follow, an unfollow)."""
    return dict(repository.list_follower_openids(session, app_id))


def members_by_openid(session: Session, app_id: int, openids: Sequence[str]) -> dict[str, int]:
    """The members behind these openids of the app (those the ledger knows)."""
    found: dict[str, int] = {}
    for start in range(0, len(openids), 5000):
        found.update(
            repository.list_members_by_openid(session, app_id, openids[start : start + 5000])
        )
    return found
