"""Queries over associations, channels and codes, arrivals and touches, menus and articles,
and the report aggregates over them and the members' timeline (`events`, identity's table)."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, Row, Table, and_, case, func, select, update
from sqlalchemy.orm import Session

from siyu.entries.enums import CodeKind, LinkStatus, MenuStatus
from siyu.entries.models import (
    Arrival,
    Article,
    Association,
    Channel,
    ChannelCode,
    ConditionalMenu,
    MenuVersion,
    Touch,
)

LIVE_LINKS = (LinkStatus.pending, LinkStatus.linked)
Entry = (
    Association | Channel | ChannelCode | Arrival | Touch | MenuVersion | Article | ConditionalMenu
)


def add(session: Session, row: Entry) -> None:
    session.add(row)
    session.flush()


def add_in_savepoint(session: Session, row: Entry) -> None:
    """Insert `row` in a savepoint: a unique key's IntegrityError undoes this row only."""
    with session.begin_nested():
        session.add(row)


def delete(session: Session, row: Entry) -> None:
    session.delete(row)
    session.flush()


# --- associations --------------------------------------------------------------------------


def get_association(session: Session, oa_app_id: int, mp_app_id: int) -> Association | None:
    return session.scalar(
        select(Association).where(
            Association.oa_app_id == oa_app_id, Association.mp_app_id == mp_app_id
        )
    )


def _count_associations(session: Session, *where: ColumnElement[bool]) -> int:
    return session.scalar(select(func.count()).select_from(Association).where(*where)) or 0


def count_live_links_of_oa(session: Session, oa_app_id: int, *, same_entity: bool) -> int:
    return _count_associations(
        session,
        Association.oa_app_id == oa_app_id,
        Association.status.in_(LIVE_LINKS),
        Association.same_entity.is_(same_entity),
    )


def count_links_of_oa_since(session: Session, oa_app_id: int, since: datetime) -> int:
    """Links asked for since `since`, whatever became of them (the monthly quota counts all)."""
    return _count_associations(
        session, Association.oa_app_id == oa_app_id, Association.created_at >= since
    )


def count_live_links_of_mp(session: Session, mp_app_id: int) -> int:
    return _count_associations(
        session, Association.mp_app_id == mp_app_id, Association.status.in_(LIVE_LINKS)
    )


def list_associations(session: Session, workspace_id: int) -> Sequence[Association]:
    return session.scalars(
        select(Association).where(Association.workspace_id == workspace_id).order_by(Association.id)
    ).all()


def linked_mp_ids(session: Session, oa_app_id: int) -> list[int]:
    return list(
        session.scalars(
            select(Association.mp_app_id).where(
                Association.oa_app_id == oa_app_id, Association.status == LinkStatus.linked
            )
        )
    )


def linked_oa_ids(session: Session, mp_app_id: int) -> list[int]:
    return list(
        session.scalars(
            select(Association.oa_app_id).where(
                Association.mp_app_id == mp_app_id, Association.status == LinkStatus.linked
            )
        )
    )


# --- channels and codes --------------------------------------------------------------------


def get_channel_by_slug(session: Session, workspace_id: int, slug: str) -> Channel | None:
    return session.scalar(
        select(Channel).where(Channel.workspace_id == workspace_id, Channel.slug == slug)
    )


def list_channels(session: Session, workspace_id: int) -> Sequence[Channel]:
    return session.scalars(
        select(Channel).where(Channel.workspace_id == workspace_id).order_by(Channel.id)
    ).all()


def channel_names(session: Session, channel_ids: Sequence[int]) -> dict[int, str]:
    rows = session.execute(select(Channel.id, Channel.name).where(Channel.id.in_(channel_ids)))
    return {row.id: row.name for row in rows}


def codes_of(session: Session, channel_ids: Sequence[int]) -> dict[int, list[ChannelCode]]:
    found: dict[int, list[ChannelCode]] = {i: [] for i in channel_ids}
    if not channel_ids:
        return found
    rows = session.scalars(
        select(ChannelCode).where(ChannelCode.channel_id.in_(channel_ids)).order_by(ChannelCode.id)
    )
    for code in rows:
        found[code.channel_id].append(code)
    return found


