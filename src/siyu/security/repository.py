"""Queries over operators, sessions and API tokens."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from siyu.security.models import ApiToken, Operator, OperatorSession


def add(session: Session, row: Operator | OperatorSession | ApiToken) -> None:
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
