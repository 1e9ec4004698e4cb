"""Queries over the push inbox."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from functools import cache
from typing import Any

from sqlalchemy import select, tuple_, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session
from sqlalchemy.sql import Executable

from siyu.wechat.models import PushReceipt, PushStatus


def insert_receipts(session: Session, rows: list[dict[str, Any]]) -> dict[tuple[int, str], int]:
    """Insert the pushes whose (app, dedupe key) is not there yet; their ids by that key.

    ON CONFLICT DO NOTHING waits for a concurrent insert of the same key to commit or roll back
    (PostgreSQL; SQLite serializes writers), so of racing deliveries exactly one inserts,
    without the savepoint round trips a caught IntegrityError would cost.
    """
    if not rows:
        return {}
    connection = session.connection()
    result = connection.execute(_insert_statement(connection.dialect.name), rows)
    return {(app_id, key): push_id for push_id, app_id, key in result}


@cache
def _insert_statement(dialect: str) -> Executable:
    # Built once per dialect: this statement runs for every push, on the hot path.
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    return (
        insert(PushReceipt)
        .on_conflict_do_nothing(index_elements=["app_id", "dedupe_key"])
        .returning(PushReceipt.id, PushReceipt.app_id, PushReceipt.dedupe_key)
    )


def find_replies(
    session: Session, keys: Sequence[tuple[int, str]]
) -> dict[tuple[int, str], str | None]:
    """The answers stored with these (app, dedupe key) pushes."""
    if not keys:
        return {}
    rows = session.execute(
        select(PushReceipt.app_id, PushReceipt.dedupe_key, PushReceipt.reply).where(
            tuple_(PushReceipt.app_id, PushReceipt.dedupe_key).in_(keys)
        )
    )
    return {(app_id, key): reply for app_id, key, reply in rows}


def get_for_update(session: Session, push_id: int) -> PushReceipt | None:
    """The push, locked until commit, so that two runs of its job cannot both process it."""
    return session.scalars(
        select(PushReceipt).where(PushReceipt.id == push_id).with_for_update()
    ).first()


def mark_failed(session: Session, push_id: int) -> None:
    session.execute(
        update(PushReceipt)
        .where(PushReceipt.id == push_id, PushReceipt.status == PushStatus.received)
        .values(status=PushStatus.failed)
    )


def stale_receipts(session: Session, before: datetime, limit: int) -> Sequence[int]:
    """Pushes accepted before `before` and still waiting for their job."""
    return session.scalars(
        select(PushReceipt.id)
        .where(PushReceipt.status == PushStatus.received, PushReceipt.received_at < before)
        .order_by(PushReceipt.id)
        .limit(limit)
    ).all()
