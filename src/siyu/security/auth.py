"""FastAPI dependencies naming the acting operator (bearer token, or console session + CSRF)
and checking what their role permits.

Every route declares what it needs with `require(...)`:

    @router.get("/members/{member_id}")
    def get_member(principal: Annotated[Principal, require(Permission.members_read)], ...)

`require()` with no permission admits any signed-in operator (their own profile, sign-out).
A route test walks every route of the application and fails on one that declares nothing.
"""

from __future__ import annotations

import hmac
from typing import Annotated, Any

from fastapi import Depends, Request
from starlette.concurrency import run_in_threadpool

from siyu.core.db import Database
from siyu.core.http import DatabaseDep
from siyu.security import errors, service
from siyu.security.enums import Permission
from siyu.security.permissions import allows
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
                raise errors.INVALID_TOKEN("the API token is unknown or revoked")
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


async def _check_csrf(request: Request, principal: Principal) -> None:
    if principal.via == "session" and request.method not in SAFE_METHODS:
        sent = request.headers.get(CSRF_HEADER) or await _form_csrf(request)
        if not sent or not hmac.compare_digest(sent, principal.csrf_token or ""):
            raise errors.CSRF_FAILED("the form is stale or forged; reload the page")


def _check_own_password(principal: Principal) -> None:
    # Signed in with a one-time password: nothing but setting one's own (and signing out)
    # until then. API tokens are not sessions and are never held back.
    if principal.via == "session" and principal.password_change_required:
        raise errors.PASSWORD_CHANGE_REQUIRED(
            "signed in with a one-time password: set your own at /account first"
        )


async def current_principal(
    request: Request, principal: Annotated[Principal | None, Depends(principal_or_none)]
) -> Principal:
    """The acting operator; cookie-authenticated writes must carry the session's CSRF token."""
    if principal is None:
        raise errors.AUTH_REQUIRED("sign in or send an API token")
    await _check_csrf(request, principal)
    _check_own_password(principal)
    return principal


Authenticated = Annotated[Principal, Depends(current_principal)]
"""Signed in, with no permission declared: routes use `require(...)` instead (the route test
refuses a route that checks no permission)."""


def _audit_denial(db: Database, principal: Principal, permission: Permission, route: str) -> None:
    with db.session_scope() as session:
        service.record_audit(
            session,
            principal,
            "security.denied",
            target_type="route",
            target_id=route,
            detail={"permission": permission.value},
        )


class PermissionCheck:
    """The dependency `require()` makes; the route test finds these in each route."""

    def __init__(
        self,
        permissions: tuple[Permission, ...],
        *,
        csrf: bool = True,
        one_time_password: bool = False,
    ) -> None:
        self.permissions = permissions
        self.csrf = csrf
        self.one_time_password = one_time_password

    async def __call__(
        self, request: Request, principal: Annotated[Principal | None, Depends(principal_or_none)]
    ) -> Principal:
        if principal is None:
            raise errors.AUTH_REQUIRED("sign in or send an API token")
        if self.csrf:
            await _check_csrf(request, principal)
        if not self.one_time_password:
            _check_own_password(principal)
        for permission in self.permissions:
            if not allows(principal.role, permission):
                route = getattr(request.scope.get("route"), "path", request.url.path)
                db: Database = request.app.state.database
                await run_in_threadpool(_audit_denial, db, principal, permission, route)
                raise errors.FORBIDDEN(
                    f"your role ({principal.role}) may not do this",
                    data={"permission": permission.value},
                )
        return principal

    def __repr__(self) -> str:
        return f"require({', '.join(p.value for p in self.permissions)})"


def require(*permissions: Permission, csrf: bool = True, one_time_password: bool = False) -> Any:
    """`Annotated[Principal, require(Permission.x)]`: the operator, if their role allows `x`.

    `csrf=False` is for a route that checks the CSRF token itself (a streamed upload must not
    have its body parsed by a dependency). `one_time_password=True` admits a session signed
    in with a one-time password (the pages that let them set their own, and sign out); every
    other route refuses it with `security.password_change_required`.
    """
    return Depends(
        PermissionCheck(tuple(permissions), csrf=csrf, one_time_password=one_time_password)
    )


SignedIn = Annotated[Principal, require()]
"""Any signed-in operator, whatever their role (their own profile, tokens, sign-out)."""
OwnAccount = Annotated[Principal, require(one_time_password=True)]
"""Any signed-in operator, even one who must still replace a one-time password."""
