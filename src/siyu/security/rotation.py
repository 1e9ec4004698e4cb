"""Re-encryption of every encrypted column under the current data key, in resumable batches.

The columns are found in the model registry (every `EncryptedText` column of every table), so
a table added later is rotated without being named here. Each batch is one transaction that
rewrites up to `batch` values and records how far it got; an interrupted run resumes from there.
A value is replaced only if it is still the one read (compare and swap), so a write by the
application during the rotation is never overwritten with older data.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    Column,
    Table,
    Text,
    bindparam,
    func,
    not_,
    select,
    table,
    text,
    update,
)
from sqlalchemy import column as sql_column
from sqlalchemy.orm import Session

from siyu.core import clock
from siyu.core.crypto import EncryptedText, FieldCipher, cipher
from siyu.core.db import Base
from siyu.core.errors import Conflict
from siyu.security.models import KeyRotation
from siyu.security.schemas import RotationRead
from siyu.security.service import record_audit

DEFAULT_BATCH = 1000


@dataclass(frozen=True)
class EncryptedColumn:
    table: str
    column: str
    pk: str
    pk_type: Any
    context: str

    @property
    def name(self) -> str:
        return f"{self.table}.{self.column}"

    def raw(self) -> Any:
        """The table as stored: the ciphertext as text, no decryption on the way."""
        return table(self.table, sql_column(self.pk, self.pk_type), sql_column(self.column, Text()))


def encrypted_columns() -> list[EncryptedColumn]:
    found: list[EncryptedColumn] = []
    for t in Base.metadata.sorted_tables:
        assert isinstance(t, Table)
        for col in t.columns:
            if isinstance(col.type, EncryptedText):
                pk_cols: list[Column[Any]] = list(t.primary_key.columns)
                if len(pk_cols) != 1:
                    raise RuntimeError(f"{t.name} needs a single-column primary key to rotate")
                pk = pk_cols[0]
                found.append(EncryptedColumn(t.name, col.name, pk.name, pk.type, col.type.context))
    return sorted(found, key=lambda c: c.name)


def _not_current(raw: Any, col: EncryptedColumn, key_id: str) -> Any:
    value = raw.c[col.column]
    return value.is_not(None) & not_(value.startswith(f"{key_id}$", autoescape=True))


def pending(session: Session, key_id: str | None = None) -> dict[str, int]:
    """Per encrypted column, how many values are not under `key_id` (the current key)."""
    key_id = key_id or cipher().current
    counts: dict[str, int] = {}
    for col in encrypted_columns():
        raw = col.raw()
        counts[col.name] = int(
            session.scalar(
                select(func.count()).select_from(raw).where(_not_current(raw, col, key_id))
            )
            or 0
        )
    return counts


def totals(session: Session) -> dict[str, int]:
    """Per encrypted column, how many values it holds (the progress bar's total)."""
    counts: dict[str, int] = {}
    for col in encrypted_columns():
        raw = col.raw()
        counts[col.name] = int(
            session.scalar(
                select(func.count()).select_from(raw).where(raw.c[col.column].is_not(None))
            )
            or 0
        )
    return counts


def unfinished(session: Session) -> KeyRotation | None:
    return session.scalars(
        select(KeyRotation).where(KeyRotation.finished_at.is_(None)).order_by(KeyRotation.id.desc())
    ).first()


def start(session: Session, actor: str) -> RotationRead:
    """The run re-encrypting under the current key: the unfinished one if it targets this key
    (resume), else a new one (an unfinished run for an older key is closed: a new pass over
    every column is needed anyway)."""
    key_id = cipher().current
    run = unfinished(session)
    if run is not None and run.key_id == key_id:
        return RotationRead.model_validate(run)
    if run is not None:
        run.finished_at = clock.now()
    run = KeyRotation(
        key_id=key_id,
        cursors={},
        done=[],
        rows_seen=0,
        rows_rewritten=0,
        started_by=actor[:100],
        started_at=clock.now(),
    )
    session.add(run)
    session.flush()
    record_audit(session, actor, "keys.rotation_started", target_type="key", target_id=key_id)
    return RotationRead.model_validate(run)


def _swap(session: Session, raw: Any, col: EncryptedColumn, updates: list[dict[str, Any]]) -> None:
    """Replace each value that is still the one read (compare and swap)."""
    pk, value = raw.c[col.pk], raw.c[col.column]
    bind = session.get_bind()
    if bind.dialect.name == "postgresql":
        # One statement per batch, the batch as three arrays: a VALUES list of a thousand rows
        # would cost SQLAlchemy more to compile than the database to run.
        quote = bind.dialect.identifier_preparer.quote
        t, c, k = quote(col.table), quote(col.column), quote(col.pk)
        key_type = col.pk_type.compile(dialect=bind.dialect)
        statement = text(
            f"UPDATE {t} SET {c} = swap.new "  # noqa: S608 - identifiers from the models, quoted
            f"FROM unnest(CAST(:pks AS {key_type}[]), CAST(:olds AS TEXT[]), "
            "CAST(:news AS TEXT[])) AS swap(pk, old, new) "
            f"WHERE {t}.{k} = swap.pk AND {t}.{c} = swap.old"
        )
        session.execute(
            statement,
            {
                "pks": [u["b_pk"] for u in updates],
                "olds": [u["b_old"] for u in updates],
                "news": [u["b_new"] for u in updates],
            },
        )
        return
    session.execute(
        update(raw)
        .where(pk == bindparam("b_pk"), value == bindparam("b_old"))
        .values({col.column: bindparam("b_new")}),
        updates,
    )


@dataclass(frozen=True)
class BatchResult:
    column: str | None  # None when the run is over
    seen: int
    rewritten: int


def step(session: Session, run_id: int, batch: int = DEFAULT_BATCH) -> BatchResult:
    """Re-encrypt the next batch of the run; commit after each call (the entrypoint's job)."""
    run = session.get(KeyRotation, run_id, with_for_update=True)
    if run is None or run.finished_at is not None:
        raise Conflict("security.rotation_over", "this rotation run is over")
    keys: FieldCipher = cipher()
    if run.key_id != keys.current:
        raise Conflict(
            "security.rotation_key_changed",
            f"the current data key is {keys.current}, this run targets {run.key_id}",
        )
    todo = [c for c in encrypted_columns() if c.name not in run.done]
    if not todo:
        run.finished_at = clock.now()
        session.flush()
        record_audit(
            session,
            run.started_by,
            "keys.rotation_finished",
            target_type="key",
            target_id=run.key_id,
            detail={"rows_rewritten": run.rows_rewritten},
        )
        return BatchResult(None, 0, 0)
    col = todo[0]
    raw = col.raw()
    pk, value = raw.c[col.pk], raw.c[col.column]
    query = select(pk, value).where(value.is_not(None))
    cursor = run.cursors.get(col.name)
    if cursor is not None:
        query = query.where(pk > cursor)
    rows = session.execute(query.order_by(pk).limit(batch)).all()
    updates = []
    for key, stored in rows:
        if FieldCipher.key_id_of(stored) == keys.current:
            continue
        plain = keys.decrypt(stored, col.context)
        updates.append({"b_pk": key, "b_old": stored, "b_new": keys.encrypt(plain, col.context)})
    if updates:
        _swap(session, raw, col, updates)
    if rows:
        run.cursors = {**run.cursors, col.name: rows[-1][0]}
    if len(rows) < batch:
        run.done = [*run.done, col.name]
    run.rows_seen += len(rows)
    run.rows_rewritten += len(updates)
    session.flush()
    return BatchResult(col.name, len(rows), len(updates))
