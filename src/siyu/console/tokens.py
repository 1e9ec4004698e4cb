"""Console page of API tokens: create one (its secret shown once), list them, revoke one.
Everyone with `tokens.create` manages their own; owners and admins see the workspace's."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any, ClassVar

from fastapi import APIRouter, Request
from pydantic import ConfigDict, Field
from starlette.responses import RedirectResponse, Response

from siyu.console.forms import ConsoleForm, Posted, form_again, parse_form
from siyu.console.web import ConsoleRoute, error_response, is_htmx, render, translator
from siyu.core.db import Database
from siyu.core.errors import ErrorCode, SiyuError
from siyu.core.http import DatabaseDep
from siyu.security import errors as security_errors
from siyu.security import service as security
from siyu.security.auth import require
from siyu.security.enums import Permission
from siyu.security.schemas import Principal

PAGE, FRAGMENT = "tokens.html", "_tokens_section.html"

router = APIRouter(include_in_schema=False, route_class=ConsoleRoute)
TokenHolder = Annotated[Principal, require(Permission.tokens_create)]


def _tokens_context(db: Database, principal: Principal) -> dict[str, Any]:
    with db.session_scope() as session:
        tokens = security.list_api_tokens(session, principal)
    return {
        "active": "tokens",
        "tokens": tokens,
        "all_tokens": security.sees_all_tokens(principal),
        "created": None,
        "notice": None,
        "form": {},
        "errors": {},
        "form_error": None,
    }


class TokenForm(ConsoleForm):
    """A new token: what it is for (the service refuses a name of spaces only)."""

    model_config = ConfigDict(str_strip_whitespace=True)
    labels: ClassVar[Mapping[str, str]] = {"name": "tokens.field.name"}
    refused_as: ClassVar[ErrorCode] = security_errors.INVALID_TOKEN_NAME
    shown_at: ClassVar[Mapping[str, str]] = {security_errors.INVALID_TOKEN_NAME.code: "name"}

    name: str = Field(min_length=1, max_length=100)


@router.get("/tokens")
def tokens_page(request: Request, principal: TokenHolder, db: DatabaseDep) -> Response:
    return render(request, PAGE, _tokens_context(db, principal))


@router.post("/tokens")
def create_token(
    request: Request, principal: TokenHolder, db: DatabaseDep, posted: Posted
) -> Response:
    """The new token is in this answer only (a redirect would lose it): copy it now."""
    tr = translator(request)
    try:
        form = parse_form(posted, TokenForm, tr)
        with db.session_scope() as session:
            created = security.create_api_token(
                session, principal.operator_id, form.name, actor=principal
            )
    except SiyuError as exc:
        context = _tokens_context(db, principal)
        return form_again(
            request, exc, context, form=TokenForm, sent=posted, page=PAGE, fragment=FRAGMENT
        )
    context = _tokens_context(db, principal)
    context["created"] = created
    return render(request, FRAGMENT if is_htmx(request) else PAGE, context)


@router.post("/tokens/{token_id}/revoke")
def revoke_token(
    request: Request, token_id: int, principal: TokenHolder, db: DatabaseDep
) -> Response:
    try:
        with db.session_scope() as session:
            revoked = security.revoke_api_token(session, principal, token_id)
    except SiyuError as exc:
        return error_response(request, exc, target="#tokens-msg")
    if not is_htmx(request):
        return RedirectResponse("/tokens", status_code=303)
    context = _tokens_context(db, principal)
    context["notice"] = translator(request)("tokens.revoked", name=revoked.name)
    return render(request, FRAGMENT, context)
