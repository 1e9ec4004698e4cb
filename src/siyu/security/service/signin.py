"""Signing in: passwords with lockout, console sessions, API tokens, and the principal behind
each credential."""

from __future__ import annotations

import secrets
from datetime import timedelta
from functools import partial

from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy.orm import Session

from siyu.core import clock
from siyu.core.db import get_database
from siyu.security import errors, repository
from siyu.security.enums import Permission, Role
from siyu.security.models import ApiToken, LoginFailure, Operator, OperatorSession
from siyu.security.permissions import allows
from siyu.security.schemas import NewApiToken, NewSession, Principal, SessionStarted
from siyu.security.service.audit import record_audit
from siyu.security.service.credentials import DUMMY_HASH, TOKEN_PREFIX, passwords, sha256

TOKEN_TOUCH_INTERVAL = timedelta(minutes=1)
# Sign-in lockout: this many failures within the window lock the email (or the address).
LOGIN_WINDOW = timedelta(minutes=15)
LOGIN_MAX_PER_EMAIL = 5
LOGIN_MAX_PER_CLIENT = 30


def _principal(operator: Operator, via: str, csrf: str | None = None) -> Principal:
    return Principal(
        operator_id=operator.id,
        workspace_id=operator.workspace_id,
        email=operator.email,
        name=operator.name,
        role=operator.role,
        via=via,
        csrf_token=csrf,
        # API tokens are made by an operator who signed in already; only sessions are held.
        password_change_required=operator.password_one_time and via in ("session", "password"),
    )


def _login_keys(email: str, client: str | None) -> list[tuple[str, int]]:
    keys = [(sha256(f"email:{email.strip().lower()}"), LOGIN_MAX_PER_EMAIL)]
    if client:
        keys.append((sha256(f"client:{client}"), LOGIN_MAX_PER_CLIENT))
    return keys


def check_login_allowed(session: Session, email: str, client: str | None = None) -> None:
    """Refuse a sign-in while its email or client address is locked out (before any password
    check, so that a locked account answers the same whether the password is right)."""
    since = clock.now() - LOGIN_WINDOW
    for key, limit in _login_keys(email, client):
        failures = repository.failures_since(session, key, since)
        if len(failures) >= limit:
            retry = failures[-limit] + LOGIN_WINDOW
            seconds = max(int((retry - clock.now()).total_seconds()), 1)
            raise errors.LOGIN_LOCKED(
                "too many failed sign-ins; wait and try again", data={"retry_after_s": seconds}
            )


def record_login_failure(session: Session, email: str, client: str | None = None) -> None:
    """Count a failed sign-in (apart from the refused attempt, whose transaction rolls back)."""
    now = clock.now()
    for key, _limit in _login_keys(email, client):
        repository.add(session, LoginFailure(key=key, at=now))
    repository.prune_failures(session, now - LOGIN_WINDOW * 4)


def _count_failure(email: str, client: str | None) -> None:
    with get_database().session_scope() as session:
        record_login_failure(session, email, client)


def authenticate(
    session: Session, email: str, password: str, *, client: str | None = None
) -> Principal:
    """The operator with these credentials; one generic error for every failure.

    Raises `security.login_locked` (429) while the email or client is locked out. A
    `security.bad_credentials` refusal counts the failure once the entrypoint renders it
    (`on_refused`, in a transaction of its own: the attempt's is rolled back).
    """
    check_login_allowed(session, email, client)
    operator = repository.get_operator_by_email(session, email.strip().lower())
    try:
        passwords.verify(operator.password_hash if operator else DUMMY_HASH, password)
    except (VerificationError, InvalidHashError):
        operator = None
    if operator is None or operator.disabled_at is not None:
        refused = errors.BAD_CREDENTIALS("wrong email or password")
        refused.on_refused = partial(_count_failure, email, client)
        raise refused
    if passwords.check_needs_rehash(operator.password_hash):
        operator.password_hash = passwords.hash(password)
    repository.clear_failures(session, _login_keys(email, None)[0][0])
    return _principal(operator, "password")


def start_session(session: Session, principal: Principal, hours: int) -> NewSession:
    """A fresh session token on every login, so that a planted cookie never becomes valid."""
    token, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
    now = clock.now()
    row = OperatorSession(
        operator_id=principal.operator_id,
        token_hash=sha256(token),
        csrf_token=csrf,
        created_at=now,
        expires_at=now + timedelta(hours=hours),
    )
    repository.add(session, row)
    return NewSession(token=token, csrf_token=csrf, expires_at=row.expires_at)


def sign_in(
    session: Session,
    email: str,
    password: str,
    *,
    hours: int,
    client: str | None = None,
    previous_token: str | None = None,
) -> SessionStarted:
    """The console's sign-in: check the password, start a session (ending the one the browser
    held before, if any) and audit it."""
    principal = authenticate(session, email, password, client=client)
    fresh = start_session(session, principal, hours)
    if previous_token:
        end_session(session, previous_token)
    record_audit(
        session,
        principal,
        "operator.signed_in",
        target_type="operator",
        target_id=principal.operator_id,
    )
    return SessionStarted(principal=principal, session=fresh)


def principal_for_session(session: Session, token: str) -> Principal | None:
    row = repository.get_session_by_hash(session, sha256(token))
    if row is None or row.ended_at is not None or row.expires_at <= clock.now():
        return None
    operator = repository.get_operator(session, row.operator_id)
    if operator is None or operator.disabled_at is not None:
        return None
    return _principal(operator, "session", row.csrf_token)


def end_session(session: Session, token: str) -> None:
    row = repository.get_session_by_hash(session, sha256(token))
    if row is not None and row.ended_at is None:
        row.ended_at = clock.now()
        session.flush()


def create_api_token(
    session: Session, operator_id: int, name: str, *, actor: Principal | None = None
) -> NewApiToken:
    """A bearer token for scripts; shown once, stored as a hash. Audited when an operator
    asks for it (`actor`); the command line and set-up scripts make them unaudited."""
    if not name.strip() or len(name) > 100:
        raise errors.INVALID_TOKEN_NAME("a token needs a name of 1–100 characters")
    operator = repository.get_operator(session, operator_id)
    if operator is None:
        raise errors.UNKNOWN_OPERATOR(f"no operator {operator_id}", operator_id=operator_id)
    if not allows(operator.role, Permission.tokens_create):
        raise errors.FORBIDDEN(f"a {operator.role} may not hold API tokens")
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    row = ApiToken(
        operator_id=operator_id,
        name=name.strip(),
        prefix=token[:12],
        token_hash=sha256(token),
        created_at=clock.now(),
    )
    repository.add(session, row)
    if actor is not None:
        record_audit(session, actor, "token.created", target_type="api_token", target_id=row.id)
    return NewApiToken(id=row.id, name=row.name, token=token)


def principal_for_token(session: Session, token: str) -> Principal | None:
    row = repository.get_token_by_hash(session, sha256(token))
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
