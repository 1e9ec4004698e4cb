"""Arrivals: pushes and Mini Program launches that name a channel become attributed arrivals,
and a follow or scan of a channel's code is answered with the channel's welcome.

`siyu.wiring` subscribes the handlers below (they run in the push-processing job, once per push) and
the passive-reply handler (it runs in the web process within the reply budget, and only reads;
the inbox sends it through the customer-service API when the budget ran out).
"""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy.orm import Session

from siyu.entries import service
from siyu.entries.models import ArrivalKind
from siyu.identity import service as identity
from siyu.identity.service import MemberCreated
from siyu.wechat.mp import MpLaunched
from siyu.wechat.schemas import Push, Reply, ScanEvent, SubscribeEvent, TextReply, UnsubscribeEvent
from siyu.workspaces.schemas import AppRead

NEW_MEMBERS = "siyu.entries.new_members"
NEW_MEMBER_WINDOW = timedelta(minutes=30)


def remember_new_member(session: Session, event: MemberCreated) -> None:
    # Published by the identity hub when resolve_member creates one, in the same transaction
    # and before the push itself is published: it tells a new member from a returning one.
    session.info.setdefault(NEW_MEMBERS, set()).add(event.member_id)


def _is_new(session: Session, member_id: int) -> bool:
    return member_id in session.info.get(NEW_MEMBERS, set())


def _on_follow_or_scan(session: Session, push: SubscribeEvent | ScanEvent) -> None:
    if push.member_id is None or push.app_id is None or push.workspace_id is None:
        return
    hit = service.channel_for_scene(session, push.app_id, push.scene)
    if hit is None:
        return
    follow = isinstance(push, SubscribeEvent)
    service.record_arrival(
        session,
        push.workspace_id,
        hit,
        app_id=push.app_id,
        member_id=push.member_id,
        kind=ArrivalKind.subscribe if follow else ArrivalKind.scan,
        source_key=f"push:{push.push_id}",
        at=push.create_time,
        new_follower=follow,
        new_member=_is_new(session, push.member_id),
    )


def on_subscribe(session: Session, push: SubscribeEvent) -> None:
    _on_follow_or_scan(session, push)


def on_scan(session: Session, push: ScanEvent) -> None:
    _on_follow_or_scan(session, push)


def on_unsubscribe(session: Session, push: UnsubscribeEvent) -> None:
    if push.member_id is None or push.app_id is None:
        return
    service.record_unfollow(session, push.app_id, push.member_id, push.create_time)


def on_launch(session: Session, event: MpLaunched) -> None:
    hit = service.channel_for_scene(
        session, event.app_id, event.channel
    ) or service.channel_by_slug(session, event.workspace_id, event.channel)
    if hit is None:
        return
    service.record_arrival(
        session,
        event.workspace_id,
        hit,
        app_id=event.app_id,
        member_id=event.member_id,
        kind=ArrivalKind.launch,
        source_key=event.launch_key,
        at=event.at,
        new_follower=False,
        new_member=_joined_lately(session, event),
    )


def _joined_lately(session: Session, event: MpLaunched) -> bool:
    # A Mini Program member is made by the login just before the launch (another request).
    member = identity.get_member(session, event.workspace_id, event.member_id)
    return member.created_at >= event.at - NEW_MEMBER_WINDOW


def channel_welcome(session: Session, app: AppRead, push: Push) -> Reply | None:
    """The channel's welcome text for a follow or scan of its code; None for any other push
    (a plain follow, a scene that is no channel's, a channel without a welcome)."""
    if not isinstance(push, SubscribeEvent | ScanEvent) or not push.scene:
        return None
    hit = service.channel_for_scene(session, app.id, push.scene)
    if hit is None or not hit.welcome:
        return None
    return TextReply(hit.welcome)
