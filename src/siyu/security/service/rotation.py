"""Re-encryption of every encrypted column under the current data key, in resumable batches.

The columns are found in the model registry (every `EncryptedText` column of every table), so
a table added later is rotated without being named here. Each batch is one transaction that
rewrites up to `batch` values and records how far it got; an interrupted run resumes from there.
A value is replaced only if it is still the one read (compare and swap), so a write by the
application during the rotation is never overwritten with older data.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.orm import Session

from siyu.core import clock
from siyu.core.crypto import FieldCipher, cipher
from siyu.security import errors, repository
from siyu.security.models import KeyRotation
from siyu.security.repository import EncryptedColumn
from siyu.security.schemas import RotationRead
from siyu.security.service.audit import record_audit

DEFAULT_BATCH = 1000


def encrypted_columns() -> list[EncryptedColumn]:
    """Every encrypted column of every table, by name ("table.column")."""
    return repository.encrypted_columns()


def rotation_pending(session: Session, key_id: str | None = None) -> dict[str, int]:
    """Per encrypted column, how many values are not under `key_id` (the current key)."""
    key_id = key_id or cipher().current
    return {
        col.name: repository.count_not_under(session, col, key_id) for col in encrypted_columns()
    }


def rotation_totals(session: Session) -> dict[str, int]:
    """Per encrypted column, how many values it holds (the progress bar's total)."""
    return {col.name: repository.count_values(session, col) for col in encrypted_columns()}


def unfinished_rotation(session: Session) -> RotationRead | None:
    run = repository.unfinished_rotation(session)
    return RotationRead.model_validate(run) if run is not None else None


def start_rotation(session: Session, actor: str) -> RotationRead:
    """The run re-encrypting under the current key: the unfinished one if it targets this key
    (resume), else a new one (an unfinished run for an older key is closed: a new pass over
    every column is needed anyway)."""
    key_id = cipher().current
    run = repository.unfinished_rotation(session)
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
    repository.add(session, run)
    record_audit(session, actor, "keys.rotation_started", target_type="key", target_id=key_id)
    return RotationRead.model_validate(run)


@dataclass(frozen=True)
class BatchResult:
    column: str | None  # None when the run is over
    seen: int
    rewritten: int


def rotation_step(session: Session, run_id: int, batch: int = DEFAULT_BATCH) -> BatchResult:
    """Re-encrypt the next batch of the run; commit after each call (the entrypoint's job)."""
    run = repository.get_rotation_for_update(session, run_id)
    if run is None or run.finished_at is not None:
        raise errors.ROTATION_OVER("this rotation run is over")
    keys: FieldCipher = cipher()
    if run.key_id != keys.current:
        raise errors.ROTATION_KEY_CHANGED(
            f"the current data key is {keys.current}, this run targets {run.key_id}",
            current=keys.current,
            target=run.key_id,
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
    rows = repository.encrypted_batch(session, col, run.cursors.get(col.name), batch)
    updates = []
    for key, stored in rows:
        if FieldCipher.key_id_of(stored) == keys.current:
            continue
        plain = keys.decrypt(stored, col.context)
        updates.append({"b_pk": key, "b_old": stored, "b_new": keys.encrypt(plain, col.context)})
    if updates:
        repository.swap_values(session, col, updates)
    if rows:
        run.cursors = {**run.cursors, col.name: rows[-1][0]}
    if len(rows) < batch:
        run.done = [*run.done, col.name]
    run.rows_seen += len(rows)
    run.rows_rewritten += len(updates)
    session.flush()
    return BatchResult(col.name, len(rows), len(updates))
