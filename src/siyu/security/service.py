"""Operators (argon2 passwords, sessions, API tokens, roles), sign-in lockout, the audit log,
member assignments, consents, and what each role may see of a member."""

from __future__ import annotations

import hashlib
import re
import secrets
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from functools import partial
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy.orm import Session

from siyu.core import clock
from siyu.core.db import get_database
from siyu.core.errors import Conflict, Forbidden, Invalid, NotFound, SiyuError, Unauthorized
from siyu.core.logging import request_id
from siyu.identity import service as identity
from siyu.identity.schemas import IdentityRead, MemberRead
from siyu.security import repository
from siyu.security.models import (
    ApiToken,
    AuditEntry,
    Consent,
    ConsentPurpose,
    LoginFailure,
    Operator,
    OperatorSession,
    Role,
)
from siyu.security.permissions import Permission, allows
from siyu.security.schemas import (
    AuditRead,
    Bootstrap,
    ConsentRead,
    NewApiToken,
    NewSession,
    OperatorRead,
    Principal,
)

_passwords = PasswordHasher()
# Verified against when the email is unknown, so both paths cost one argon2 verification.
_DUMMY_HASH = _passwords.hash(secrets.token_urlsafe(16))
TOKEN_PREFIX = "siyu_"  # noqa: S105 - a marker for secret scanners, not a secret
MIN_PASSWORD = 10
TOKEN_TOUCH_INTERVAL = timedelta(minutes=1)
# Sign-in lockout: this many failures within the window lock the email (or the address).
LOGIN_WINDOW = timedelta(minutes=15)
LOGIN_MAX_PER_EMAIL = 5
LOGIN_MAX_PER_CLIENT = 30
AUDIT_PAGE_MAX = 500


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


def _login_keys(email: str, client: str | None) -> list[tuple[str, int]]:
    keys = [(_sha256(f"email:{email.strip().lower()}"), LOGIN_MAX_PER_EMAIL)]
    if client:
        keys.append((_sha256(f"client:{client}"), LOGIN_MAX_PER_CLIENT))
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
            raise SiyuError(
                "security.login_locked",
                "too many failed sign-ins; wait and try again",
                status=429,
                data={"retry_after_s": seconds},
            )


def record_login_failure(session: Session, email: str, client: str | None = None) -> None:
    """Count a failed sign-in (the entrypoint commits it apart from the refused attempt)."""
    now = clock.now()
    for key, _limit in _login_keys(email, client):
        repository.add(session, LoginFailure(key=key, at=now))
    repository.prune_failures(session, now - LOGIN_WINDOW * 4)


def authenticate(
    session: Session, email: str, password: str, *, client: str | None = None
) -> Principal:
    """The operator with these credentials; one generic error for every failure.

    Raises `security.login_locked` (429) while the email or client is locked out; the caller
    records a `security.bad_credentials` refusal with `record_login_failure`.
    """
    check_login_allowed(session, email, client)
    operator = repository.get_operator_by_email(session, email.strip().lower())
    try:
        _passwords.verify(operator.password_hash if operator else _DUMMY_HASH, password)
    except (VerificationError, InvalidHashError):
        operator = None
    if operator is None or operator.disabled_at is not None:
        raise Unauthorized("security.bad_credentials", "wrong email or password")
    if _passwords.check_needs_rehash(operator.password_hash):
        operator.password_hash = _passwords.hash(password)
    repository.clear_failures(session, _login_keys(email, None)[0][0])
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


def require_permission(principal: Principal, permission: Permission) -> None:
    """Refuse with `security.forbidden` unless the principal's role grants `permission`."""
    if not allows(principal.role, permission):
        raise Forbidden(
            "security.forbidden",
            f"your role ({principal.role}) may not do this",
            data={"permission": permission.value},
        )


# --- operators and roles -------------------------------------------------------------------


def _operator_in(session: Session, workspace_id: int, operator_id: int) -> Operator:
    operator = repository.get_operator(session, operator_id)
    if operator is None or operator.workspace_id != workspace_id:
        raise NotFound("security.operator_not_found", f"operator {operator_id} not found")
    return operator


