"""Queries over operators, sessions, tokens, sign-in failures, the audit log and key rotations
(the encrypted columns of every table, found in the model registry)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import (
    Column,
    Table,
    Text,
    bindparam,
    delete,
    func,
    not_,
    select,
    table,
    text,
    update,
)
from sqlalchemy import column as sql_column
from sqlalchemy.orm import Session

from siyu.core.crypto import EncryptedText
from siyu.core.db import Base
from siyu.security.models import (
    ApiToken,
    AuditEntry,
    KeyRotation,
    LoginFailure,
    Operator,
    OperatorSession,
)


def add(session: Session, row: Base) -> None:
    session.add(row)
    session.flush()


def get_operator(session: Session, operator_id: int) -> Operator | None:
    return session.get(Operator, operator_id)


def get_operator_by_email(session: Session, email: str) -> Operator | None:
    return session.scalars(select(Operator).where(Operator.email == email)).first()


def count_operators(session: Session) -> int:
    return int(session.scalar(select(func.count()).select_from(Operator)) or 0)


def get_session_by_hash(session: Session, token_hash: str) -> OperatorSession | None:
    return session.scalars(
        select(OperatorSession).where(OperatorSession.token_hash == token_hash)
    ).first()


def end_sessions(
    session: Session, operator_id: int, at: datetime, *, keep: int | None = None
) -> int:
    """End the operator's open sessions (but `keep`, the one asking); how many ended."""
    query = update(OperatorSession).where(
        OperatorSession.operator_id == operator_id, OperatorSession.ended_at.is_(None)
    )
    if keep is not None:
        query = query.where(OperatorSession.id != keep)
    result = session.execute(query.values(ended_at=at))
    return int(getattr(result, "rowcount", 0) or 0)


def get_token_by_hash(session: Session, token_hash: str) -> ApiToken | None:
    return session.scalars(select(ApiToken).where(ApiToken.token_hash == token_hash)).first()


def list_tokens(
    session: Session, workspace_id: int, *, operator_id: int | None = None
) -> list[tuple[ApiToken, str]]:
    """The workspace's tokens (or one operator's), newest first, with their holder's email."""
    query = (
        select(ApiToken, Operator.email)
        .join(Operator, Operator.id == ApiToken.operator_id)
        .where(Operator.workspace_id == workspace_id)
        .order_by(ApiToken.id.desc())
    )
    if operator_id is not None:
        query = query.where(ApiToken.operator_id == operator_id)
    return [(token, email) for token, email in session.execute(query)]


def get_token_in_workspace(
    session: Session, workspace_id: int, token_id: int
) -> tuple[ApiToken, str] | None:
    row = session.execute(
        select(ApiToken, Operator.email)
        .join(Operator, Operator.id == ApiToken.operator_id)
        .where(ApiToken.id == token_id, Operator.workspace_id == workspace_id)
    ).first()
    return None if row is None else (row[0], row[1])


def list_operators(session: Session, workspace_id: int) -> Sequence[Operator]:
    return session.scalars(
        select(Operator).where(Operator.workspace_id == workspace_id).order_by(Operator.id)
    ).all()


def revoke_tokens(session: Session, operator_id: int, at: datetime) -> int:
    result = session.execute(
        update(ApiToken)
        .where(ApiToken.operator_id == operator_id, ApiToken.revoked_at.is_(None))
        .values(revoked_at=at)
    )
    return int(getattr(result, "rowcount", 0) or 0)


# --- sign-in failures ----------------------------------------------------------------------


def failures_since(session: Session, key: str, since: datetime) -> list[datetime]:
    return list(
        session.scalars(
            select(LoginFailure.at)
            .where(LoginFailure.key == key, LoginFailure.at > since)
            .order_by(LoginFailure.at)
        )
    )


def clear_failures(session: Session, key: str) -> None:
    session.execute(delete(LoginFailure).where(LoginFailure.key == key))


def prune_failures(session: Session, before: datetime) -> None:
    session.execute(delete(LoginFailure).where(LoginFailure.at < before))


# --- audit log -----------------------------------------------------------------------------


def search_audit(
    session: Session,
    workspace_id: int,
    *,
    action: str | None,
    actor: str | None,
    target_type: str | None,
    target_id: str | None,
    since: datetime | None,
    until: datetime | None,
    before_id: int | None,
    limit: int,
) -> Sequence[AuditEntry]:
    # Every filter is a bound parameter: what an operator types never becomes SQL.
    query = select(AuditEntry).where(AuditEntry.workspace_id == workspace_id)
    if action:
        query = query.where(AuditEntry.action == action)
    if actor:
        query = query.where(AuditEntry.actor == actor)
    if target_type:
        query = query.where(AuditEntry.target_type == target_type)
    if target_id:
        query = query.where(AuditEntry.target_id == target_id)
    if since is not None:
        query = query.where(AuditEntry.created_at >= since)
    if until is not None:
        query = query.where(AuditEntry.created_at < until)
    if before_id is not None:
        query = query.where(AuditEntry.id < before_id)
    return session.scalars(query.order_by(AuditEntry.id.desc()).limit(limit)).all()


def audit_actions(session: Session, workspace_id: int) -> list[str]:
    return list(
        session.scalars(
            select(AuditEntry.action)
            .where(AuditEntry.workspace_id == workspace_id)
            .distinct()
            .order_by(AuditEntry.action)
        )
    )


# --- key rotation --------------------------------------------------------------------------


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
    """Every `EncryptedText` column of every mapped table, by name."""
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


def count_not_under(session: Session, col: EncryptedColumn, key_id: str) -> int:
    """How many values of the column are not encrypted under `key_id`."""
    raw = col.raw()
    value = raw.c[col.column]
    current = value.is_not(None) & not_(value.startswith(f"{key_id}$", autoescape=True))
    return int(session.scalar(select(func.count()).select_from(raw).where(current)) or 0)


def count_values(session: Session, col: EncryptedColumn) -> int:
    raw = col.raw()
    return int(
        session.scalar(select(func.count()).select_from(raw).where(raw.c[col.column].is_not(None)))
        or 0
    )


def unfinished_rotation(session: Session) -> KeyRotation | None:
    return session.scalars(
        select(KeyRotation).where(KeyRotation.finished_at.is_(None)).order_by(KeyRotation.id.desc())
    ).first()


def get_rotation_for_update(session: Session, run_id: int) -> KeyRotation | None:
    return session.get(KeyRotation, run_id, with_for_update=True)


def encrypted_batch(
    session: Session, col: EncryptedColumn, after: Any, limit: int
) -> list[tuple[Any, str]]:
    """The next `limit` (primary key, ciphertext) of the column after `after`, by key."""
    raw = col.raw()
    pk, value = raw.c[col.pk], raw.c[col.column]
    query = select(pk, value).where(value.is_not(None))
    if after is not None:
        query = query.where(pk > after)
    return [(key, stored) for key, stored in session.execute(query.order_by(pk).limit(limit))]


def swap_values(session: Session, col: EncryptedColumn, updates: list[dict[str, Any]]) -> None:
    """Replace each value that is still the one read (compare and swap): `updates` holds
    `b_pk`, `b_old` and `b_new` of each row."""
    raw = col.raw()
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
