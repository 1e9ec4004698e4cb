"""Queries over operators, sessions, tokens, sign-in failures, audit, assignments, consents."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session

from siyu.core.db import Base
from siyu.security.models import (
    ApiToken,
    AuditEntry,
    Consent,
    ConsentPurpose,
    LoginFailure,
    MemberAssignment,
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


def end_sessions(session: Session, operator_id: int, at: datetime) -> None:
    session.execute(
        update(OperatorSession)
        .where(OperatorSession.operator_id == operator_id, OperatorSession.ended_at.is_(None))
        .values(ended_at=at)
    )


def get_token_by_hash(session: Session, token_hash: str) -> ApiToken | None:
    return session.scalars(select(ApiToken).where(ApiToken.token_hash == token_hash)).first()


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


# --- assignments ---------------------------------------------------------------------------


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


# --- consents ------------------------------------------------------------------------------


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
