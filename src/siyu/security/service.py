"""Operators: passwords (argon2), console sessions with CSRF tokens, API tokens, first-run owner."""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy.orm import Session

from siyu.core import clock
from siyu.core.errors import Conflict, Invalid, Unauthorized
from siyu.security import repository
from siyu.security.models import ApiToken, Operator, OperatorSession, Role
from siyu.security.schemas import Bootstrap, NewApiToken, NewSession, OperatorRead, Principal

_passwords = PasswordHasher()
# Verified against when the email is unknown, so both paths cost one argon2 verification.
_DUMMY_HASH = _passwords.hash(secrets.token_urlsafe(16))
TOKEN_PREFIX = "siyu_"  # noqa: S105 - a marker for secret scanners, not a secret
MIN_PASSWORD = 10
TOKEN_TOUCH_INTERVAL = timedelta(minutes=1)


def _sha256(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def create_operator(
    session: Session,
    workspace_id: int,
    email: str,
    password: str,
    *,
    name: str = "",
    role: Role = Role.operator,
) -> OperatorRead:
    email = email.strip().lower()
    if "@" not in email or len(email) > 254:
        raise Invalid("security.invalid_email", "an operator signs in with an email address")
    if len(password) < MIN_PASSWORD:
        raise Invalid(
            "security.weak_password", f"a password has at least {MIN_PASSWORD} characters"
        )
    if repository.get_operator_by_email(session, email) is not None:
        raise Conflict("security.operator_exists", f"an operator {email} exists already")
    operator = Operator(
        workspace_id=workspace_id,
        email=email,
        name=name or email.split("@")[0],
        password_hash=_passwords.hash(password),
        role=role,
        created_at=clock.now(),
    )
    repository.add(session, operator)
    return OperatorRead.model_validate(operator)


def bootstrap_owner(
    session: Session, workspace_id: int, email: str, password: str | None
) -> Bootstrap:
    """On a fresh install, create the owner; the password is generated unless one is given."""
    if repository.count_operators(session) > 0:
        return Bootstrap(workspace_id=workspace_id, owner_email=email, password=None, created=False)
    generated = password is None
    secret = password if password is not None else secrets.token_urlsafe(12)
    create_operator(session, workspace_id, email, secret, name="Owner", role=Role.owner)
    return Bootstrap(
        workspace_id=workspace_id,
        owner_email=email,
        password=secret if generated else None,
        created=True,
    )


def _principal(operator: Operator, via: str, csrf: str | None = None) -> Principal:
    return Principal(
        operator_id=operator.id,
        workspace_id=operator.workspace_id,
        email=operator.email,
        name=operator.name,
        role=operator.role,
        via=via,
        csrf_token=csrf,
    )


def authenticate(session: Session, email: str, password: str) -> Principal:
    """The operator with these credentials; one generic error for every failure."""
    operator = repository.get_operator_by_email(session, email.strip().lower())
    try:
        _passwords.verify(operator.password_hash if operator else _DUMMY_HASH, password)
    except (VerificationError, InvalidHashError):
        operator = None
    if operator is None or operator.disabled_at is not None:
        raise Unauthorized("security.bad_credentials", "wrong email or password")
    if _passwords.check_needs_rehash(operator.password_hash):
        operator.password_hash = _passwords.hash(password)
    return _principal(operator, "password")


def start_session(session: Session, principal: Principal, hours: int) -> NewSession:
    """A fresh session token on every login, so that a planted cookie never becomes valid."""
    token, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
    now = clock.now()
    row = OperatorSession(
        operator_id=principal.operator_id,
        token_hash=_sha256(token),
        csrf_token=csrf,
        created_at=now,
        expires_at=now + timedelta(hours=hours),
    )
    repository.add(session, row)
    return NewSession(token=token, csrf_token=csrf, expires_at=row.expires_at)


def principal_for_session(session: Session, token: str) -> Principal | None:
    row = repository.get_session_by_hash(session, _sha256(token))
    if row is None or row.ended_at is not None or row.expires_at <= clock.now():
        return None
    operator = repository.get_operator(session, row.operator_id)
    if operator is None or operator.disabled_at is not None:
        return None
    return _principal(operator, "session", row.csrf_token)


def end_session(session: Session, token: str) -> None:
    row = repository.get_session_by_hash(session, _sha256(token))
    if row is not None and row.ended_at is None:
        row.ended_at = clock.now()
        session.flush()


def create_api_token(session: Session, operator_id: int, name: str) -> NewApiToken:
    """A bearer token for scripts; shown once, stored as a hash."""
    if not name.strip() or len(name) > 100:
        raise Invalid("security.invalid_token_name", "a token needs a name of 1–100 characters")
    if repository.get_operator(session, operator_id) is None:
        raise Invalid("security.unknown_operator", f"no operator {operator_id}")
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    row = ApiToken(
        operator_id=operator_id,
        name=name.strip(),
        prefix=token[:12],
        token_hash=_sha256(token),
        created_at=clock.now(),
    )
    repository.add(session, row)
    return NewApiToken(id=row.id, name=row.name, token=token)


def principal_for_token(session: Session, token: str) -> Principal | None:
    row = repository.get_token_by_hash(session, _sha256(token))
    if row is None or row.revoked_at is not None:
        return None
    operator = repository.get_operator(session, row.operator_id)
    if operator is None or operator.disabled_at is not None:
        return None
    now = clock.now()
    # Record use at most once a minute: a write on every API call would serialize readers.
    if row.last_used_at is None or now - row.last_used_at > TOKEN_TOUCH_INTERVAL:
        row.last_used_at = now
    return _principal(operator, "token")


def principal_for_cli(session: Session, workspace_id: int) -> Principal:
    """The CLI acts as the workspace's owner (whoever can run it can read the database)."""
    return Principal(
        operator_id=0,
        workspace_id=workspace_id,
        email="cli",
        name="CLI",
        role=Role.owner,
        via="cli",
    )


def get_operator_by_email(session: Session, email: str) -> OperatorRead | None:
    operator = repository.get_operator_by_email(session, email.strip().lower())
    return OperatorRead.model_validate(operator) if operator else None
