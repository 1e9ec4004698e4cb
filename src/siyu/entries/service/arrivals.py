"""Arrivals and attribution: pushes and Mini Program launches that name a channel become
attributed arrivals (first touch kept, last touch moved, the channel's tags put on the member),
and a follow or scan of a channel's code is answered with the channel's welcome.

`siyu.wiring` subscribes the `on_*` handlers (they run in the push-processing job, once per
push; `on_pushes` is their batch form, one channel lookup per app for a batch) and registers
`channel_welcome` (it runs in the web process within the reply budget, and only reads; the
inbox sends it through the customer-service API when the budget ran out).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from siyu.entries import repository
from siyu.entries.enums import ArrivalKind, ChannelStatus
from siyu.entries.models import Arrival, Channel, Touch
from siyu.entries.schemas import TouchRead
from siyu.identity import service as identity
from siyu.wechat.schemas import Push, Reply, ScanEvent, SubscribeEvent, TextReply, UnsubscribeEvent
from siyu.wechat.service import MpLaunched
from siyu.workspaces.schemas import AppRead

UNFOLLOW_WINDOW = timedelta(days=7)
NEW_MEMBER_WINDOW = timedelta(minutes=30)


@dataclass(frozen=True)
class ChannelHit:
    channel_id: int
    code_id: int | None
    slug: str
    welcome: str
    tags: list[str]
    archived: bool


def _hit(channel: Channel, code_id: int | None) -> ChannelHit:
    return ChannelHit(
        channel.id,
        code_id,
        channel.slug,
        channel.welcome,
        list(channel.tags),
        channel.status == ChannelStatus.archived,
    )


def channel_for_scene(session: Session, app_id: int, scene: str | None) -> ChannelHit | None:
    """The channel whose code on this app carries `scene` (archived ones too), if any."""
    if not scene:
        return None
    found = repository.newest_code_with_scene(session, app_id, scene)
    if found is None:
        return None
    code_id, channel = found
    return _hit(channel, code_id)


def channel_by_slug(session: Session, workspace_id: int, slug: str | None) -> ChannelHit | None:
    """For arrivals that name the channel without a code (an MP opened with `?ch=slug`)."""
    if not slug:
        return None
    channel = repository.get_channel_by_slug(session, workspace_id, slug)
    return None if channel is None else _hit(channel, None)


def record_arrival(
    session: Session,
    workspace_id: int,
    hit: ChannelHit,
    *,
    app_id: int,
    member_id: int,
    kind: ArrivalKind,
    source_key: str,
    at: datetime,
    new_follower: bool,
    new_member: bool,
) -> bool:
    """Record one arrival (once per source_key): first touch kept, last touch moved, the
    channel's tags put on the member. False when this source was recorded before."""
    first = not repository.has_first_arrival(session, hit.channel_id, member_id)
    fields: dict[str, Any] = {
        "workspace_id": workspace_id,
        "channel_id": hit.channel_id,
        "code_id": hit.code_id,
        "app_id": app_id,
        "member_id": member_id,
        "kind": kind,
        "source_key": source_key[:96],
        "new_follower": new_follower,
        "new_member": new_member,
        "at": at,
    }
    try:
        repository.add_in_savepoint(session, Arrival(**fields, first_in_channel=first))
    except IntegrityError:
        if repository.arrival_recorded(session, workspace_id, source_key[:96]) or not first:
            return False
        # Another arrival of the member on this channel was first by a hair.
        try:
            repository.add_in_savepoint(session, Arrival(**fields, first_in_channel=False))
        except IntegrityError:
            return False
    _touch(session, workspace_id, member_id, hit.channel_id, at)
    for tag in hit.tags:
        identity.tag_members(session, workspace_id, [member_id], tag, actor=f"channel:{hit.slug}")
    return True


def _touch(
    session: Session, workspace_id: int, member_id: int, channel_id: int, at: datetime
) -> None:
    touch = repository.get_touch(session, workspace_id, member_id, for_update=True)
    if touch is None:
        try:
            repository.add_in_savepoint(
                session,
                Touch(
                    workspace_id=workspace_id,
                    member_id=member_id,
                    first_channel_id=channel_id,
                    first_at=at,
                    last_channel_id=channel_id,
                    last_at=at,
                ),
            )
            return
        except IntegrityError:  # another arrival of the member made it first
            touch = repository.get_touch(session, workspace_id, member_id, for_update=True)
            if touch is None:
                raise
    if at < touch.first_at:  # pushes may be processed out of order
        touch.first_channel_id, touch.first_at = channel_id, at
    if at >= touch.last_at:
        touch.last_channel_id, touch.last_at = channel_id, at
    session.flush()


