"""Bulk writes: binary COPY on PostgreSQL, executemany on SQLite, and a pipelined event writer."""

from __future__ import annotations

import io
import queue
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, cast

import orjson
from psycopg import postgres
from psycopg.abc import Buffer
from psycopg.adapt import Dumper
from psycopg.copy import Copy, FileWriter
from psycopg.pq import Format
from sqlalchemy import JSON, Connection, Dialect, FromClause, event
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session, SessionTransaction
from sqlalchemy.types import TypeEngine

from siyu.core.db import Database, UTCDateTime, within_transaction
from siyu.core.logging import get_logger

_PENDING = "siyu.identity.pending_event_writes"
WRITE_ATTEMPTS = 3  # sends of a write whose connection was lost before its COMMIT
_log = get_logger(__name__)


def insert_rows(
    connection: Connection, table: FromClause, columns: Sequence[str], rows: list[tuple[Any, ...]]
) -> None:
    """Rows into a table in bulk (binary COPY on PostgreSQL, executemany on SQLite), each value
    converted by its column's own bind processor, as an ORM insert would."""
    if not rows:
        return
    if connection.dialect.name == "postgresql":
        _send_copy(
            connection,
            _copy_statement(table, columns),
            copy_payload(connection, table, columns, rows),
        )
        return
    values = _converted_rows(connection.dialect, table, columns, rows)
    names = ", ".join(columns)
    marks = ", ".join("?" for _ in columns)
    driver: Any = connection.connection.driver_connection
    driver.executemany(f"INSERT INTO {table.name} ({names}) VALUES ({marks})", values)  # type: ignore[attr-defined]  # noqa: S608 - our own table and columns


def copy_payload(
    connection: Connection, table: FromClause, columns: Sequence[str], rows: list[tuple[Any, ...]]
) -> bytes:
    """The rows as PostgreSQL's binary COPY data, ready to send on any connection.

    Binary spares the server parsing every number, timestamp and JSON text back from text (a
    third less of its time per row) and us formatting them; psycopg's own formatter writes it,
    here into memory, so that another thread can send it without holding the GIL for long.
    """
    driver: Any = connection.connection.driver_connection
    values = _converted_rows(connection.dialect, table, columns, rows)
    out = io.BytesIO()
    with driver.cursor() as cursor:
        cursor.adapters.register_dumper(None, _JsonbBytes)
        with Copy(cursor, binary=True, writer=FileWriter(out)) as copy:
            copy.set_types(_column_types(driver, table.name, columns))  # type: ignore[attr-defined]
            for row in values:
                copy.write_row(row)
    return out.getvalue()


def _copy_statement(table: FromClause, columns: Sequence[str]) -> str:
    return f"COPY {table.name} ({', '.join(columns)}) FROM STDIN (FORMAT BINARY)"  # type: ignore[attr-defined]


def _send_copy(connection: Connection, statement: str, payload: bytes) -> None:
    driver: Any = connection.connection.driver_connection
    with driver.cursor() as cursor, cursor.copy(statement) as copy:
        copy.write(payload)


def _converted_rows(
    dialect: Dialect, table: FromClause, columns: Sequence[str], rows: list[tuple[Any, ...]]
) -> list[tuple[Any, ...]]:
    process = [_bulk_processor(table.c[name].type, dialect) for name in columns]
    columns_of = list(zip(*rows, strict=True))  # column by column: map() runs in C
    return list(
        zip(
            *(_converted(column, p) for p, column in zip(process, columns_of, strict=True)),
            strict=True,
        )
    )


def _bulk_processor(type_: TypeEngine[Any], dialect: Dialect) -> Callable[[Any], Any]:
    postgresql = dialect.name == "postgresql"
    if isinstance(type_, JSON):
        # jsonb's own bytes for binary COPY, text for SQLite: orjson writes both, faster than
        # the json module either driver would take.
        return _jsonb_binary if postgresql else _json_text
    if postgresql and isinstance(type_, UTCDateTime):
        return _same  # psycopg's binary timestamptz converts any zone, and refuses naive ones
    process = type_.bind_processor(dialect)
    return process if process is not None else _same


