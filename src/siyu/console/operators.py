"""Console pages of operators: add, change role, disable and enable."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any, ClassVar

from fastapi import APIRouter, Form, Request
from pydantic import Field
from starlette.responses import RedirectResponse, Response

from siyu.console.forms import ConsoleForm, Posted, parse_form
from siyu.console.web import ConsoleRoute, error_response, is_htmx, render, translator
from siyu.core.db import Database
from siyu.core.errors import ErrorCode, SiyuError
from siyu.core.http import DatabaseDep
from siyu.core.params import Id
from siyu.security import errors as security_errors
from siyu.security import service as security
from siyu.security.auth import require
from siyu.security.enums import Permission, Role
from siyu.security.schemas import Principal

router = APIRouter(include_in_schema=False, route_class=ConsoleRoute)
OperatorAdmin = Annotated[Principal, require(Permission.operators_manage)]


def _operators_context(db: Database, principal: Principal) -> dict[str, Any]:
    with db.session_scope() as session:
        operators = security.list_operators(session, principal.workspace_id)
    return {
        "active": "operators",
        "operators": operators,
        "roles": list(Role),
        # only an owner makes owners: an admin is not offered a role they cannot grant
        "grantable": [r for r in Role if r != Role.owner or principal.role == Role.owner],
        "notice": None,
        "one_time": None,
        "form": {},
    }


def _operators_answer(
    request: Request, db: DatabaseDep, principal: Principal, notice: str
) -> Response:
    if not is_htmx(request):
        return RedirectResponse("/operators", status_code=303)
    context = _operators_context(db, principal)
    context["notice"] = notice
    return render(request, "_operators_section.html", context)


@router.get("/operators")
def operators_page(request: Request, principal: OperatorAdmin, db: DatabaseDep) -> Response:
    return render(request, "operators.html", _operators_context(db, principal))


class OperatorForm(ConsoleForm):
    """A new operator; the service checks the email and the password's strength."""

    labels: ClassVar[Mapping[str, str]] = {
        "email": "operators.field.email",
        "name": "operators.field.name",
        "password": "operators.field.password",
    }
    field_codes: ClassVar[Mapping[str, ErrorCode]] = {"role": security_errors.INVALID_ROLE}
    not_echoed: ClassVar[frozenset[str]] = frozenset({"password"})

    role: Role  # first: a role refused is `security.invalid_role`, as it always was
    email: str = Field(default="", max_length=254)
    name: str = Field(default="", max_length=100)
    password: str = Field(default="", max_length=1024)


@router.post("/operators")
def add_operator(
    request: Request, principal: OperatorAdmin, db: DatabaseDep, posted: Posted
) -> Response:
    tr = translator(request)
    try:
        form = parse_form(posted, OperatorForm, tr)
        with db.session_scope() as session:
            created = security.add_operator(
                session, principal, form.email, form.password, name=form.name, role=form.role
            )
    except SiyuError as exc:
        return error_response(request, exc, target="#operator-form-msg")
    return _operators_answer(request, db, principal, tr("operators.added", email=created.email))


@router.post("/operators/{operator_id}/role")
def change_operator_role(
    request: Request,
    operator_id: Id,
    principal: OperatorAdmin,
    db: DatabaseDep,
    role: Annotated[str, Form(max_length=32)] = "",
) -> Response:
    try:
        if role not in Role.__members__:
            raise security_errors.INVALID_ROLE(f"unknown role {role!r}")
        with db.session_scope() as session:
            changed = security.change_role(session, principal, operator_id, Role(role))
    except SiyuError as exc:
        return error_response(request, exc, target=f"#operator-{operator_id}-msg")
    notice = translator(request)("operators.role_changed", email=changed.email)
    return _operators_answer(request, db, principal, notice)


@router.post("/operators/{operator_id}/disable")
def disable_operator(
    request: Request, operator_id: Id, principal: OperatorAdmin, db: DatabaseDep
) -> Response:
    try:
        with db.session_scope() as session:
            changed = security.disable_operator(session, principal, operator_id)
    except SiyuError as exc:
        return error_response(request, exc, target=f"#operator-{operator_id}-msg")
    notice = translator(request)("operators.disabled", email=changed.email)
    return _operators_answer(request, db, principal, notice)


@router.post("/operators/{operator_id}/enable")
def enable_operator(
    request: Request, operator_id: Id, principal: OperatorAdmin, db: DatabaseDep
) -> Response:
    try:
        with db.session_scope() as session:
            changed = security.enable_operator(session, principal, operator_id)
    except SiyuError as exc:
        return error_response(request, exc, target=f"#operator-{operator_id}-msg")
    notice = translator(request)("operators.enabled", email=changed.email)
    return _operators_answer(request, db, principal, notice)


@router.post("/operators/{operator_id}/reset-password")
def reset_operator_password(
    request: Request, operator_id: int, principal: OperatorAdmin, db: DatabaseDep
) -> Response:
    """A new one-time password for another operator, shown in this answer only."""
    try:
        with db.session_scope() as session:
            reset = security.reset_password(session, principal, operator_id)
    except SiyuError as exc:
        return error_response(request, exc, target=f"#operator-{operator_id}-msg")
    context = _operators_context(db, principal)
    context["notice"] = translator(request)("operators.reset_done", email=reset.operator.email)
    context["one_time"] = reset.one_time_password
    # Rendered, never redirected: the password must not travel in a URL nor be shown twice.
    page = "_operators_section.html" if is_htmx(request) else "operators.html"
    return render(request, page, context)
