"""Engines: SQLite in WAL mode with foreign keys enforced; timezone-aware UTC on both backends."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy import select, text
from sqlalchemy.exc import IntegrityError, StatementError

from siyu.core.db import Database
from siyu.workspaces.models import Workspace


def test_sqlite_runs_in_wal_mode_with_foreign_keys(db: Database) -> None:
    if db.dialect != "sqlite":
        assert db.dialect == "postgresql"
        return
    with db.engine.connect() as conn:
        assert conn.execute(text("PRAGMA journal_mode")).scalar() == "wal"
        assert conn.execute(text("PRAGMA foreign_keys")).scalar() == 1


def test_foreign_keys_are_enforced(db: Database) -> None:
    with pytest.raises(IntegrityError), db.engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO entities (workspace_id, name, kind, created_at) "
                "VALUES (424242, 'x', 'enterprise', '2026-01-01')"
            )
        )


def test_datetimes_come_back_aware_in_utc(db: Database) -> None:
    beijing = timezone(timedelta(hours=8))
    with db.session_scope() as session:
        session.add(
            Workspace(
                name="w",
                next_member_number=10001,
                created_at=datetime(2026, 11, 20, 10, 0, tzinfo=beijing),
            )
        )
    with db.session_scope() as session:
        stored = session.scalars(select(Workspace.created_at)).one()
    assert stored == datetime(2026, 11, 20, 2, 0, tzinfo=UTC)
    assert stored.utcoffset() == timedelta(0)


def test_naive_datetimes_are_refused(db: Database) -> None:
    naive = Workspace(name="w", next_member_number=10001, created_at=datetime(2026, 11, 20))
    with db.session_scope() as session:
        session.add(naive)
        with pytest.raises(StatementError, match="naive"):
            session.flush()
        session.rollback()
    with db.session_scope() as session:
        assert session.scalars(select(Workspace)).all() == []