def _converted(column: tuple[Any, ...], process: Callable[[Any], Any]) -> Sequence[Any]:
    """A column's values through its bind processor; once for a column of one value (the
    time received, the workspace), which a chunk repeats on every row."""
    if process is _same:
        return column
    first = column[0]
    if all(value is first for value in column):
        return (process(first),) * len(column)
    return list(map(process, column))


_PG_TYPES: dict[tuple[str, str], int] = {}


def _column_types(driver: Any, table: str, columns: Sequence[str]) -> list[int]:
    """The server's type oid of each column, which binary COPY must send exactly (the same
    on every database migrated by us: builtin types only, so they are asked once)."""
    missing = [c for c in columns if (table, c) not in _PG_TYPES]
    if missing:
        found = driver.execute(
            "SELECT attname, atttypid::int FROM pg_attribute"
            " WHERE attrelid = %s::regclass AND attname = ANY(%s)",
            (table, missing),
        ).fetchall()
        _PG_TYPES.update(((table, column), oid) for column, oid in found)
    return [_PG_TYPES[(table, c)] for c in columns]


def _same(value: Any) -> Any:
    return value


def _json_text(value: Any) -> str:
    return orjson.dumps(value).decode()


def _jsonb_binary(value: Any) -> bytes:
    return b"\x01" + orjson.dumps(value)  # jsonb's binary format: version 1, then the text


class _JsonbBytes(Dumper):
    """Sends jsonb values that `_jsonb_binary` already made (COPY looks dumpers up by oid)."""

    format = Format.BINARY
    oid = postgres.types["jsonb"].oid

    def dump(self, obj: Any) -> Buffer:
        return cast(bytes, obj)


# --- the pipelined writer ------------------------------------------------------------------


@dataclass(eq=False)
class _Write:
    """One chunk's rows as COPY data, sent at once and committed when the chunk's
    transaction is."""

    statement: str
    payload: bytes
    transaction: SessionTransaction
    decided: threading.Event = field(default_factory=threading.Event)
    commit: bool = False
    commit_sent: bool = False  # COMMIT went to the server: its outcome is the server's
    done: threading.Event = field(default_factory=threading.Event)

    def decide(self, commit: bool) -> None:
        self.commit = commit
        self.decided.set()