def list_operators(session: Session, workspace_id: int) -> list[OperatorRead]:
    return [
        OperatorRead.model_validate(o) for o in repository.list_operators(session, workspace_id)
    ]


def _check_grant(actor: Principal, role: Role) -> None:
    # Only an owner makes owners: an admin cannot raise anyone (themselves included) above admin.
    if role == Role.owner and actor.role != Role.owner:
        raise Forbidden("security.forbidden", "only an owner can make an owner")


def add_operator(
    session: Session, actor: Principal, email: str, password: str, *, name: str, role: Role
) -> OperatorRead:
    _check_grant(actor, role)
    created = create_operator(
        session, actor.workspace_id, email, password, name=name.strip(), role=role
    )
    record_audit(
        session,
        actor,
        "operator.created",
        target_type="operator",
        target_id=created.id,
        detail={"role": role.value},
    )
    return created


def _owners_left(session: Session, workspace_id: int, without: int) -> int:
    return sum(
        1
        for o in repository.list_operators(session, workspace_id)
        if o.role == Role.owner and o.disabled_at is None and o.id != without
    )


def change_role(session: Session, actor: Principal, operator_id: int, role: Role) -> OperatorRead:
    operator = _operator_in(session, actor.workspace_id, operator_id)
    _check_grant(actor, role)
    if operator.role == Role.owner and actor.role != Role.owner:
        raise Forbidden("security.forbidden", "only an owner can change an owner's role")
    last_owner = _owners_left(session, actor.workspace_id, operator.id) == 0
    if operator.role == Role.owner and role != Role.owner and last_owner:
        raise Conflict("security.last_owner", "a workspace keeps at least one owner")
    before = operator.role
    if before != role:
        operator.role = role
        session.flush()
        record_audit(
            session,
            actor,
            "operator.role_changed",
            target_type="operator",
            target_id=operator.id,
            detail={"from": before.value, "to": role.value},
        )
    return OperatorRead.model_validate(operator)


def disable_operator(session: Session, actor: Principal, operator_id: int) -> OperatorRead:
    """Disable an operator: their sessions end and their API tokens are revoked, now."""
    operator = _operator_in(session, actor.workspace_id, operator_id)
    if operator.id == actor.operator_id:
        raise Conflict("security.disable_self", "you cannot disable yourself")
    if operator.role == Role.owner:
        if actor.role != Role.owner:
            raise Forbidden("security.forbidden", "only an owner can disable an owner")
        if _owners_left(session, actor.workspace_id, operator.id) == 0:
            raise Conflict("security.last_owner", "a workspace keeps at least one owner")
    if operator.disabled_at is None:
        now = clock.now()
        operator.disabled_at = now
        repository.end_sessions(session, operator.id, now)
        revoked = repository.revoke_tokens(session, operator.id, now)
        session.flush()
        record_audit(
            session,
            actor,
            "operator.disabled",
            target_type="operator",
            target_id=operator.id,
            detail={"tokens_revoked": revoked},
        )
    return OperatorRead.model_validate(operator)


def enable_operator(session: Session, actor: Principal, operator_id: int) -> OperatorRead:
    operator = _operator_in(session, actor.workspace_id, operator_id)
    if operator.role == Role.owner and actor.role != Role.owner:
        raise Forbidden("security.forbidden", "only an owner can enable an owner")
    if operator.disabled_at is not None:
        operator.disabled_at = None
        session.flush()
        record_audit(
            session, actor, "operator.enabled", target_type="operator", target_id=operator.id
        )
    return OperatorRead.model_validate(operator)


# --- audit log -----------------------------------------------------------------------------

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


# --- what a role sees of members -----------------------------------------------------------


def visible_members(session: Session, principal: Principal) -> frozenset[int] | None:
    """The member ids this principal may see: None for all of the workspace."""
    if allows(principal.role, Permission.members_all):
        return None
    return frozenset(repository.assigned_member_ids(session, principal.operator_id))


