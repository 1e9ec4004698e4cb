"""Console plumbing: templates, per-request language, HTML error pages, cookies, safe redirects."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Callable, Coroutine, Mapping
from functools import partial
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit
from zoneinfo import ZoneInfo

import orjson
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from fastapi.templating import Jinja2Templates
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from siyu.console.i18n import LANGUAGES, Translator, format_datetime, language_of
from siyu.core.config import Settings
from siyu.core.errors import REQUEST_INVALID, SiyuError
from siyu.core.money import format_yuan
from siyu.security.enums import Permission
from siyu.security.schemas import Principal
from siyu.security.service import allows

TEMPLATES = Path(__file__).parent / "templates"
LOGIN_CSRF_COOKIE = "siyu_login_csrf"
PROPS_SHOWN = 160

_env = Environment(
    loader=FileSystemLoader(TEMPLATES),
    autoescape=select_autoescape(("html",)),
    undefined=StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)
templates = Jinja2Templates(env=_env)


def is_htmx(request: Request) -> bool:
    """An htmx call wanting a fragment; a history restore after a cache miss wants the page."""
    headers = request.headers
    return (
        headers.get("HX-Request") == "true" and headers.get("HX-History-Restore-Request") != "true"
    )


def settings_of(request: Request) -> Settings:
    value: Settings = request.app.state.settings
    return value


def translator(request: Request) -> Translator:
    return Translator(language_of(request))


def here(request: Request) -> str:
    """The page the operator is looking at (for htmx calls, the page that made them)."""
    if is_htmx(request) and (current := request.headers.get("HX-Current-URL")):
        parts = urlsplit(current)
        return safe_next(parts.path + (f"?{parts.query}" if parts.query else ""))
    query = request.url.query
    return request.url.path + (f"?{query}" if query else "")


def safe_next(value: str | None) -> str:
    """A same-site path to go to after login; anything that could leave the site becomes `/`."""
    if not value or not value.startswith("/") or value.startswith("//"):
        return "/"
    if "\\" in value or any(ord(ch) < 0x20 or ord(ch) == 0x7F for ch in value):
        return "/"
    parts = urlsplit(value)
    if parts.scheme or parts.netloc:
        return "/"
    return value


def format_props(props: Mapping[str, Any]) -> str:
    if not props:
        return ""
    text = orjson.dumps(props).decode()
    return text if len(text) <= PROPS_SHOWN else text[: PROPS_SHOWN - 1] + "…"


def format_size(size: int) -> str:
    value = float(size)
    for unit in ("B", "KiB", "MiB"):
        if value < 1024:
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.2f} GiB"


def display_zone(settings: Settings) -> ZoneInfo:
    """The zone operators read times in: the configured one (Beijing, `clock.BEIJING`, unless
    a deployment says otherwise)."""
    return ZoneInfo(settings.display_timezone)


def render(
    request: Request,
    name: str,
    context: Mapping[str, Any] | None = None,
    *,
    status: int = 200,
    headers: Mapping[str, str] | None = None,
) -> Response:
    """A template with what every page needs: translator, operator, CSRF token, local times."""
    settings = settings_of(request)
    tr = translator(request)
    principal: Principal | None = getattr(request.state, "principal", None)
    zone = display_zone(settings)
    base: dict[str, Any] = {
        "t": tr,
        "_": tr,
        "lang": tr.lang,
        "languages": LANGUAGES,
        "principal": principal,
        "csrf_token": (principal.csrf_token or "") if principal else "",
        "dt": partial(format_datetime, zone=zone),
        "timezone": settings.display_timezone,
        "here": here(request),
        "active": "",
        "props": format_props,
        "size": format_size,
        "yuan": format_yuan,
        "quote": partial(quote, safe=""),
        "sandbox_on": settings.sandbox,
        # `can("audit.read")`: whether to show a link or a form this operator may use.
        "can": lambda name: principal is not None and allows(principal.role, Permission(name)),
    }
    # Pages hold personal data and come as a page or a fragment from one URL: never cache them.
    sent = {"Cache-Control": "no-store", "Vary": "HX-Request", **(headers or {})}
    return templates.TemplateResponse(
        request, name, {**base, **(context or {})}, status_code=status, headers=sent
    )


# Refusals that send the operator to a page (and back after): signing in, and replacing a
# one-time password before any other page.
_SENT_ELSEWHERE = {
    "auth.required": ("/login", 401),
    "security.password_change_required": ("/account", 403),
}


def error_response(request: Request, exc: SiyuError, *, target: str = "#flash") -> Response:
    """A refusal as the console shows it: a page, or for htmx a message in `target`."""
    exc.refused()  # what the refusal leaves behind (an audit entry), its transaction over
    if exc.code in _SENT_ELSEWHERE:
        page, status = _SENT_ELSEWHERE[exc.code]
        target = f"{page}?next={quote(here(request), safe='')}"
        if is_htmx(request):
            return Response(status_code=status, headers={"HX-Redirect": target})
        return RedirectResponse(target, status_code=303)
    tr = translator(request)
    context = {"message": tr.refusal(exc), "code": exc.code, "status": exc.status}
    if is_htmx(request):
        headers = {"HX-Retarget": target, "HX-Reswap": "innerHTML"}
        return render(request, "_error.html", context, status=exc.status, headers=headers)
    return render(request, "error.html", context, status=exc.status)


class ConsoleRoute(APIRoute):
    """Renders refusals as console pages (Chinese or English) instead of JSON."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def guarded(request: Request) -> Response:
            try:
                return await handler(request)
            except SiyuError as exc:
                return error_response(request, exc)
            except RequestValidationError as exc:
                detail = "; ".join(str(e.get("msg", "")) for e in exc.errors())
                return error_response(request, REQUEST_INVALID(detail))

        return guarded


def set_cookie(
    response: Response, settings: Settings, name: str, value: str, *, max_age: int, path: str = "/"
) -> None:
    response.set_cookie(
        name,
        value,
        max_age=max_age,
        path=path,
        httponly=True,
        samesite="lax",
        secure=settings.secure_cookies,
    )


def _login_signature(settings: Settings, nonce: str) -> str:
    key = settings.secret_key.get_secret_value().encode()
    return hmac.new(key, f"login-csrf:{nonce}".encode(), hashlib.sha256).hexdigest()[:32]


def issue_login_csrf(settings: Settings) -> str:
    """A signed token for the double-submit cookie of the login form."""
    nonce = secrets.token_urlsafe(18)
    return f"{nonce}.{_login_signature(settings, nonce)}"


def valid_login_csrf(settings: Settings, cookie: str | None, field: str | None) -> bool:
    """The form field matches the cookie, and the cookie is one we signed."""
    if not cookie or not field or not hmac.compare_digest(cookie, field):
        return False
    nonce, _, signature = cookie.partition(".")
    return hmac.compare_digest(signature, _login_signature(settings, nonce))


def valid_session_csrf(principal: Principal, sent: str | None) -> bool:
    """What `current_principal` checks, for routes that must not let it read the body."""
    if principal.via != "session":
        return True
    return bool(sent) and hmac.compare_digest(sent or "", principal.csrf_token or "")