class PipelinedWriter:
    """Writes each chunk's rows on a connection of its own while the caller goes on with the
    next chunk, so that the database server's work overlaps ours (two cores, not one).

    A write is committed right after the transaction that handed it over commits, and rolled
    back if that transaction is: the rows refer to members created in it. `settle()` waits
    until every write handed over so far is committed: call it before anything that may update
    rows already handed over (a merge moves a member's events), or read them.
    """

    def __init__(self, db: Database) -> None:
        if db.dialect != "postgresql":
            raise ValueError("the pipelined writer sends PostgreSQL's COPY")
        self._db = db
        self._writes: queue.Queue[_Write | None] = queue.Queue(maxsize=1)
        self._unsettled: list[_Write] = []
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="siyu-pipelined-writer", daemon=True)
        self._thread.start()

    def accepts(self, session: Session) -> bool:
        """Whether rows of this session's transaction can be handed over: one write a
        transaction, since a second would wait for a commit that waits for it."""
        return not session.info.get(_PENDING)

    def submit(
        self,
        session: Session,
        table: FromClause,
        columns: Sequence[str],
        rows: list[tuple[Any, ...]],
    ) -> None:
        """Hand over rows to be written beside the caller's next work, and committed with the
        session's current transaction. They are formatted here: the thread only sends them."""
        self._raise_failure()
        if not self.accepts(session):
            raise RuntimeError("one pipelined write a transaction")
        transaction = session.get_nested_transaction() or session.get_transaction()
        if transaction is None:
            raise RuntimeError("submit inside the transaction the rows belong to")
        payload = copy_payload(session.connection(), table, columns, rows)
        write = _Write(_copy_statement(table, columns), payload, transaction)
        session.info.setdefault(_PENDING, []).append(write)
        self._unsettled = [w for w in self._unsettled if not w.done.is_set()]
        self._unsettled.append(write)
        self._writes.put(write)

    def settle(self) -> None:
        """Wait until every write handed over so far is committed or rolled back."""
        for write in self._unsettled:
            write.done.wait()
        self._unsettled = []
        self._raise_failure()

    def close(self, *, quietly: bool = False) -> None:
        """Finish the writes handed over, then stop (the last one waits for its commit);
        raise if one failed, unless `quietly` (another error is being raised: then a write
        whose transaction has not ended yet is rolled back rather than waited for)."""
        if quietly:
            for write in self._unsettled:
                if not write.decided.is_set():
                    write.decide(False)
        self._writes.put(None)
        self._thread.join()
        if not quietly:
            self._raise_failure()

    def _raise_failure(self) -> None:
        if self._error is not None:
            raise RuntimeError("writing events failed; the import stops") from self._error

    def _run(self) -> None:
        while (write := self._writes.get()) is not None:
            try:
                if self._error is None:
                    self._write(write)
            except BaseException as exc:
                self._error = exc
            finally:
                write.done.set()

    def _write(self, write: _Write) -> None:
        """Send the write and end it as its chunk's transaction ended. Its connection lost
        before COMMIT was sent (cut while the chunk was still being resolved, say) means the
        rows were not committed: they are sent again on a new connection, or the chunk's
        members and progress, already committed, would stand without its events (a half
        chunk). A COMMIT whose answer was lost is not repeated: it may have been done."""
        for attempt in range(1, WRITE_ATTEMPTS + 1):
            try:
                self._write_once(write)
                return
            except DBAPIError as exc:
                if write.commit_sent or attempt == WRITE_ATTEMPTS:
                    raise
                write.decided.wait()
                if not write.commit:
                    return  # its chunk rolled back: the server dropped the rows already
                _log.warning("import_events_write_retried", attempt=attempt, error=repr(exc))

    def _write_once(self, write: _Write) -> None:
        with self._db.engine.connect() as connection:
            transaction = connection.begin()  # COPY goes to the driver: begin here, not lazily
            _send_copy(connection, write.statement, write.payload)
            write.decided.wait()
            if write.commit:
                # The connection still holds the rows: only the COMMIT's answer can be lost.
                connection.exec_driver_sql("SELECT 1")
                write.commit_sent = True
                transaction.commit()
            else:
                transaction.rollback()


def _settle_ended(session: Session, commit: bool, ended: SessionTransaction | None) -> None:
    pending: list[_Write] = session.info.get(_PENDING, [])
    keep: list[_Write] = []
    for write in pending:
        if ended is None or within_transaction(write.transaction, ended):
            write.decide(commit)
        else:
            keep.append(write)
    session.info[_PENDING] = keep


@event.listens_for(Session, "after_commit")
def _commit_writes(session: Session) -> None:
    if session.info.get(_PENDING):
        _settle_ended(session, True, None)


@event.listens_for(Session, "after_soft_rollback")
def _roll_back_writes(session: Session, previous: SessionTransaction) -> None:
    if session.info.get(_PENDING):
        _settle_ended(session, False, previous)


@event.listens_for(Session, "after_transaction_end")
def _drop_undecided(session: Session, transaction: SessionTransaction) -> None:
    # The outermost transaction ended without a commit (a close, say): its writes go too.
    if transaction.parent is None and session.info.get(_PENDING):
        _settle_ended(session, False, None)
