"""Analytics's queries on the primary database: the timeline read for the store (identity's
table, read-only, as `identity.service.events_table` offers it) and the refresh list."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import String, cast, delete, func, or_, select
from sqlalchemy.orm import Session

from siyu.analytics.models import StoreRefresh
from siyu.identity import service as identity


def _event_columns() -> list[Any]:
    events = identity.events_table()
    c = events.c
    # props as text: the store keeps the JSON as it is, so decoding it here would be waste.
    return [
        c.id,
        c.workspace_id,
        c.member_id,
        c.origin_member_id,
        c.app_id,
        c.name,
        c.ts,
        c.channel,
        cast(c.props, String).label("props"),
    ]


def list_events_after(session: Session, after_id: int, limit: int) -> Sequence[Any]:
    c = identity.events_table().c
    query = select(*_event_columns()).where(c.id > after_id).order_by(c.id).limit(limit)
    return session.execute(query).all()


def copy_events_after(session: Session, after_id: int, limit: int) -> bytes:
    """PostgreSQL only: the next events after `after_id` as CSV (COPY TO STDOUT), in the
    store's columns but app_kind (ts as UTC without a zone): read in bulk, no row objects."""
    c = identity.events_table().c
    query = (
        select(
            c.id,
            c.workspace_id,
            c.member_id,
            c.origin_member_id,
            c.app_id,
            c.name,
            func.timezone("UTC", c.ts),
            c.channel,
            cast(c.props, String),
        )
        .where(c.id > int(after_id))
        .order_by(c.id)
        .limit(int(limit))
    )
    # COPY takes no parameters: the statement's only values are the two ints above.
    sql = str(query.compile(session.get_bind(), compile_kwargs={"literal_binds": True}))
    driver: Any = session.connection().connection.driver_connection
    out = bytearray()
    with driver.cursor() as cursor, cursor.copy(f"COPY ({sql}) TO STDOUT (FORMAT csv)") as copy:
        for chunk in copy:
            out += chunk
    return bytes(out)


def list_event_ids_between(session: Session, low: int, high: int) -> set[int]:
    c = identity.events_table().c
    query = select(c.id).where(c.id > low, c.id <= high)
    return set(session.scalars(query).all())


def list_events_by_id(session: Session, ids: Sequence[int]) -> Sequence[Any]:
    c = identity.events_table().c
    return session.execute(select(*_event_columns()).where(c.id.in_(list(ids)))).all()


def list_events_of_members(
    session: Session, workspace_id: int, member_ids: Sequence[int], up_to_id: int
) -> Sequence[Any]:
    c = identity.events_table().c
    ids = list(member_ids)
    query = select(*_event_columns()).where(
        c.workspace_id == workspace_id,
        or_(c.member_id.in_(ids), c.origin_member_id.in_(ids)),
        c.id <= up_to_id,
    )
    return session.execute(query).all()


def add_refreshes(
    session: Session, workspace_id: int, member_ids: Sequence[int], *, erase: bool, at: datetime
) -> None:
    session.add_all(
        StoreRefresh(workspace_id=workspace_id, member_id=m, erase=erase, created_at=at)
        for m in member_ids
    )
    session.flush()


def list_refreshes(session: Session, limit: int) -> Sequence[StoreRefresh]:
    return session.scalars(select(StoreRefresh).order_by(StoreRefresh.id).limit(limit)).all()


def delete_refreshes(session: Session, ids: Sequence[int]) -> None:
    if ids:
        session.execute(delete(StoreRefresh).where(StoreRefresh.id.in_(list(ids))))