def record_unfollow(session: Session, app_id: int, member_id: int, at: datetime) -> int:
    """Mark the member's follows through channels on this app as unfollowed."""
    return repository.mark_unfollowed(session, app_id, member_id, at, UNFOLLOW_WINDOW)


def touches_of(session: Session, workspace_id: int, member_id: int) -> TouchRead | None:
    touch = repository.get_touch(session, workspace_id, member_id)
    if touch is None:
        return None
    names = repository.channel_names(session, [touch.first_channel_id, touch.last_channel_id])
    return TouchRead(
        member_id=member_id,
        first_channel=names.get(touch.first_channel_id, ""),
        first_at=touch.first_at,
        last_channel=names.get(touch.last_channel_id, ""),
        last_at=touch.last_at,
    )


def arrivals_of_channel(session: Session, workspace_id: int, channel_id: int) -> int:
    return repository.count_arrivals(session, workspace_id, channel_id)


# --- bus handlers and the welcome reply (see siyu.wiring) ----------------------------------


def _on_follow_or_scan(
    session: Session, push: SubscribeEvent | ScanEvent, hit: ChannelHit | None
) -> None:
    if hit is None or push.member_id is None or push.app_id is None or push.workspace_id is None:
        return
    follow = isinstance(push, SubscribeEvent)
    record_arrival(
        session,
        push.workspace_id,
        hit,
        app_id=push.app_id,
        member_id=push.member_id,
        kind=ArrivalKind.subscribe if follow else ArrivalKind.scan,
        source_key=f"push:{push.push_id}",
        at=push.create_time,
        new_follower=follow,
        new_member=push.member_created,  # this push made the member: new, not returning
    )


def _hit_of(session: Session, push: SubscribeEvent | ScanEvent) -> ChannelHit | None:
    if push.member_id is None or push.app_id is None:
        return None
    return channel_for_scene(session, push.app_id, push.scene)


def on_subscribe(session: Session, push: SubscribeEvent) -> None:
    _on_follow_or_scan(session, push, _hit_of(session, push))


def on_scan(session: Session, push: ScanEvent) -> None:
    _on_follow_or_scan(session, push, _hit_of(session, push))


def on_unsubscribe(session: Session, push: UnsubscribeEvent) -> None:
    if push.member_id is None or push.app_id is None:
        return
    record_unfollow(session, push.app_id, push.member_id, push.create_time)


ArrivalPush = SubscribeEvent | ScanEvent | UnsubscribeEvent


def on_pushes(session: Session, pushes: Sequence[ArrivalPush]) -> None:
    """The batch form of `on_subscribe`, `on_scan` and `on_unsubscribe`: the channels of the
    batch's scenes in one query per app, then each arrival and unfollow in the pushes' order
    (a follow without a scene, most of them, costs nothing)."""
    scenes: dict[int, set[str]] = {}
    for push in pushes:
        if not isinstance(push, UnsubscribeEvent) and push.scene and push.member_id is not None:
            scenes.setdefault(push.app_id, set()).add(push.scene)
    hits = {
        (app_id, scene): _hit(channel, code_id)
        for app_id, names in scenes.items()
        for scene, (code_id, channel) in repository.newest_codes_with_scenes(
            session, app_id, names
        ).items()
    }
    for push in pushes:
        if isinstance(push, UnsubscribeEvent):
            on_unsubscribe(session, push)
        elif push.scene:
            _on_follow_or_scan(session, push, hits.get((push.app_id, push.scene)))


def on_launch(session: Session, event: MpLaunched) -> None:
    hit = channel_for_scene(session, event.app_id, event.channel) or channel_by_slug(
        session, event.workspace_id, event.channel
    )
    if hit is None:
        return
    record_arrival(
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
    hit = channel_for_scene(session, app.id, push.scene)
    if hit is None or not hit.welcome:
        return None
    return TextReply(hit.welcome)
