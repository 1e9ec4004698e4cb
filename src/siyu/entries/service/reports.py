"""Reports: per channel, per menu button, per article, and the MP → OA follow conversion;
the channel report as CSV. Conversions are counted from the members' timeline."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from datetime import datetime

from sqlalchemy.orm import Session

from siyu.entries import errors, repository
from siyu.entries.enums import LinkStatus
from siyu.entries.schemas import (
    ArticleReportRow,
    ChannelReport,
    ChannelReportRow,
    FollowConversion,
    MenuButtonReportRow,
    MenuReport,
)
from siyu.entries.service import menu_rules
from siyu.entries.service.articles import list_articles
from siyu.entries.service.associations import list_associations
from siyu.entries.service.common import DEFAULT_CONVERSION, official_account
from siyu.identity import service as identity
from siyu.identity.schemas import CANONICAL_EVENTS
from siyu.workspaces import service as workspaces

MP_ACTIVITY = ("mp.login", "mp.launch", "mp.page_view", "mp.message", "mp.contact")
REPORT_COLUMNS = (
    "channel_id",
    "name",
    "slug",
    "group",
    "status",
    "scans",
    "new_followers",
    "new_members",
    "unfollows_7d",
    "arrived_members",
    "conversions",
    "precision",
)
# A cell starting like a formula is run by spreadsheets: quoted (OWASP CSV injection).
CSV_FORMULA = ("=", "+", "-", "@", "\t", "\r")


def conversion_event(name: str) -> str:
    """The conversion event of a report: a canonical event name, else refused."""
    if name not in CANONICAL_EVENTS:
        raise errors.UNKNOWN_EVENT(f"{name!r} is not a canonical event (e.g. pay.paid)", event=name)
    return name


def channel_report(
    session: Session,
    workspace_id: int,
    *,
    event: str = DEFAULT_CONVERSION,
    since: datetime | None = None,
    until: datetime | None = None,
) -> ChannelReport:
    """Per channel: scans, new followers, new members, unfollows within 7 days, members who
    arrived, how many of them did `event` after arriving, and the precision (their share)."""
    counts = repository.channel_counts(
        session, identity.events_table(), workspace_id, event=event, since=since, until=until
    )
    rows = []
    for channel in repository.list_channels(session, workspace_id):
        c = counts.get(channel.id)
        members = int(c.members or 0) if c else 0
        conversions = int(c.converted or 0) if c else 0
        rows.append(
            ChannelReportRow(
                channel_id=channel.id,
                name=channel.name,
                slug=channel.slug,
                group=channel.group_name,
                status=channel.status,
                scans=int(c.scans) if c else 0,
                new_followers=int(c.new_followers or 0) if c else 0,
                new_members=int(c.new_members or 0) if c else 0,
                unfollows_7d=int(c.unfollows or 0) if c else 0,
                arrived_members=members,
                conversions=conversions,
                precision=round(conversions / members, 4) if members else None,
            )
        )
    return ChannelReport(conversion_event=event, since=since, until=until, rows=rows)


def channel_report_csv(report: ChannelReport) -> Iterator[str]:
    """The report as CSV, row by row (a BOM first, so that Excel reads UTF-8)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(REPORT_COLUMNS)
    yield "\ufeff" + buffer.getvalue()
    for row in report.rows:
        buffer.seek(0)
        buffer.truncate()
        data = row.model_dump()
        writer.writerow([_cell(data[c]) for c in REPORT_COLUMNS])
        yield buffer.getvalue()


def _cell(value: object) -> str:
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(CSV_FORMULA) else text


def menu_report(
    session: Session,
    workspace_id: int,
    appid: str,
    *,
    event: str = DEFAULT_CONVERSION,
    since: datetime | None = None,
) -> MenuReport:
    """Per button of the live menu: clicks (oa.menu_click by key), members who clicked, and
    how many of them did `event` after their first click."""
    oa = official_account(session, workspace_id, appid)
    menu = repository.live_menu(session, oa.id)
    if menu is None:
        return MenuReport(appid=appid, version=None, conversion_event=event, rows=[])
    buttons = [(where, b, menu_rules.click_key(b)) for where, b in menu_rules.walk(menu.published)]
    per_key = repository.menu_click_counts(
        session,
        identity.events_table(),
        workspace_id,
        oa.id,
        [k for _, _, k in buttons if k],
        event=event,
        since=since,
    )
    rows = []
    for where, button, key in buttons:
        hit = per_key.get(key) if key else None
        rows.append(
            MenuButtonReportRow(
                button=where,
                name=str(button.get("name", "")),
                type=str(button.get("type", "")),
                key=menu_rules.button_key(button, where),
                clicks=int(hit.events) if hit else 0,
                members=int(hit.members) if hit else 0,
                conversions=int(hit.converted or 0) if hit else 0,
            )
        )
    return MenuReport(appid=appid, version=menu.version, conversion_event=event, rows=rows)


def article_report(
    session: Session, workspace_id: int, *, event: str = DEFAULT_CONVERSION
) -> list[ArticleReportRow]:
    """Per article: opens from the Mini Program, members who opened it, and how many of them
    did `event` after their first open."""
    per_article = repository.article_open_counts(
        session, identity.events_table(), workspace_id, event=event
    )
    rows = []
    for article in list_articles(session, workspace_id):
        hit = per_article.get(article.id)
        rows.append(
            ArticleReportRow(
                article_id=article.id,
                title=article.title,
                opens=int(hit.events) if hit else 0,
                members=int(hit.members) if hit else 0,
                conversions=int(hit.converted or 0) if hit else 0,
            )
        )
    return rows


def follow_conversion(
    session: Session,
    workspace_id: int,
    *,
    since: datetime | None = None,
    until: datetime | None = None,
) -> list[FollowConversion]:
    """Per linked MP → OA pair: members active in the MP in the period, and how many of them
    followed the OA at or after their first MP visit of the period."""
    answer = []
    for link in list_associations(session, workspace_id):
        if link.status != LinkStatus.linked:
            continue
        mp = workspaces.get_app_by_appid(session, link.mp_appid, workspace_id)
        oa = workspaces.get_app_by_appid(session, link.oa_appid, workspace_id)
        members, followed = repository.follows_after_visits(
            session,
            identity.events_table(),
            workspace_id,
            mp_app_id=mp.id,
            oa_app_id=oa.id,
            activity=MP_ACTIVITY,
            since=since,
            until=until,
        )
        answer.append(
            FollowConversion(
                mp_appid=mp.appid,
                oa_appid=oa.appid,
                mp_members=members,
                followed_after=followed,
                rate=round(followed / members, 4) if members else None,
            )
        )
    return answer
