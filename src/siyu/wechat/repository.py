"""Queries over the push inbox and the Mini Program sessions."""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence
from datetime import datetime
from functools import cache
from typing import Any

import orjson
from sqlalchemy import (
    ColumnElement,
    Connection,
    Dialect,
    Row,
    Text,
    any_,
    bindparam,
    case,
    cast,
    column,
    delete,
    func,
    select,
    tuple_,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session
from sqlalchemy.sql import Executable

from siyu.wechat.models import MpSession, PushReceipt, PushStatus, UnionidFetch


def insert_receipts(
    connection: Connection, rows: list[dict[str, Any]]
) -> dict[tuple[int, str], int]:
    """Insert the pushes whose (app, dedupe key) and (app, signed timestamp, nonce) are not
    there yet; their ids by the former. A row that conflicts on either is skipped.

    ON CONFLICT DO NOTHING waits for a concurrent insert of the same key to commit or roll back
    (PostgreSQL; SQLite serializes writers), so of racing deliveries exactly one inserts,
    without the savepoint round trips a caught IntegrityError would cost. The rows go in
    their order: give every writer the same one, and two overlapping batches cannot deadlock.
    """
    if not rows:
        return {}
    if connection.dialect.name == "postgresql":
        result = connection.execute(_insert_from_json(), {"rows": _json_rows(connection, rows)})
    else:
        result = connection.execute(_insert_statement(), rows)
    return {(app_id, key): push_id for push_id, app_id, key in result}


RECEIPT_COLUMNS = (
    "app_id",
    "dedupe_key",
    "msg_type",
    "event",
    "openid",
    "create_time",
    "payload",
    "reply",
    "status",
    "received_at",
    "signed_at",
    "nonce",
)


@cache
def _insert_statement() -> Executable:
    # Built once: this statement runs for every batch of pushes, on the hot path.
    return (
        sqlite.insert(PushReceipt)
        .on_conflict_do_nothing()
        .returning(PushReceipt.id, PushReceipt.app_id, PushReceipt.dedupe_key)
    )


@cache
def _insert_from_json() -> Executable:
    """PostgreSQL: the batch as one JSON parameter, so that the statement's text is the same
    for any number of rows. The driver then parses it once and the server prepares it once;
    a multi-row VALUES list with ten parameters a row was parsed again for every batch, which
    cost the writer half its time."""
    table = PushReceipt.__table__
    rows = (
        func.json_to_recordset(cast(bindparam("rows", type_=Text), postgresql.JSON))
        .table_valued(*[column(name, table.c[name].type) for name in RECEIPT_COLUMNS])
        .render_derived(with_types=True)
    )
    return (
        postgresql.insert(PushReceipt)
        .from_select(RECEIPT_COLUMNS, select(*[rows.c[name] for name in RECEIPT_COLUMNS]))
        .on_conflict_do_nothing()
        .returning(PushReceipt.id, PushReceipt.app_id, PushReceipt.dedupe_key)
    )


def _json_rows(connection: Connection, rows: list[dict[str, Any]]) -> str:
    # The columns' own bind processing (payload and reply encrypted, times in UTC) still
    # applies: it is what a bound parameter of each column would have gone through.
    processors = _bind_processors(connection.dialect)
    return orjson.dumps(
        [{name: process(row[name]) for name, process in processors} for row in rows]
    ).decode()


@cache
def _bind_processors(dialect: Dialect) -> tuple[tuple[str, Callable[[Any], Any]], ...]:
    table = PushReceipt.__table__
    return tuple(
        (name, table.c[name].type.bind_processor(dialect) or _as_is) for name in RECEIPT_COLUMNS
    )


def _as_is(value: Any) -> Any:
    return value


def find_replies(
    connection: Connection, keys: Sequence[tuple[int, str]]
) -> dict[tuple[int, str], str | None]:
    """The answers stored with these (app, dedupe key) pushes."""
    if not keys:
        return {}
    rows = connection.execute(
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


def mark_failed(
    session: Session, push_id: int, error: str | None = None, at: datetime | None = None
) -> bool:
    """Set a waiting push aside (status failed) with why; False if it was not waiting."""
    result = session.execute(
        update(PushReceipt)
        .where(PushReceipt.id == push_id, PushReceipt.status == PushStatus.received)
        .values(status=PushStatus.failed, error=error and error[:1000], failed_at=at)
    )
    return bool(getattr(result, "rowcount", 0))


def requeue_failed(session: Session, push_ids: Sequence[int]) -> list[int]:
    """Put set-aside pushes back to waiting; the ids that were set aside (a second click on
    the same button finds none)."""
    if not push_ids:
        return []
    rows = session.execute(
        update(PushReceipt)
        .where(PushReceipt.id.in_(push_ids), PushReceipt.status == PushStatus.failed)
        .values(status=PushStatus.received, error=None, failed_at=None)
        .returning(PushReceipt.id)
    )
    return sorted(rows.scalars())


def list_failed_pushes(
    session: Session, app_ids: Sequence[int], limit: int
) -> Sequence[PushReceipt]:
    """The pushes set aside in these apps, newest first."""
    return session.scalars(
        select(PushReceipt)
        .where(PushReceipt.app_id.in_(app_ids), PushReceipt.status == PushStatus.failed)
        .order_by(PushReceipt.id.desc())
        .limit(limit)
    ).all()


def count_failed_pushes(session: Session, app_ids: Sequence[int]) -> int:
    return int(
        session.scalar(
            select(func.count())
            .select_from(PushReceipt)
            .where(PushReceipt.app_id.in_(app_ids), PushReceipt.status == PushStatus.failed)
        )
        or 0
    )


def oldest_waiting_push(session: Session) -> datetime | None:
    """When the push waiting longest was accepted (the partial index's first entry)."""
    return session.scalar(
        select(func.min(PushReceipt.received_at)).where(PushReceipt.status == PushStatus.received)
    )


def count_waiting_pushes(session: Session) -> int:
    return int(
        session.scalar(
            select(func.count())
            .select_from(PushReceipt)
            .where(PushReceipt.status == PushStatus.received)
        )
        or 0
    )


def count_processed_since(session: Session, since: datetime) -> int:
    """Pushes processed since `since` (for throughput over the last minutes)."""
    return int(
        session.scalar(
            select(func.count())
            .select_from(PushReceipt)
            .where(PushReceipt.status == PushStatus.processed, PushReceipt.processed_at >= since)
        )
        or 0
    )


# --- UnionID fetches WeChat did not answer -------------------------------------------------


def get_unionid_fetch(session: Session, app_id: int, openid: str) -> UnionidFetch | None:
    return session.scalars(
        select(UnionidFetch)
        .where(UnionidFetch.app_id == app_id, UnionidFetch.openid == openid)
        .with_for_update()
    ).first()


def add_unionid_fetch(session: Session, fetch: UnionidFetch) -> None:
    session.add(fetch)
    session.flush()


def delete_unionid_fetch(session: Session, app_id: int, openid: str) -> None:
    session.execute(
        delete(UnionidFetch).where(UnionidFetch.app_id == app_id, UnionidFetch.openid == openid)
    )


def claim_due_unionid_fetches(
    session: Session, now: datetime, lease_until: datetime, limit: int
) -> list[tuple[int, str]]:
    """The fetches due by `now`, pushed to `lease_until` so that another sweep (another
    worker) does not enqueue them too; locked rows another sweep holds are skipped."""
    rows = session.scalars(
        select(UnionidFetch)
        .where(UnionidFetch.next_attempt_at <= now)
        .order_by(UnionidFetch.next_attempt_at, UnionidFetch.id)
        .limit(limit)
        .with_for_update(skip_locked=True)
    ).all()
    for row in rows:
        row.next_attempt_at = lease_until
    session.flush()
    return [(row.app_id, row.openid) for row in rows]


def list_unionid_fetches(
    session: Session, app_ids: Sequence[int], limit: int
) -> Sequence[UnionidFetch]:
    """Fetches not answered yet in these apps: given up first, then by when they failed."""
    return session.scalars(
        select(UnionidFetch)
        .where(UnionidFetch.app_id.in_(app_ids))
        .order_by(UnionidFetch.next_attempt_at.is_not(None), UnionidFetch.failed_at.desc())
        .limit(limit)
    ).all()


def get_unionid_fetch_by_id(session: Session, fetch_id: int) -> UnionidFetch | None:
    return session.scalars(
        select(UnionidFetch).where(UnionidFetch.id == fetch_id).with_for_update()
    ).first()


def claim_receipts(
    session: Session,
    *,
    ids: Sequence[int] | None = None,
    limit: int,
    skip: Collection[int] = (),
) -> list[Row[int, int, str, datetime]]:
    """Waiting pushes (id, app_id, payload, received_at), locked until commit: these `ids`, or
    else the oldest waiting ones (but `skip`), at most `limit`.

    On PostgreSQL rows another transaction holds are passed over (SKIP LOCKED): two workers
    never take the same push, nor wait for each other's. SQLite has one writer at a time.
    """
    query = select(
        PushReceipt.id, PushReceipt.app_id, PushReceipt.payload, PushReceipt.received_at
    ).where(PushReceipt.status == PushStatus.received)
    if ids is not None:
        query = query.where(_among(session, PushReceipt.id, ids)).order_by(PushReceipt.id)
    else:
        # The partial index of waiting pushes, walked in its order: oldest first.
        query = query.order_by(PushReceipt.received_at)
    if skip:
        query = query.where(~_among(session, PushReceipt.id, sorted(skip)))
    return list(session.execute(query.limit(limit).with_for_update(skip_locked=True)))


def _among(session: Session, column: Any, values: Sequence[Any]) -> ColumnElement[bool]:
    """`column IN values`; on PostgreSQL `= ANY(array)`: one parameter however many values, so
    that psycopg prepares the statement once (it parses one of more than 50 parameters afresh
    on every call) and SQLAlchemy caches one compiled form for every batch size."""
    if session.get_bind().dialect.name == "postgresql":
        array = bindparam(None, list(values), type_=postgresql.ARRAY(column.type))
        return column == any_(array)  # type: ignore[no-any-return]
    return column.in_(list(values))  # type: ignore[no-any-return]


def mark_processed(session: Session, members: dict[int, int | None], at: datetime) -> None:
    """The pushes processed, each with its sender's member: one statement for a batch."""
    if not members:
        return
    if session.get_bind().dialect.name == "postgresql":
        # Two arrays (ids, members) whatever the batch's size: one statement text, prepared.
        batch = (
            func.unnest(
                bindparam(None, list(members), type_=postgresql.ARRAY(PushReceipt.id.type)),
                bindparam(
                    None, list(members.values()), type_=postgresql.ARRAY(PushReceipt.member_id.type)
                ),
            )
            .table_valued("id", "member_id")
            .render_derived(name="batch")
        )
        session.execute(
            update(PushReceipt)
            .where(PushReceipt.id == batch.c.id)
            .values(member_id=batch.c.member_id, status=PushStatus.processed, processed_at=at)
            .execution_options(synchronize_session=False)
        )
        return
    session.execute(
        update(PushReceipt)
        .where(PushReceipt.id.in_(list(members)))
        .values(
            # Cast: a batch of senders that are no members (all NULL) has no type otherwise.
            member_id=cast(
                case(members, value=PushReceipt.id, else_=None), PushReceipt.member_id.type
            ),
            status=PushStatus.processed,
            processed_at=at,
        )
        .execution_options(synchronize_session=False)
    )


def waiting_since(session: Session, before: datetime) -> int:
    """How many pushes accepted before `before` still wait to be processed."""
    return int(
        session.scalar(
            select(func.count())
            .select_from(PushReceipt)
            .where(PushReceipt.status == PushStatus.received, PushReceipt.received_at < before)
        )
        or 0
    )


def find_mp_session(session: Session, app_id: int, token_hash: str) -> MpSession | None:
    """The Mini Program session whose token hashes to `token_hash`, in this app."""
    return session.scalars(
        select(MpSession).where(MpSession.token_hash == token_hash, MpSession.app_id == app_id)
    ).one_or_none()
