"""FastAPI dependencies naming the acting operator: bearer token, or console session + CSRF."""

from __future__ import annotations

import hmac
from typing import Annotated

from fastapi import Depends, Request

from siyu.core.errors import Forbidden, Unauthorized
from siyu.core.http import DatabaseDep
from siyu.security import service
from siyu.security.schemas import Principal

SESSION_COOKIE = "siyu_session"
CSRF_HEADER = "X-CSRF-Token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def principal_or_none(request: Request, db: DatabaseDep) -> Principal | None:
    """The operator behind this request, if any (cached on the request)."""
    if hasattr(request.state, "principal"):
        cached: Principal | None = request.state.principal
        return cached
    principal = None
    header = request.headers.get("Authorization", "")
    with db.session_scope() as session:
        if header.lower().startswith("bearer "):
            principal = service.principal_for_token(session, header[7:].strip())
            if principal is None:
                raise Unauthorized("auth.invalid_token", "the API token is unknown or revoked")
        elif cookie := request.cookies.get(SESSION_COOKIE):
            principal = service.principal_for_session(session, cookie)
    request.state.principal = principal
    return principal


async def _form_csrf(request: Request) -> str | None:
    if request.headers.get("content-type", "").startswith(
        ("application/x-www-form-urlencoded", "multipart/form-data")
    ):
        form = await request.form()
        value = form.get("csrf_token")
        return value if isinstance(value, str) else None
    return None


async def current_principal(
    request: Request, principal: Annotated[Principal | None, Depends(principal_or_none)]
) -> Principal:
    """The acting operator; cookie-authenticated writes must carry the session's CSRF token."""
    if principal is None:
        raise Unauthorized("auth.required", "sign in or send an API token")
    if principal.via == "session" and request.method not in SAFE_METHODS:
        sent = request.headers.get(CSRF_HEADER) or await _form_csrf(request)
        if not sent or not hmac.compare_digest(sent, principal.csrf_token or ""):
            raise Forbidden("auth.csrf_failed", "the form is stale or forged; reload the page")
    return principal


Authenticated = Annotated[Principal, Depends(current_principal)]
