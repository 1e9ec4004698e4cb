"""Console pages of the operator's own session: sign in, sign out, language, my account."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Form, Query, Request
from starlette.responses import RedirectResponse, Response

from siyu.console.i18n import LANG_COOKIE, LANGUAGES
from siyu.console.web import (
    LOGIN_CSRF_COOKIE,
    ConsoleRoute,
    issue_login_csrf,
    render,
    safe_next,
    set_cookie,
    translator,
    valid_login_csrf,
)
from siyu.core.config import Settings
from siyu.core.errors import SiyuError
from siyu.core.http import DatabaseDep, SettingsDep
from siyu.security import errors as security_errors
from siyu.security import service as security
from siyu.security.auth import SESSION_COOKIE, SignedIn, principal_or_none
from siyu.security.schemas import Principal

LOGIN_CSRF_SECONDS = 2 * 3600
LANG_SECONDS = 365 * 24 * 3600

router = APIRouter(include_in_schema=False, route_class=ConsoleRoute)
MaybePrincipal = Annotated[Principal | None, Depends(principal_or_none)]
NextParam = Annotated[str, Query(alias="next", max_length=2048)]


def _login_page(
    request: Request,
    settings: Settings,
    *,
    next_url: str,
    email: str = "",
    error: SiyuError | None = None,
    status: int = 200,
) -> Response:
    token = issue_login_csrf(settings)
    shown = None
    if error is not None:
        shown = {
            "code": error.code,
            "message": translator(request).refusal(error),
        }
    response = render(
        request,
        "login.html",
        {
            "login_csrf": token,
            "next": next_url,
            "email": email,
            "error": shown,
        },
        status=status,
    )
    set_cookie(
        response, settings, LOGIN_CSRF_COOKIE, token, max_age=LOGIN_CSRF_SECONDS, path="/login"
    )
    return response


@router.get("/login")
def login_form(
    request: Request, settings: SettingsDep, principal: MaybePrincipal, next_url: NextParam = "/"
) -> Response:
    if principal is not None:
        return RedirectResponse(safe_next(next_url), status_code=303)
    return _login_page(request, settings, next_url=safe_next(next_url))


@router.post("/login")
def login(
    request: Request,
    db: DatabaseDep,
    settings: SettingsDep,
    email: Annotated[str, Form(max_length=254)] = "",
    password: Annotated[str, Form(max_length=1024)] = "",
    csrf_token: Annotated[str, Form(max_length=256)] = "",
    next_url: Annotated[str, Form(alias="next", max_length=2048)] = "/",
) -> Response:
    target = safe_next(next_url)
    if not valid_login_csrf(settings, request.cookies.get(LOGIN_CSRF_COOKIE), csrf_token):
        refused = security_errors.CSRF_FAILED("the sign-in form is stale; reload it")
        return _login_page(
            request, settings, next_url=target, email=email, error=refused, status=403
        )
    client = request.client.host if request.client else None
    try:
        with db.session_scope() as session:
            signed_in = security.sign_in(
                session,
                email,
                password,
                hours=settings.session_hours,
                client=client,
                previous_token=request.cookies.get(SESSION_COOKIE),
            )
    except SiyuError as exc:
        exc.refused()  # a wrong password counts towards the lockout, apart from this attempt
        return _login_page(
            request, settings, next_url=target, email=email, error=exc, status=exc.status
        )
    response = RedirectResponse(target, status_code=303)
    set_cookie(
        response,
        settings,
        SESSION_COOKIE,
        signed_in.session.token,
        max_age=settings.session_hours * 3600,
    )
    response.delete_cookie(LOGIN_CSRF_COOKIE, path="/login")
    return response


@router.post("/logout")
def logout(
    request: Request, principal: SignedIn, db: DatabaseDep, settings: SettingsDep
) -> Response:
    if token := request.cookies.get(SESSION_COOKIE):
        with db.session_scope() as session:
            security.end_session(session, token)
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(
        SESSION_COOKIE, path="/", httponly=True, samesite="lax", secure=settings.secure_cookies
    )
    return response


@router.get("/lang/{lang}")
def switch_language(lang: str, settings: SettingsDep, next_url: NextParam = "/") -> Response:
    response = RedirectResponse(safe_next(next_url), status_code=303)
    if lang in LANGUAGES:
        set_cookie(response, settings, LANG_COOKIE, lang, max_age=LANG_SECONDS)
    return response


@router.get("/account")
def account_page(request: Request, principal: SignedIn) -> Response:
    """The operator's own page: who they are and what their role permits."""
    return render(request, "account.html", {"active": "account"})
