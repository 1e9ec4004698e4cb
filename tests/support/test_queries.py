"""The statement counter counts what is sent, on both backends."""

from __future__ import annotations

from sqlalchemy import text

from siyu.core.db import Database
from tests.support.queries import count_queries


def test_it_counts_each_statement_sent_and_stops_counting_after(db: Database) -> None:
    # given a block that sends two statements
    with count_queries(db.engine) as sent, db.engine.connect() as conn:
        conn.execute(text("SELECT 1"))
        conn.execute(text("SELECT 2"))
    # when another statement is sent after the block
    with db.engine.connect() as conn:
        conn.execute(text("SELECT 3"))
    # then only the two inside were counted
    assert sent.count == 2, str(sent)
    assert sent.matching("select") == ["SELECT 1", "SELECT 2"]
