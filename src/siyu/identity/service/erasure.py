"""Erasure and export of a member's personal data, table by table, as each model declares.

Nothing here names another domain's tables: the policies come from the model registry
(`__erasure__` on each model, see `siyu.core.privacy`), so a table added later is erased as it
declares, and a database holding a table the registry does not know stops the erasure.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from enum import Enum
from typing import Any

import orjson
from sqlalchemy import ColumnElement, Table
from sqlalchemy.orm import DeclarativeBase, Session

from siyu.core import clock
from siyu.core.crypto import hasher
from siyu.core.db import Base
from siyu.core.events import bus
from siyu.core.logging import request_id
from siyu.core.privacy import Erasure
from siyu.identity import repository
from siyu.identity.models import ErasureRecord
from siyu.identity.schemas import ErasureProof
from siyu.identity.service.domain_events import MemberErased
from siyu.identity.service.members import (
    identity_values_of,
    mark_erased,
    member_family,
    wechat_ids_of,
)
from siyu.security import errors as security_errors
from siyu.security import service as security
from siyu.security.schemas import Principal

# Tables of the tooling, not of siyu's models.
FOREIGN_TABLES = frozenset({"alembic_version"})


@dataclass(frozen=True)
class TablePolicy:
    name: str
    table: Table
    policy: Erasure


def table_policies() -> list[TablePolicy]:
    """Every mapped table with its declared policy (None when it declares none), dependents
    first, so that deletes never trip over a foreign key."""
    declared: dict[str, Erasure | None] = {}
    for mapper in Base.registry.mappers:
        table = mapper.local_table
        if isinstance(table, Table):
            declared[table.name] = mapper.class_.__dict__.get("__erasure__")
    ordered = reversed(Base.metadata.sorted_tables)
    return [
        TablePolicy(str(t.name), t, declared[t.name])  # type: ignore[arg-type]
        for t in ordered
        if t.name in declared
    ]


def undeclared_tables(base: type[DeclarativeBase] = Base) -> list[str]:
    """Mapped tables without an `__erasure__` policy (the registry test fails on any)."""
    names = {t.name for t in base.metadata.sorted_tables}
    declared = {
        mapper.local_table.name
        for mapper in base.registry.mappers
        if isinstance(mapper.local_table, Table)
        and mapper.class_.__dict__.get("__erasure__") is not None
    }
    return sorted(names - declared)


def _check_complete(session: Session) -> list[TablePolicy]:
    missing = undeclared_tables()
    unknown = sorted(
        repository.database_tables(session)
        - {t.name for t in Base.metadata.sorted_tables}
        - FOREIGN_TABLES
    )
    if missing or unknown:
        raise security_errors.ERASURE_INCOMPLETE(
            "some tables have no erasure policy loaded; nothing was erased",
            data={"undeclared": missing, "unknown": unknown},
        )
    return table_policies()


def _match(tp: TablePolicy, member_ids: list[int], wechat_ids: list[str]) -> ColumnElement[bool]:
    policy = tp.policy
    return repository.rows_of(tp.table, policy.member, member_ids, policy.wechat_ids, wechat_ids)


def _anonymize(session: Session, tp: TablePolicy, where: ColumnElement[bool]) -> int:
    table, scrub = tp.table, tp.policy.scrub
    fixed = {k: v for k, v in scrub.items() if not callable(v)}
    computed: dict[str, Callable[[Any], Any]] = {k: v for k, v in scrub.items() if callable(v)}
    if not computed:
        return repository.update_rows(session, table, where, fixed)
    rows = repository.select_rows(session, table, where, list(computed))
    if rows:
        params = [
            {
                "_pk": row[0],
                **{f"_v_{k}": v for k, v in fixed.items()},
                **{f"_v_{k}": fn(row[i + 1]) for i, (k, fn) in enumerate(computed.items())},
            }
            for row in rows
        ]
        repository.update_each(session, table, [*fixed, *computed], params)
    return len(rows)


def _digest(payload: dict[str, Any]) -> str:
    return hashlib.sha256(orjson.dumps(payload, option=orjson.OPT_SORT_KEYS)).hexdigest()


def erase_member(
    session: Session, workspace_id: int, member_id: int, *, actor: str, via: str
) -> ErasureProof:
    """Delete or anonymize the personal data of a member (and of every member merged into it)
    in every table, as each table declares; member and event rows stay, so counts, amounts
    and retention hold. Returns the proof, which keeps ids, counts and keyed hashes only.

    `actor` is "operator:<id>" when staff erase (via "staff"), "mp:member:<id>" when the
    member asks (via "member"); the audit entry names it."""
    policies = _check_complete(session)
    family = member_family(session, workspace_id, member_id)
    values = identity_values_of(session, family)
    wechat_ids = wechat_ids_of(session, family)
    tables: dict[str, Any] = {}
    for tp in policies:
        action = tp.policy.action
        if action not in ("delete", "anonymize") or not tp.policy.matches_members:
            continue
        where = _match(tp, family, wechat_ids)
        if action == "delete":
            rows = repository.delete_rows(session, tp.table, where)
        else:
            rows = _anonymize(session, tp, where)
        tables[tp.name] = {"action": action, "rows": rows}
    mark_erased(session, family)
    bus.publish(session, MemberErased(workspace_id, tuple(family)))
    now = clock.now()
    hashes = sorted({hasher().digest(v, "erasure") for v in values})
    proof = {
        "workspace_id": workspace_id,
        "member_id": family[0],
        "member_ids": family,
        "tables": tables,
        "identifier_hashes": hashes,
        "at": now.isoformat(),
    }
    record = ErasureRecord(
        workspace_id=workspace_id,
        member_id=family[0],
        member_ids=family,
        requested_via=via,
        actor=actor[:100],
        request_id=request_id.get(),
        tables=tables,
        identifier_hashes=hashes,
        digest=_digest(proof),
        created_at=now,
    )
    repository.add(session, record)
    security.record_audit(
        session,
        actor,
        "member.erased",
        workspace_id=workspace_id,
        target_type="member",
        target_id=family[0],
        detail={"via": via, "members": len(family), "erasure_id": record.id},
    )
    return ErasureProof.model_validate(record)


def was_erased(session: Session, workspace_id: int, identifier: str) -> bool:
    """Whether an identifier (openid, UnionID, or a phone's lookup hash) was erased here."""
    wanted = hasher().digest(identifier, "erasure")
    return any(
        wanted in r.identifier_hashes for r in repository.erasure_records(session, workspace_id)
    )


def _jsonable(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, bytes):
        return value.hex()
    return value


def export_member(
    session: Session,
    workspace_id: int,
    member_id: int,
    *,
    actor: Principal | str,
    via: str | None = None,
) -> dict[str, Any]:
    """The member's own data, every table that holds some of it, as JSON-ready values
    (decrypted; secrets such as session keys left out), for their access request: audited,
    with `via` ("mp") when the member asked themselves."""
    policies = _check_complete(session)
    family = member_family(session, workspace_id, member_id)
    wechat_ids = wechat_ids_of(session, family)
    tables: dict[str, list[dict[str, Any]]] = {}
    for tp in policies:
        if tp.policy.action not in ("delete", "anonymize") or not tp.policy.matches_members:
            continue
        hidden = set(tp.policy.private)
        rows = repository.select_rows(session, tp.table, _match(tp, family, wechat_ids))
        found = [{k: _jsonable(v) for k, v in row.items() if k not in hidden} for row in rows]
        if found:
            tables[tp.name] = found
    security.record_audit(
        session,
        actor,
        "member.exported",
        workspace_id=workspace_id,
        target_type="member",
        target_id=member_id,
        detail={"via": via} if via else None,
    )
    return {
        "member_id": family[0],
        "member_ids": family,
        "exported_at": clock.now().isoformat(),
        "tables": tables,
    }