def count_permanent_qr(session: Session, app_id: int) -> int:
    return (
        session.scalar(
            select(func.count())
            .select_from(ChannelCode)
            .where(ChannelCode.app_id == app_id, ChannelCode.kind == CodeKind.oa_qr_permanent)
        )
        or 0
    )


def issued_permanent_qr(session: Session, channel_id: int, app_id: int) -> ChannelCode | None:
    """The channel's permanent QR code on this app that WeChat issued (it has a ticket)."""
    return session.scalar(
        select(ChannelCode).where(
            ChannelCode.channel_id == channel_id,
            ChannelCode.app_id == app_id,
            ChannelCode.kind == CodeKind.oa_qr_permanent,
            ChannelCode.ticket.is_not(None),
        )
    )


def newest_code_with_scene(session: Session, app_id: int, scene: str) -> tuple[int, Channel] | None:
    """The newest code on this app carrying `scene`, with its channel (archived ones too)."""
    row = session.execute(
        select(ChannelCode.id, Channel)
        .join(Channel, Channel.id == ChannelCode.channel_id)
        .where(ChannelCode.app_id == app_id, ChannelCode.scene == scene)
        .order_by(ChannelCode.id.desc())
        .limit(1)
    ).first()
    return None if row is None else (row[0], row[1])


def newest_codes_with_scenes(
    session: Session, app_id: int, scenes: Collection[str]
) -> dict[str, tuple[int, Channel]]:
    """For each of these scenes carried by a code on this app, the newest such code with its
    channel (archived ones too): `newest_code_with_scene` for a batch, in one query."""
    if not scenes:
        return {}
    rows = session.execute(
        select(ChannelCode.scene, ChannelCode.id, Channel)
        .join(Channel, Channel.id == ChannelCode.channel_id)
        .where(ChannelCode.app_id == app_id, ChannelCode.scene.in_(sorted(scenes)))
        .order_by(ChannelCode.id.desc())
    ).all()
    found: dict[str, tuple[int, Channel]] = {}
    for scene, code_id, channel in rows:
        found.setdefault(scene, (code_id, channel))
    return found


# --- arrivals and touches ------------------------------------------------------------------


def has_first_arrival(session: Session, channel_id: int, member_id: int) -> bool:
    found = session.scalar(
        select(Arrival.id).where(
            Arrival.channel_id == channel_id,
            Arrival.member_id == member_id,
            Arrival.first_in_channel.is_(True),
        )
    )
    return found is not None


def arrival_recorded(session: Session, workspace_id: int, source_key: str) -> bool:
    found = session.scalar(
        select(Arrival.id).where(
            Arrival.workspace_id == workspace_id, Arrival.source_key == source_key
        )
    )
    return found is not None


def count_arrivals(session: Session, workspace_id: int, channel_id: int) -> int:
    return (
        session.scalar(
            select(func.count())
            .select_from(Arrival)
            .where(Arrival.workspace_id == workspace_id, Arrival.channel_id == channel_id)
        )
        or 0
    )


def mark_unfollowed(
    session: Session, app_id: int, member_id: int, at: datetime, window: timedelta
) -> int:
    """Mark the member's follows on this app up to `at` as unfollowed (within `window` or not)."""
    result = session.execute(
        update(Arrival)
        .where(
            Arrival.member_id == member_id,
            Arrival.app_id == app_id,
            Arrival.new_follower.is_(True),
            Arrival.unfollowed_at.is_(None),
            Arrival.at <= at,
        )
        .values(unfollowed_at=at, unfollowed_within_7d=Arrival.at >= at - window)
        .execution_options(synchronize_session=False)
    )
    return int(getattr(result, "rowcount", 0) or 0)


def get_touch(
    session: Session, workspace_id: int, member_id: int, *, for_update: bool = False
) -> Touch | None:
    query = select(Touch).where(Touch.workspace_id == workspace_id, Touch.member_id == member_id)
    return session.scalar(query.with_for_update() if for_update else query)


# --- menus ---------------------------------------------------------------------------------


def latest_menu_version(session: Session, app_id: int) -> int:
    return (
        session.scalar(select(func.max(MenuVersion.version)).where(MenuVersion.app_id == app_id))
        or 0
    )


def get_menu_version(session: Session, app_id: int, version: int) -> MenuVersion | None:
    return session.scalar(
        select(MenuVersion).where(MenuVersion.app_id == app_id, MenuVersion.version == version)
    )


