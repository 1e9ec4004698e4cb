"""Count the SQL statements a block sends, to pin the query count of a hot path (Saleor's
`django_assert_num_queries`): a change that adds a query per row fails its test."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Engine

# Transaction control differs by backend (SQLite's explicit BEGIN IMMEDIATE): not counted.
_CONTROL = ("begin", "commit", "rollback", "savepoint", "release")


@dataclass
class Statements:
    """The statements sent while the block ran, in order; `count` leaves out transaction
    control (BEGIN, COMMIT, SAVEPOINT, ...), which `sql` keeps."""

    sql: list[str] = field(default_factory=list)

    @property
    def count(self) -> int:
        return sum(1 for s in self.sql if not s.lstrip().lower().startswith(_CONTROL))

    def matching(self, prefix: str) -> list[str]:
        """The statements that start with `prefix` (case-insensitive), e.g. "INSERT INTO events"."""
        wanted = prefix.lower()
        return [s for s in self.sql if s.lstrip().lower().startswith(wanted)]

    def __str__(self) -> str:
        return "\n".join(f"{i + 1:3d}. {' '.join(s.split())[:200]}" for i, s in enumerate(self.sql))


@contextmanager
def count_queries(engine: Engine) -> Iterator[Statements]:
    """`with count_queries(db.engine) as sent: ...` then `assert sent.count == 3, str(sent)`."""
    sent = Statements()

    def record(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        sent.sql.append(statement)

    event.listen(engine, "before_cursor_execute", record)
    try:
        yield sent
    finally:
        event.remove(engine, "before_cursor_execute", record)
