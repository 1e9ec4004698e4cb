"""Queries over import runs, assignments to sales reps, consents, and erasure: any table of
the model registry, as its policy names the member's rows."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Table,
    bindparam,
    delete,
    inspect,
    or_,
    select,
    update,
)
from sqlalchemy.orm import Session

from siyu.identity.enums import ConsentPurpose
from siyu.identity.models import (
    Consent,
    ErasureRecord,
    ImportRun,
    MemberAssignment,
)
from siyu.identity.repository.members import among


def get_import(session: Session, import_id: int) -> ImportRun | None:
    return session.get(ImportRun, import_id)


def list_imports(session: Session, workspace_id: int, limit: int) -> Sequence[ImportRun]:
    return session.scalars(
        select(ImportRun)
        .where(ImportRun.workspace_id == workspace_id)
        .order_by(ImportRun.id.desc())
        .limit(limit)
    ).all()


def assigned_member_ids(session: Session, operator_id: int) -> list[int]:
    return list(
        session.scalars(
            select(MemberAssignment.member_id).where(MemberAssignment.operator_id == operator_id)
        )
    )


def assignee_of(session: Session, member_id: int) -> int | None:
    return session.scalar(
        select(MemberAssignment.operator_id).where(MemberAssignment.member_id == member_id)
    )


def set_assignment(
    session: Session,
    workspace_id: int,
    member_id: int,
    operator_id: int | None,
    *,
    actor: str,
    at: datetime,
) -> None:
    session.execute(delete(MemberAssignment).where(MemberAssignment.member_id == member_id))
    if operator_id is not None:
        session.add(
            MemberAssignment(
                workspace_id=workspace_id,
                member_id=member_id,
                operator_id=operator_id,
                assigned_by=actor,
                assigned_at=at,
            )
        )
    session.flush()


def active_consent(
    session: Session, member_ids: Sequence[int], purpose: ConsentPurpose
) -> Consent | None:
    return session.scalars(
        select(Consent)
        .where(
            Consent.member_id.in_(list(member_ids)),
            Consent.purpose == purpose,
            Consent.withdrawn_at.is_(None),
        )
        .order_by(Consent.id.desc())
    ).first()


def members_consenting(
    session: Session, member_ids: Sequence[int], purpose: ConsentPurpose
) -> set[int]:
    """Those of these members with an open grant of `purpose`, in one query."""
    if not member_ids:
        return set()
    return set(
        session.scalars(
            select(Consent.member_id).where(
                among(session, Consent.member_id, member_ids),
                Consent.purpose == purpose,
                Consent.withdrawn_at.is_(None),
            )
        )
    )


def withdraw_consents(
    session: Session, member_ids: Sequence[int], purpose: ConsentPurpose, at: datetime, via: str
) -> int:
    result = session.execute(
        update(Consent)
        .where(
            Consent.member_id.in_(list(member_ids)),
            Consent.purpose == purpose,
            Consent.withdrawn_at.is_(None),
        )
        .values(withdrawn_at=at, withdrawn_via=via)
    )
    session.flush()
    return int(getattr(result, "rowcount", 0) or 0)


def list_consents(session: Session, member_ids: Sequence[int]) -> Sequence[Consent]:
    return session.scalars(
        select(Consent).where(Consent.member_id.in_(list(member_ids))).order_by(Consent.id)
    ).all()


def database_tables(session: Session) -> set[str]:
    """The tables the database holds, whether a loaded model maps them or not."""
    return set(inspect(session.connection()).get_table_names())


def rows_of(
    table: Table,
    member_columns: Sequence[str],
    member_ids: list[int],
    wechat_columns: Sequence[str],
    wechat_ids: list[str],
) -> ColumnElement[bool]:
    """The rows of `table` naming one of these members (or one of their WeChat ids)."""
    conditions: list[ColumnElement[bool]] = [table.c[c].in_(member_ids) for c in member_columns]
    if wechat_ids:
        conditions += [table.c[c].in_(wechat_ids) for c in wechat_columns]
    return or_(*conditions)


def delete_rows(session: Session, table: Table, where: ColumnElement[bool]) -> int:
    result = session.execute(delete(table).where(where))
    return int(getattr(result, "rowcount", 0) or 0)


def update_rows(
    session: Session, table: Table, where: ColumnElement[bool], values: dict[str, Any]
) -> int:
    result = session.execute(update(table).where(where).values(**values))
    return int(getattr(result, "rowcount", 0) or 0)


def select_rows(
    session: Session, table: Table, where: ColumnElement[bool], columns: Sequence[str] = ()
) -> list[Any]:
    """The rows matching `where`: whole (as mappings) or these columns (primary key first)."""
    if not columns:
        return list(session.execute(select(table).where(where)).mappings())
    [pk] = table.primary_key.columns
    return list(session.execute(select(pk, *(table.c[k] for k in columns)).where(where)).all())


def update_each(session: Session, table: Table, columns: Sequence[str], params: list[Any]) -> None:
    """Update rows one by one in one executemany: `params` holds `_pk` and `_v_<column>`."""
    [pk] = table.primary_key.columns
    statement = (
        update(table)
        .where(pk == bindparam("_pk"))
        .values({k: bindparam(f"_v_{k}") for k in columns})
    )
    session.execute(statement, params)


def erasure_records(session: Session, workspace_id: int) -> Sequence[ErasureRecord]:
    return session.scalars(
        select(ErasureRecord).where(ErasureRecord.workspace_id == workspace_id)
    ).all()