def list_menu_versions(session: Session, app_id: int) -> Sequence[MenuVersion]:
    return session.scalars(
        select(MenuVersion).where(MenuVersion.app_id == app_id).order_by(MenuVersion.version.desc())
    ).all()


def live_menu(session: Session, app_id: int) -> MenuVersion | None:
    return session.scalar(
        select(MenuVersion)
        .where(MenuVersion.app_id == app_id, MenuVersion.status == MenuStatus.published)
        .order_by(MenuVersion.published_at.desc(), MenuVersion.version.desc())
        .limit(1)
    )


# --- articles ------------------------------------------------------------------------------


def list_articles(session: Session, workspace_id: int) -> Sequence[Article]:
    return session.scalars(
        select(Article).where(Article.workspace_id == workspace_id).order_by(Article.id.desc())
    ).all()


def list_articles_of_oas(
    session: Session, workspace_id: int, oa_app_ids: Sequence[int]
) -> Sequence[Article]:
    return session.scalars(
        select(Article)
        .where(Article.workspace_id == workspace_id, Article.oa_app_id.in_(oa_app_ids or [0]))
        .order_by(Article.id.desc())
    ).all()


def article_open_seen(
    session: Session,
    events: Table,
    *,
    workspace_id: int,
    member_id: int,
    mp_app_id: int,
    article_id: int,
    open_id: str | None,
    since: datetime,
) -> bool:
    """Whether the member's timeline has this open already: by `open_id` when the client gave
    one, else any open of the article since `since`."""
    seen = select(events.c.id).where(
        events.c.workspace_id == workspace_id,
        events.c.member_id == member_id,
        events.c.name == "mp.page_view",
        events.c.app_id == mp_app_id,
        events.c.props["article_id"].as_integer() == article_id,
    )
    if open_id is not None:
        seen = seen.where(events.c.props["open_id"].as_string() == open_id)
    else:
        seen = seen.where(events.c.ts >= since)
    return session.scalar(seen.limit(1)) is not None


# --- report aggregates ---------------------------------------------------------------------


def _conversions_by_member(
    events: Table, workspace_id: int, event: str, until: datetime | None
) -> Any:
    where = [events.c.workspace_id == workspace_id, events.c.name == event]
    if until is not None:
        where.append(events.c.ts < until)
    return (
        select(events.c.member_id.label("member_id"), func.max(events.c.ts).label("last_ts"))
        .where(*where)
        .group_by(events.c.member_id)
        .subquery("conv")
    )


def channel_counts(
    session: Session,
    events: Table,
    workspace_id: int,
    *,
    event: str,
    since: datetime | None,
    until: datetime | None,
) -> dict[int, Row[Any]]:
    """Per channel: scans, new followers, new members, unfollows within 7 days, members who
    arrived (first arrivals) and how many of them did `event` after arriving."""
    where = [Arrival.workspace_id == workspace_id]
    if since is not None:
        where.append(Arrival.at >= since)
    if until is not None:
        where.append(Arrival.at < until)
    conv = _conversions_by_member(events, workspace_id, event, until)
    first = Arrival.first_in_channel
    converted = and_(first, conv.c.last_ts.is_not(None), conv.c.last_ts >= Arrival.at)
    # One pass over the arrivals: members (and their conversions) are counted on each one's
    # first arrival on the channel, flagged when it was recorded.
    rows = session.execute(
        select(
            Arrival.channel_id,
            func.count().label("scans"),
            func.sum(case((Arrival.new_follower, 1), else_=0)).label("new_followers"),
            func.sum(case((Arrival.new_member, 1), else_=0)).label("new_members"),
            func.sum(case((Arrival.unfollowed_within_7d, 1), else_=0)).label("unfollows"),
            func.sum(case((first, 1), else_=0)).label("members"),
            func.sum(case((converted, 1), else_=0)).label("converted"),
        )
        .select_from(Arrival)
        .outerjoin(conv, and_(first, conv.c.member_id == Arrival.member_id))
        .where(*where)
        .group_by(Arrival.channel_id)
    )
    return {row.channel_id: row for row in rows}


