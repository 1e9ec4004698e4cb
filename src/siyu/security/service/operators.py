"""Operators and their roles: create, list, add, change a role, disable and enable (audited),
and the permission check every entrypoint asks."""

from __future__ import annotations

from sqlalchemy.orm import Session

from siyu.core import clock
from siyu.security import errors, repository
from siyu.security.enums import Permission, Role
from siyu.security.models import Operator
from siyu.security.permissions import allows
from siyu.security.schemas import Bootstrap, OperatorRead, Principal
from siyu.security.service.audit import record_audit
from siyu.security.service.credentials import check_password, one_time_password, passwords


def create_operator(
    session: Session,
    workspace_id: int,
    email: str,
    password: str,
    *,
    name: str = "",
    role: Role = Role.operator,
    one_time: bool = False,
) -> OperatorRead:
    """An operator; `one_time` when someone else chose the password (they must change it)."""
    email = email.strip().lower()
    if "@" not in email or len(email) > 254:
        raise errors.INVALID_EMAIL("an operator signs in with an email address")
    check_password(password, email)
    if repository.get_operator_by_email(session, email) is not None:
        raise errors.OPERATOR_EXISTS(f"an operator {email} exists already")
    operator = Operator(
        workspace_id=workspace_id,
        email=email,
        name=name or email.split("@")[0],
        password_hash=passwords.hash(password),
        password_one_time=one_time,
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
    secret = password if password is not None else one_time_password()
    # A generated password is printed on a terminal: good for the first sign-in only.
    create_operator(
        session, workspace_id, email, secret, name="Owner", role=Role.owner, one_time=generated
    )
    return Bootstrap(
        workspace_id=workspace_id,
        owner_email=email,
        password=secret if generated else None,
        created=True,
    )


def get_operator_by_email(session: Session, email: str) -> OperatorRead | None:
    operator = repository.get_operator_by_email(session, email.strip().lower())
    return OperatorRead.model_validate(operator) if operator else None


def get_operator(session: Session, workspace_id: int, operator_id: int) -> OperatorRead:
    """An operator of this workspace; another workspace's is reported as not found."""
    return OperatorRead.model_validate(operator_in(session, workspace_id, operator_id))


def require_permission(principal: Principal, permission: Permission) -> None:
    """Refuse with `security.forbidden` unless the principal's role grants `permission`."""
    if not allows(principal.role, permission):
        raise errors.FORBIDDEN(
            f"your role ({principal.role}) may not do this",
            data={"permission": permission.value},
        )


def operator_in(session: Session, workspace_id: int, operator_id: int) -> Operator:
    operator = repository.get_operator(session, operator_id)
    if operator is None or operator.workspace_id != workspace_id:
        raise errors.OPERATOR_NOT_FOUND(f"operator {operator_id} not found")
    return operator


def list_operators(session: Session, workspace_id: int) -> list[OperatorRead]:
    return [
        OperatorRead.model_validate(o) for o in repository.list_operators(session, workspace_id)
    ]


def _check_grant(actor: Principal, role: Role) -> None:
    # Only an owner makes owners: an admin cannot raise anyone (themselves included) above admin.
    if role == Role.owner and actor.role != Role.owner:
        raise errors.FORBIDDEN("only an owner can make an owner")


def add_operator(
    session: Session, actor: Principal, email: str, password: str, *, name: str, role: Role
) -> OperatorRead:
    _check_grant(actor, role)
    # The password is the one who added them chose: the new operator sets their own at once.
    created = create_operator(
        session, actor.workspace_id, email, password, name=name.strip(), role=role, one_time=True
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
    operator = operator_in(session, actor.workspace_id, operator_id)
    _check_grant(actor, role)
    if operator.role == Role.owner and actor.role != Role.owner:
        raise errors.FORBIDDEN("only an owner can change an owner's role")
    last_owner = _owners_left(session, actor.workspace_id, operator.id) == 0
    if operator.role == Role.owner and role != Role.owner and last_owner:
        raise errors.LAST_OWNER("a workspace keeps at least one owner")
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
    operator = operator_in(session, actor.workspace_id, operator_id)
    if operator.id == actor.operator_id:
        raise errors.DISABLE_SELF("you cannot disable yourself")
    if operator.role == Role.owner:
        if actor.role != Role.owner:
            raise errors.FORBIDDEN("only an owner can disable an owner")
        if _owners_left(session, actor.workspace_id, operator.id) == 0:
            raise errors.LAST_OWNER("a workspace keeps at least one owner")
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
    operator = operator_in(session, actor.workspace_id, operator_id)
    if operator.role == Role.owner and actor.role != Role.owner:
        raise errors.FORBIDDEN("only an owner can enable an owner")
    if operator.disabled_at is not None:
        operator.disabled_at = None
        session.flush()
        record_audit(
            session, actor, "operator.enabled", target_type="operator", target_id=operator.id
        )
    return OperatorRead.model_validate(operator)
