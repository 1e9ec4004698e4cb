"""Console pages of the operator's own session: sign in, sign out, language, my account."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, ClassVar
from urllib.parse import quote

from fastapi import APIRouter, Depends, Form, Query, Request
from pydantic import Field
from starlette.responses import RedirectResponse, Response

from siyu.console.forms import ConsoleForm, Posted, parse_form
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
from siyu.security.auth import SESSION_COOKIE, OwnAccount, principal_or_none
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
    if signed_in.principal.password_change_required:
        # A one-time password: their own first, then the page they came for.
        target = f"/account?next={quote(target, safe='')}"
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
    request: Request, principal: OwnAccount, db: DatabaseDep, settings: SettingsDep
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


def _account_page(
    request: Request,
    *,
    next_url: str = "",
    notice: str | None = None,
    error: SiyuError | None = None,
    problems: Mapping[str, str] | None = None,
    status: int = 200,
) -> Response:
    shown = None
    if error is not None:
        shown = {"code": error.code, "message": translator(request).refusal(error)}
    context = {
        "active": "account",
        "next": next_url,
        "notice": notice,
        "form_error": shown,
        "errors": dict(problems or {}),
        "min_password": security.MIN_PASSWORD,
    }
    return render(request, "account.html", context, status=status)


@router.get("/account")
def account_page(request: Request, principal: OwnAccount, next_url: NextParam = "") -> Response:
    """The operator's own page: who they are, what their role permits, their password."""
    changed = request.query_params.get("changed") == "1"
    notice = translator(request)("account.password.changed") if changed else None
    return _account_page(request, next_url=safe_next(next_url) if next_url else "", notice=notice)


class PasswordForm(ConsoleForm):
    """The operator's own password: the current one, and the new one typed twice."""

    labels: ClassVar[Mapping[str, str]] = {
        "current": "account.password.current",
        "new": "account.password.new",
        "confirm": "account.password.confirm",
    }
    not_echoed: ClassVar[frozenset[str]] = frozenset({"current", "new", "confirm"})

    current: str = Field(min_length=1, max_length=security.MAX_PASSWORD)
    new: str = Field(min_length=1, max_length=security.MAX_PASSWORD)
    confirm: str = Field(min_length=1, max_length=security.MAX_PASSWORD)
    next_url: str = Field(default="", max_length=2048, validation_alias="next")


@router.post("/account/password")
def change_password(
    request: Request, principal: OwnAccount, db: DatabaseDep, posted: Posted
) -> Response:
    """Change one's own password; the operator's other sessions end, this one stays."""
    tr = translator(request)
    next_url = posted.get("next")
    target = safe_next(next_url) if isinstance(next_url, str) and next_url else ""
    try:
        form = parse_form(posted, PasswordForm, tr)
        if form.new != form.confirm:
            raise security_errors.PASSWORD_MISMATCH("the two new passwords differ")
        with db.session_scope() as session:
            security.change_password(
                session,
                principal,
                form.current,
                form.new,
                session_token=request.cookies.get(SESSION_COOKIE),
            )
    except SiyuError as exc:
        exc.refused()  # a wrong current password counts towards the sign-in lockout
        problems = getattr(exc, "errors", None)
        return _account_page(
            request, next_url=target, error=exc, problems=problems, status=exc.status
        )
    # Post/redirect/get: a reload does not post the passwords again.
    return RedirectResponse(target or "/account?changed=1", status_code=303)