def ensure_member_visible(session: Session, principal: Principal, member_id: int) -> None:
    """404, like a member that does not exist, for one outside the principal's members."""
    visible = visible_members(session, principal)
    if visible is not None and member_id not in visible:
        hidden = NotFound("identity.member_not_found", f"member {member_id} not found")
        # A denial like any other, though it looks like a missing member: audited, in a
        # transaction of its own once the request's is rolled back.
        hidden.on_refused = partial(_audit_hidden_member, principal, member_id)
        raise hidden


def _audit_hidden_member(principal: Principal, member_id: int) -> None:
    with get_database().session_scope() as session:
        record_audit(
            session,
            principal,
            "security.denied",
            target_type="member",
            target_id=member_id,
            detail={"reason": "not_assigned"},
        )


def _present_identity(identity_read: IdentityRead, principal: Principal) -> IdentityRead:
    updates: dict[str, Any] = {}
    if not allows(principal.role, Permission.members_phone):
        updates["phone"] = None
    if identity_read.kind != "phone" and not allows(principal.role, Permission.members_identifiers):
        updates["value"] = None
    return identity_read.model_copy(update=updates) if updates else identity_read


def present_member(member: MemberRead, principal: Principal) -> MemberRead:
    """A member as this principal's role may see it: full phone only with `members.phone`,
    WeChat ids only with `members.identifiers` (otherwise 138****0000 and the id's kind)."""
    return member.model_copy(
        update={"identities": [_present_identity(i, principal) for i in member.identities]}
    )


def present_members(members: Sequence[MemberRead], principal: Principal) -> list[MemberRead]:
    return [present_member(m, principal) for m in members]


# --- assignments ---------------------------------------------------------------------------


def assign_member(
    session: Session, actor: Principal, member_id: int, operator_id: int | None
) -> int | None:
    """Give a member to a sales rep (or take it back with `operator_id=None`)."""
    identity.get_member(session, actor.workspace_id, member_id)
    if operator_id is not None:
        operator = _operator_in(session, actor.workspace_id, operator_id)
        if operator.disabled_at is not None:
            raise Invalid("security.operator_disabled", "this operator is disabled")
    repository.set_assignment(
        session, actor.workspace_id, member_id, operator_id, actor=actor.actor, at=clock.now()
    )
    record_audit(
        session,
        actor,
        "member.assigned",
        target_type="member",
        target_id=member_id,
        detail={"operator_id": operator_id},
    )
    return operator_id


def assignee_of(session: Session, member_id: int) -> int | None:
    return repository.assignee_of(session, member_id)


# --- consents ------------------------------------------------------------------------------


def grant_consent(
    session: Session,
    workspace_id: int,
    member_id: int,
    purpose: ConsentPurpose,
    *,
    entry: str,
    actor: str,
) -> ConsentRead:
    """Record that a member authorized `purpose` through `entry` (idempotent while granted)."""
    identity.get_member(session, workspace_id, member_id)
    active = repository.active_consent(session, [member_id], purpose)
    if active is not None:
        return ConsentRead.model_validate(active)
    row = Consent(
        workspace_id=workspace_id,
        member_id=member_id,
        purpose=purpose,
        entry=entry[:100],
        actor=actor[:100],
        granted_at=clock.now(),
    )
    repository.add(session, row)
    return ConsentRead.model_validate(row)


def withdraw_consent(
    session: Session, workspace_id: int, member_id: int, purpose: ConsentPurpose, *, via: str
) -> int:
    """Close every grant of `purpose` by this person; returns how many were open."""
    family = identity.member_family(session, workspace_id, member_id)
    return repository.withdraw_consents(session, family, purpose, clock.now(), via[:100])


def has_consent(session: Session, member_id: int, purpose: ConsentPurpose | str) -> bool:
    """Whether the member (or one merged into it) authorized `purpose` and has not withdrawn.

    What other domains ask before a marketing send or before using the phone number.
    """
    workspace_id = identity.workspace_of_member(session, member_id)
    if workspace_id is None:
        return False
    family = identity.member_family(session, workspace_id, member_id)
    return repository.active_consent(session, family, ConsentPurpose(purpose)) is not None


def list_consents(session: Session, workspace_id: int, member_id: int) -> list[ConsentRead]:
    family = identity.member_family(session, workspace_id, member_id)
    return [ConsentRead.model_validate(c) for c in repository.list_consents(session, family)]
