"""The audit log: append an entry (ids, counts and codes only), search and list it."""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from siyu.core import clock
from siyu.core.logging import request_id
from siyu.security import repository
from siyu.security.models import AuditEntry
from siyu.security.schemas import AuditRead, Principal

AUDIT_PAGE_MAX = 500
_LOOKS_PERSONAL = re.compile(r"\+?\d[\d\s-]{6,}\d")
DETAIL_MAX_VALUE = 128


def _check_detail(detail: Mapping[str, Any]) -> dict[str, Any]:
    """Ids, counts, codes and short labels; a value that looks like a phone number is a bug."""
    clean: dict[str, Any] = {}
    for key, value in detail.items():
        if isinstance(value, str) and (
            _LOOKS_PERSONAL.fullmatch(value.strip()) or len(value) > DETAIL_MAX_VALUE
        ):
            raise ValueError(f"audit detail {key!r} looks like personal data or is too long")
        clean[key] = list(value)[:50] if isinstance(value, list | tuple) else value
    return clean


def record_audit(
    session: Session,
    actor: Principal | str,
    action: str,
    *,
    workspace_id: int | None = None,
    target_type: str | None = None,
    target_id: int | str | None = None,
    detail: Mapping[str, Any] | None = None,
) -> None:
    """Append an audit entry: who (`actor`, a Principal or a label such as "mp:member:12"),
    did what (`action`, "<domain>.<verb>"), to what (`target_type`, `target_id`).

    `detail` holds ids, counts and codes only, never personal data. The request id of the
    current request or job is recorded with it. Flushes; the caller's transaction commits.
    """
    if isinstance(actor, Principal):
        who, role, ws = actor.actor, actor.role.value, actor.workspace_id
    else:
        who, role, ws = actor, None, None
    repository.add(
        session,
        AuditEntry(
            workspace_id=workspace_id if workspace_id is not None else ws,
            actor=who[:100],
            actor_role=role,
            action=action[:64],
            target_type=target_type,
            target_id=None if target_id is None else str(target_id)[:64],
            request_id=request_id.get(),
            detail=_check_detail(detail or {}),
            created_at=clock.now(),
        ),
    )


def search_audit(
    session: Session,
    workspace_id: int,
    *,
    action: str | None = None,
    actor: str | None = None,
    target_type: str | None = None,
    target_id: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    before_id: int | None = None,
    limit: int = 100,
) -> list[AuditRead]:
    rows = repository.search_audit(
        session,
        workspace_id,
        action=action or None,
        actor=actor or None,
        target_type=target_type or None,
        target_id=target_id or None,
        since=since,
        until=until,
        before_id=before_id,
        limit=min(max(limit, 1), AUDIT_PAGE_MAX),
    )
    return [AuditRead.model_validate(r) for r in rows]


def audit_actions(session: Session, workspace_id: int) -> list[str]:
    return repository.audit_actions(session, workspace_id)


def export_audit(
    session: Session,
    operator: Principal,
    *,
    asked: Mapping[str, str],
    action: str | None = None,
    actor: str | None = None,
    target_type: str | None = None,
    target_id: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    max_rows: int = 100_000,
) -> list[AuditRead]:
    """The operator's export of the audit log, newest first (at most `max_rows`): audited
    with the row count and the filters as they were typed (`asked`), the actor filter left out."""
    rows: list[AuditRead] = []
    before: int | None = None
    while len(rows) < max_rows:
        page = search_audit(
            session,
            operator.workspace_id,
            action=action,
            actor=actor,
            target_type=target_type,
            target_id=target_id,
            since=since,
            until=until,
            before_id=before,
            limit=AUDIT_PAGE_MAX,
        )
        rows += page
        if len(page) < AUDIT_PAGE_MAX:
            break
        before = page[-1].id
    record_audit(
        session,
        operator,
        "audit.exported",
        detail={"rows": len(rows), **{k: v for k, v in asked.items() if v and k != "actor"}},
    )
    return rows
