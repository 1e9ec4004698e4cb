"""Passwords after sign-up: an operator changes their own (the current one required; their
other sessions end), an owner or admin resets another's to a one-time password (audited; that
operator's sessions end), and the command line does it for a locked-out owner."""

from __future__ import annotations

from functools import partial

from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy.orm import Session

from siyu.core import clock
from siyu.core.db import get_database
from siyu.security import errors, repository
from siyu.security.enums import Role
from siyu.security.models import Operator
from siyu.security.schemas import OperatorRead, PasswordReset, Principal
from siyu.security.service.audit import record_audit
from siyu.security.service.credentials import (
    check_password,
    one_time_password,
    passwords,
    sha256,
)
from siyu.security.service.operators import operator_in
from siyu.security.service.signin import check_login_allowed, record_login_failure


def _matches(operator: Operator, password: str) -> bool:
    try:
        return bool(passwords.verify(operator.password_hash, password))
    except (VerificationError, InvalidHashError):
        return False


def _count_failure(email: str) -> None:
    with get_database().session_scope() as session:
        record_login_failure(session, email)


def change_password(
    session: Session,
    principal: Principal,
    current: str,
    new: str,
    *,
    session_token: str | None = None,
) -> OperatorRead:
    """The operator's own password: `current` proves it is them; every session but the one
    holding `session_token` (the browser asking) ends. Sent twice, the second finds the new
    password in place and changes nothing."""
    operator = operator_in(session, principal.workspace_id, principal.operator_id)
    # A stolen session must not become a way to guess the password: the sign-in lockout holds.
    check_login_allowed(session, operator.email)
    if not _matches(operator, current):
        if _matches(operator, new) and not operator.password_one_time:
            return OperatorRead.model_validate(operator)  # a double submit: done already
        refused = errors.WRONG_PASSWORD("the current password is wrong")
        refused.on_refused = partial(_count_failure, operator.email)
        raise refused
    if current == new:
        raise errors.PASSWORD_UNCHANGED("the new password is the current one")
    check_password(new, operator.email)
    operator.password_hash = passwords.hash(new)
    operator.password_one_time = False
    kept = repository.get_session_by_hash(session, sha256(session_token)) if session_token else None
    ended = repository.end_sessions(
        session, operator.id, clock.now(), keep=kept.id if kept is not None else None
    )
    session.flush()
    record_audit(
        session,
        principal,
        "operator.password_changed",
        target_type="operator",
        target_id=operator.id,
        detail={"sessions_ended": ended},
    )
    return OperatorRead.model_validate(operator)


def reset_password(session: Session, actor: Principal, operator_id: int) -> PasswordReset:
    """Replace another operator's password with a one-time one, shown once to `actor`; that
    operator's sessions end (their API tokens stay: a forgotten password is no leak)."""
    operator = operator_in(session, actor.workspace_id, operator_id)
    if operator.id == actor.operator_id:
        raise errors.RESET_SELF("change your own password with your current one")
    if operator.role == Role.owner and actor.role != Role.owner:
        raise errors.FORBIDDEN("only an owner can reset an owner's password")
    secret = one_time_password()
    operator.password_hash = passwords.hash(secret)
    operator.password_one_time = True
    ended = repository.end_sessions(session, operator.id, clock.now())
    session.flush()
    record_audit(
        session,
        actor,
        "operator.password_reset",
        target_type="operator",
        target_id=operator.id,
        detail={"sessions_ended": ended, "via": actor.via},
    )
    return PasswordReset(operator=OperatorRead.model_validate(operator), one_time_password=secret)
