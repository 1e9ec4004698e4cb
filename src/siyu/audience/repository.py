"""Audience's queries."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import delete, func, insert, select
from sqlalchemy.orm import Session

from siyu.audience.enums import OaTagSource
from siyu.audience.models import OaTagMember, OaTagSync


def get_oa_tag_sync(session: Session, sync_id: int, *, lock: bool = False) -> OaTagSync | None:
    return session.get(OaTagSync, sync_id, with_for_update=lock)


def get_oa_tag_sync_by_source(
    session: Session, app_id: int, kind: OaTagSource, source: str
) -> OaTagSync | None:
    return session.scalar(
        select(OaTagSync).where(
            OaTagSync.app_id == app_id, OaTagSync.source_kind == kind, OaTagSync.source == source
        )
    )


def get_oa_tag_sync_by_name(session: Session, app_id: int, name: str) -> OaTagSync | None:
    return session.scalar(
        select(OaTagSync).where(OaTagSync.app_id == app_id, OaTagSync.oa_tag_name == name)
    )


def list_oa_tag_syncs(
    session: Session, workspace_id: int, app_id: int | None = None
) -> list[OaTagSync]:
    query = select(OaTagSync).where(OaTagSync.workspace_id == workspace_id)
    if app_id is not None:
        query = query.where(OaTagSync.app_id == app_id)
    return list(session.scalars(query.order_by(OaTagSync.id)))


def count_oa_tag_syncs(session: Session, app_id: int) -> int:
    return session.scalar(select(func.count()).where(OaTagSync.app_id == app_id)) or 0


def list_synced(session: Session, sync_id: int) -> dict[int, str]:
    """The last-synced set: member → openid."""
    rows = session.execute(
        select(OaTagMember.member_id, OaTagMember.openid).where(OaTagMember.sync_id == sync_id)
    )
    return {int(member_id): str(openid) for member_id, openid in rows}


def count_synced(session: Session, sync_ids: Iterable[int]) -> dict[int, int]:
    rows = session.execute(
        select(OaTagMember.sync_id, func.count())
        .where(OaTagMember.sync_id.in_(list(sync_ids)))
        .group_by(OaTagMember.sync_id)
    )
    return {int(sync_id): int(count) for sync_id, count in rows}


def add_synced(session: Session, sync_id: int, pairs: Iterable[tuple[int, str]]) -> None:
    """Members confirmed on the tag; by COPY on PostgreSQL (a sync writes them by the
    thousand, and an executemany took six times as long, bench/oa_tags.py)."""
    rows = [(sync_id, m, o) for m, o in pairs]
    if not rows:
        return
    connection = session.connection()
    if connection.dialect.name != "postgresql":
        keys = ("sync_id", "member_id", "openid")
        session.execute(insert(OaTagMember), [dict(zip(keys, row, strict=True)) for row in rows])
        return
    # COPY's text format, built in one join: ids are integers, and an openid is base64url
    # (WeChat's alphabet has no tab, newline or backslash; any is escaped all the same).
    text = "".join(f"{s}\t{m}\t{_copy_text(o)}\n" for s, m, o in rows)
    driver: Any = connection.connection.driver_connection
    statement = "COPY audience_oa_tag_members (sync_id, member_id, openid) FROM STDIN"
    with driver.cursor() as cursor, cursor.copy(statement) as copy:
        copy.write(text.encode("utf-8"))


def _copy_text(value: str) -> str:
    if "\\" in value or "\t" in value or "\n" in value or "\r" in value:
        value = value.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n")
        value = value.replace("\r", "\\r")
    return value


def remove_synced(session: Session, sync_id: int, member_ids: Iterable[int]) -> None:
    ids = list(member_ids)
    for start in range(0, len(ids), 5000):
        session.execute(
            delete(OaTagMember).where(
                OaTagMember.sync_id == sync_id, OaTagMember.member_id.in_(ids[start : start + 5000])
            )
        )