def _converted_after_first(
    session: Session,
    events: Table,
    workspace_id: int,
    *,
    key_col: Any,
    where: list[Any],
    event: str,
) -> dict[Any, Row[Any]]:
    """Per key of the events matching `where`: how many (events), by how many members, and
    how many of those did `event` after their first one (converted)."""
    firsts = (
        select(
            key_col.label("key"),
            events.c.member_id.label("member_id"),
            func.count().label("events"),
            func.min(events.c.ts).label("first_at"),
        )
        .where(*where)
        .group_by(key_col, events.c.member_id)
        .subquery("firsts")
    )
    conv = _conversions_by_member(events, workspace_id, event, None)
    after = and_(conv.c.last_ts.is_not(None), conv.c.last_ts >= firsts.c.first_at)
    query = (
        select(
            firsts.c.key,
            func.sum(firsts.c.events).label("events"),
            func.count().label("members"),
            func.sum(case((after, 1), else_=0)).label("converted"),
        )
        .select_from(firsts.outerjoin(conv, conv.c.member_id == firsts.c.member_id))
        .group_by(firsts.c.key)
    )
    return {row.key: row for row in session.execute(query)}


def menu_click_counts(
    session: Session,
    events: Table,
    workspace_id: int,
    app_id: int,
    keys: Sequence[str],
    *,
    event: str,
    since: datetime | None,
) -> dict[Any, Row[Any]]:
    """Per click key (`oa.menu_click` props.key): clicks, members, members who converted."""
    key_col = events.c.props["key"].as_string()
    where = [
        events.c.workspace_id == workspace_id,
        events.c.app_id == app_id,
        events.c.name == "oa.menu_click",
    ]
    if since is not None:
        where.append(events.c.ts >= since)
    where.append(key_col.in_(list(keys) or [""]))
    return _converted_after_first(
        session, events, workspace_id, key_col=key_col, where=where, event=event
    )


def article_open_counts(
    session: Session, events: Table, workspace_id: int, *, event: str
) -> dict[Any, Row[Any]]:
    """Per article id (`mp.page_view` from=article): opens, members, members who converted."""
    article_col = events.c.props["article_id"].as_integer()
    where = [
        events.c.workspace_id == workspace_id,
        events.c.name == "mp.page_view",
        events.c.props["from"].as_string() == "article",
    ]
    return _converted_after_first(
        session, events, workspace_id, key_col=article_col, where=where, event=event
    )


def follows_after_visits(
    session: Session,
    events: Table,
    workspace_id: int,
    *,
    mp_app_id: int,
    oa_app_id: int,
    activity: Sequence[str],
    since: datetime | None,
    until: datetime | None,
) -> tuple[int, int]:
    """Members active in the MP in the period (`activity` events), and how many of them
    followed the OA at or after their first visit of the period."""
    where = [
        events.c.workspace_id == workspace_id,
        events.c.app_id == mp_app_id,
        events.c.name.in_(activity),
    ]
    if since is not None:
        where.append(events.c.ts >= since)
    if until is not None:
        where.append(events.c.ts < until)
    visits = (
        select(events.c.member_id.label("member_id"), func.min(events.c.ts).label("first_at"))
        .where(*where)
        .group_by(events.c.member_id)
        .subquery("visits")
    )
    follows = (
        select(events.c.member_id.label("member_id"), func.max(events.c.ts).label("last_at"))
        .where(
            events.c.workspace_id == workspace_id,
            events.c.app_id == oa_app_id,
            events.c.name == "oa.subscribe",
        )
        .group_by(events.c.member_id)
        .subquery("follows")
    )
    members, followed = session.execute(
        select(
            func.count(),
            func.sum(case((follows.c.last_at >= visits.c.first_at, 1), else_=0)),
        ).select_from(visits.outerjoin(follows, follows.c.member_id == visits.c.member_id))
    ).one()
    return int(members), int(followed or 0)


def list_conditional_menus(session: Session, app_id: int) -> list[ConditionalMenu]:
    """The app's conditional menus still on WeChat (or failed to get there), newest first."""
    return list(
        session.scalars(
            select(ConditionalMenu)
            .where(ConditionalMenu.app_id == app_id, ConditionalMenu.deleted_at.is_(None))
            .order_by(ConditionalMenu.id.desc())
        )
    )


def get_conditional_menu(session: Session, menu_id: int) -> ConditionalMenu | None:
    return session.get(ConditionalMenu, menu_id)
