"""The FastAPI application: routers, error rendering, request ids, metrics, embedded worker."""

from __future__ import annotations

import gc
import html
import inspect
import random
import time
from collections.abc import AsyncIterator, Iterable, Mapping
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request, Response
from fastapi.dependencies.models import Dependant
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse
from fastapi.routing import APIRoute, iter_route_contexts
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from sqlalchemy import text
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from siyu import wiring, worker
from siyu.analytics.routes import router as analytics_router
from siyu.api.backlog import BacklogCollector
from siyu.audience.routes import router as audience_router
from siyu.autoreply.routes import router as autoreply_router
from siyu.community import routes as community_routes
from siyu.console import routers as console_routers
from siyu.console import static_files
from siyu.console.web import error_response
from siyu.core.config import Settings, get_settings, install_settings
from siyu.core.crypto import configure_crypto
from siyu.core.db import Database, database_for, install_database
from siyu.core.errors import ERRORS_SHOWN, INTERNAL, ErrorBody, SiyuError, all_error_codes
from siyu.core.jobs import configure_queue, queue_depth
from siyu.core.logging import configure_logging, get_logger, request_id
from siyu.entries.routes import mp_router as entries_mp_router
from siyu.entries.routes import public as entries_public_router
from siyu.entries.routes import router as entries_router
from siyu.identity.routes import router as identity_router
from siyu.members import routes as members_routes
from siyu.reach.routes import router as reach_router
from siyu.security.auth import PermissionCheck
from siyu.security.routes import router as security_router
from siyu.wechat import routes as wechat_routes
from siyu.wechat.pay import routes as pay_routes
from siyu.wechat.pay.service import configure_pay
from siyu.wechat.service import MAX_PUSH_BYTES
from siyu.workspaces.routes import router as workspaces_router

MAX_BODY_BYTES = 16 * 1024 * 1024
# Event files uploaded in the console stream to disk and are imported by a job.
MAX_UPLOAD_BYTES = 2 * 1024 * 1024 * 1024
UPLOAD_PATHS = ("/imports",)
# WeChat's pushes are a few kilobytes; the push inbox refuses anything over 1 MB.
PUSH_PATH = "/wechat/push/"
MACHINE_PATHS = (
    "/api",
    "/wechat",
    "/sandbox",
    "/static",
    "/metrics",
    "/healthz",
    "/openapi.json",
    "/docs",
)
log = get_logger(__name__)

REQUEST_LATENCY = Histogram(
    "siyu_http_request_seconds", "HTTP request latency", ["method", "route", "status"]
)
ERRORS = Counter("siyu_errors_total", "Errors answered, by code", ["code"])
QUEUE_DEPTH = Gauge("siyu_queue_depth", "Jobs waiting in the queue (every lane)")
QUEUE_DEPTH.set_function(queue_depth)

SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
    "Content-Security-Policy": (
        "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; "
        "script-src 'self'; frame-ancestors 'none'; form-action 'self'"
    ),
}


def _error(
    status: int,
    code: str,
    message: str,
    data: Any = None,
    headers: Mapping[str, str] | None = None,
) -> JSONResponse:
    ERRORS.labels(code).inc()
    body = {"code": code, "message": message, "data": data}
    return JSONResponse(body, status_code=status, headers=headers)


def _wants_page(request: Request) -> bool:
    path = request.url.path
    return not path.startswith(MACHINE_PATHS) and "text/html" in request.headers.get("accept", "")


def _install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(SiyuError)
    async def siyu_error(request: Request, exc: SiyuError) -> Response:
        if exc.on_refused is not None:
            await run_in_threadpool(exc.refused)
        if exc.code == "auth.required" and not request.url.path.startswith("/api"):
            return RedirectResponse(f"/login?next={request.url.path}", status_code=303)
        return _error(exc.status, exc.code, exc.message, exc.data)

    @app.exception_handler(RequestValidationError)
    async def invalid_request(_request: Request, exc: RequestValidationError) -> Response:
        problems = exc.errors()
        errors = [  # the first hundred, and how many more (as `core.errors.capped`)
            {"field": ".".join(str(p) for p in e["loc"]), "reason": e["msg"]}
            for e in problems[:ERRORS_SHOWN]
        ]
        first = errors[0] if errors else {"field": "", "reason": "invalid request"}
        data = {"errors": errors, "more": max(0, len(problems) - ERRORS_SHOWN)}
        return _error(422, "request.invalid", f"{first['field']}: {first['reason']}", data)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        code = f"http.{exc.status_code}"
        if _wants_page(request):  # a person following a stale console link gets a page
            ERRORS.labels(code).inc()
            page = error_response(request, SiyuError(code, str(exc.detail), status=exc.status_code))
            page.headers.update(exc.headers or {})
            return page
        # 405 names the methods the path takes (`Allow`), as RFC 9110 asks.
        return _error(exc.status_code, code, str(exc.detail), headers=exc.headers)

    @app.exception_handler(Exception)
    async def unexpected(_request: Request, exc: Exception) -> Response:
        # Only what escaped `ObserveRequests` itself gets here (it answers the rest).
        log.exception("unhandled_error", error=type(exc).__name__)
        return _error(500, "internal", "internal error")


def _internal_error(scope: Scope, receive: Receive, rid: str) -> Response:
    """The answer to a request whose handling failed: a page in the operator's language for
    the console, `{code, message, data}` for machines; both name the request id that the log
    line carries, for the operator to quote."""
    request = Request(scope, receive)
    refusal = INTERNAL(f"internal error (request {rid})", data={"request_id": rid}, request_id=rid)
    if _wants_page(request):
        ERRORS.labels(refusal.code).inc()
        try:
            return error_response(request, refusal)
        except Exception:  # the page's own parts may be what failed; say it plainly then
            log.exception("error_page_failed")
            return HTMLResponse(_PLAIN_500.format(rid=html.escape(rid)), status_code=500)
    return _error(500, refusal.code, refusal.message, refusal.data)


_PLAIN_500 = """<!doctype html><html lang="zh-CN"><meta charset="utf-8"><title>系统内部错误</title>
<body style="font-family:sans-serif;max-width:40em;margin:4em auto">
<h1>系统内部错误</h1><p>请稍后重试；如果问题还在，请把请求编号告诉管理员：<code>{rid}</code></p>
<p><a href="/">返回首页</a></p></body></html>"""


class ObserveRequests:
    """Request id, body-size limit, latency metric and security headers, as plain ASGI.

    (Starlette's BaseHTTPMiddleware would run each request in an extra task with a streamed
    copy of the response: a third of the push endpoint's time went there.) Every request of
    the push endpoint comes through here, so the headers are read and written raw, in one pass.
    """

    def __init__(self, app: ASGIApp, settings: Settings) -> None:
        self.app = app
        headers = dict(SECURITY_HEADERS)
        if settings.secure_cookies:
            headers["Strict-Transport-Security"] = "max-age=31536000"
        self.headers = [
            (k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in headers.items()
        ]
        self._latency: dict[tuple[str, str, str], Histogram] = {}  # labelled ones, kept

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        sent_rid = length = None
        for name, value in scope["headers"]:
            if name == b"x-request-id" and sent_rid is None:
                sent_rid = value.decode("latin-1")
            elif name == b"content-length" and length is None:
                length = value.decode("latin-1")
        # Not uuid4: os.urandom lets go of the GIL, a hand-off to another thread per request.
        rid = (sent_rid or f"{random.getrandbits(128):032x}")[:64]
        token = request_id.set(rid)
        started = time.perf_counter()
        status = 500
        answered = False

        async def send_observed(message: Message) -> None:
            nonlocal status, answered
            if message["type"] == "http.response.start":
                status, answered = message["status"], True
                message["headers"] = self._with_headers(message.get("headers", ()), rid)
            await send(message)

        try:
            limit = _body_limit(scope["path"])
            if length is not None and (not length.isdigit() or int(length) > limit):
                refusal = _error(
                    413, "request.too_large", f"request bodies are limited to {limit} bytes"
                )
                await refusal(scope, receive, send_observed)
            else:
                await self.app(scope, receive, send_observed)
        except Exception as exc:
            # Answered here, inside the request's context: the log line and the answer carry
            # its id (Starlette's last-resort handler runs after the id is gone).
            log.exception("unhandled_error", error=type(exc).__name__)
            if answered:  # the response had begun; nothing can be said any more
                raise
            await _internal_error(scope, receive, rid)(scope, receive, send_observed)
        finally:
            request_id.reset(token)
            route = scope.get("route")
            key = (scope["method"], getattr(route, "path", "unmatched"), str(status))
            latency = self._latency.get(key)
            if latency is None:
                latency = self._latency[key] = REQUEST_LATENCY.labels(*key)
            latency.observe(time.perf_counter() - started)

    def _with_headers(
        self, headers: Iterable[tuple[bytes, bytes]], rid: str
    ) -> list[tuple[bytes, bytes]]:
        """The response's headers with our request id, and the security headers it has not
        set itself (a page may set its own policy)."""
        out = [(k, v) for k, v in headers if k.lower() != b"x-request-id"]
        present = {k.lower() for k, _ in out}
        out += [(k, v) for k, v in self.headers if k not in present]
        out.append((b"x-request-id", rid.encode("latin-1")))
        return out


class _PushFirst:
    """`POST /wechat/push/{appid}` straight to its endpoint, ahead of the framework's layers.

    A push is observed (`ObserveRequests`: request id, size limit, latency, headers) and its
    refusals answered by the application's own error handlers, as any request's are; what it
    skips is the framework's middleware and routing (the error middlewares, telemetry, the
    exit stack, the route table), a fifth of the CPU a push cost its process (bench/push.py,
    profiled). Every other request goes to the application's stack as before.
    """

    def __init__(self, app: FastAPI, stack: ASGIApp, settings: Settings) -> None:
        self.stack = stack
        self.push = ObserveRequests(_Refusals(app, wechat_routes.receive_push), settings)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and (appid := wechat_routes.push_appid(scope)) is not None:
            scope["path_params"] = {"appid": appid}
            scope["route"] = wechat_routes.push_route  # what routing would have set
            await self.push(scope, receive, send)
        else:
            await self.stack(scope, receive, send)


class _Refusals:
    """An endpoint's exceptions answered as the rest of the application answers them: a listed
    one by its handler, anything else logged and answered 500 with the request id to quote
    (`_internal_error`, as `ObserveRequests` does for every other route)."""

    def __init__(self, app: FastAPI, endpoint: ASGIApp) -> None:
        self.app = app
        self.endpoint = endpoint

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        started = False

        async def send_tracked(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.endpoint(scope, receive, send_tracked)
        except Exception as exc:
            if started:
                raise
            handlers = self.app.exception_handlers
            listed = next(
                (
                    handlers[kind]
                    for kind in type(exc).__mro__
                    if kind in handlers and kind is not Exception
                ),
                None,
            )
            if listed is None:
                # As `ObserveRequests` answers any other request's failure: the id to quote.
                log.exception("unhandled_error", error=type(exc).__name__)
                rid = request_id.get() or ""
                await _internal_error(scope, receive, rid)(scope, receive, send)
                return
            request = Request(scope, receive)
            if inspect.iscoroutinefunction(listed):
                response = await listed(request, exc)
            else:
                response = await run_in_threadpool(listed, request, exc)
            await response(scope, receive, send)


def _push_first(app: FastAPI, settings: Settings) -> None:
    """Put `_PushFirst` in front of the stack the application builds (on its first request)."""
    build = app.build_middleware_stack

    def build_with_push_first() -> ASGIApp:
        return _PushFirst(app, build(), settings)

    app.build_middleware_stack = build_with_push_first  # type: ignore[method-assign]


_heap_frozen = False


def _freeze_startup_heap() -> None:
    """Put what start-up made (modules, models, routes: some 200,000 objects) out of the cyclic
    collector's sight, once per process. Else every full collection walks them all again:
    about 0.1 s in which no request is answered, a few times a minute under load."""
    global _heap_frozen  # noqa: PLW0603 - once per process, like the engine
    if not _heap_frozen:
        _heap_frozen = True
        gc.collect()
        gc.freeze()


_WRITES = {"POST", "PUT", "PATCH", "DELETE"}
_REFUSALS = {
    400: "Bad request",
    401: "Not signed in",
    403: "Not allowed",
    404: "Not found",
    409: "Conflict with the current state",
    413: "Request too large",
    422: "Invalid input",
    429: "Too many requests",
}


_ERROR_CONTENT = {"content": {"application/json": {"schema": ErrorBody.model_json_schema()}}}


def _requires_sign_in(dependant: Dependant) -> bool:
    if isinstance(dependant.call, PermissionCheck) or any(
        p.name == "authorization" for p in dependant.header_params
    ):
        return True
    return any(_requires_sign_in(sub) for sub in dependant.dependencies)


def _area_statuses() -> dict[str, set[int]]:
    """The client-error statuses each area's listed refusals use (`community` → 404, 409…)."""
    found: dict[str, set[int]] = {}
    for entry in all_error_codes():
        if 400 <= entry.status < 500:
            found.setdefault(entry.code.split(".")[0], set()).add(entry.status)
    return found


def _document_refusals(app: FastAPI) -> None:
    """List in the OpenAPI document the 4xx answers each operation may give, each with the
    error body (`{code, message, data}`) that they all share.

    The statuses follow from the route: 422 for any input (FastAPI's own 422 schema, a
    `detail` list, is not what siyu answers), 401 and 403 behind a sign-in, 404 for a path
    that names something, 413 with a body, and for a write the statuses of its area's listed
    refusals (`errors.py`)."""
    areas = _area_statuses()
    # Included routers' routes are resolved through contexts (as the application serves them).
    for context in iter_route_contexts(app.routes):
        route = context.original_route
        if not isinstance(route, APIRoute) or not route.include_in_schema:
            continue
        dependant = route.dependant
        statuses: set[int] = set()
        if dependant.path_params or dependant.query_params or route.body_field:
            statuses.add(422)
        if _requires_sign_in(dependant):
            statuses |= {401, 403}
        if dependant.path_params:
            statuses.add(404)
        if route.body_field is not None:
            statuses.add(413)
        if (route.methods or set()) & _WRITES:
            module = route.endpoint.__module__.removeprefix("siyu.").split(".")
            area = "pay" if module[:2] == ["wechat", "pay"] else module[0]
            statuses |= areas.get(area, set()) | {400}
        # The context's own table: an included route's responses are copied at inclusion.
        # (The table's `model` is read at inclusion too, so the schema is given as content.)
        responses: dict[int | str, Any] = context.responses
        for status in sorted(statuses):
            responses.setdefault(status, {"description": _REFUSALS[status], **_ERROR_CONTENT})


def _body_limit(path: str) -> int:
    if path.startswith(PUSH_PATH):
        return MAX_PUSH_BYTES
    return MAX_UPLOAD_BYTES if path in UPLOAD_PATHS else MAX_BODY_BYTES


def create_app(
    settings: Settings | None = None,
    database: Database | None = None,
    *,
    embedded_worker: bool = False,
) -> FastAPI:
    """The siyu web application; `embedded_worker` runs Huey consumer threads beside it."""
    settings = settings or get_settings()
    configure_logging(settings)
    configure_crypto(settings)
    configure_queue(settings)
    install_settings(settings)
    configure_pay(settings)
    db = database or database_for(settings)
    install_database(db)
    wiring.wire()

    @asynccontextmanager
    async def lifespan(running: FastAPI) -> AsyncIterator[None]:
        _freeze_startup_heap()
        consumers = (
            [
                worker.consumer(settings.worker_threads, embedded=True),
                worker.lane_consumer(settings.wechat_threads),
            ]
            if embedded_worker
            else []
        )
        for consumer in consumers:
            consumer.start()
        try:
            yield
        finally:
            for consumer in consumers:
                consumer.stop(graceful=True)
            gateway = getattr(running.state, "wechat_gateway", None)
            if gateway is not None:  # the MP routes' HTTP client to WeChat
                gateway.close()

    app = FastAPI(
        title="siyu",
        version="0.1.0",
        lifespan=lifespan,
        description="私域运营平台 API — members, timeline, merges, events.",
    )
    app.state.settings = settings
    app.state.database = db
    _install_error_handlers(app)
    app.add_middleware(ObserveRequests, settings=settings)
    # WeChat's pushes and notifications first: routes are matched in order, and these are the
    # requests that come by the thousand and must be answered within WeChat's 5 s.
    wechat_routes.add_routes(app)
    _push_first(app, settings)
    for router in (
        pay_routes.notify_router,
        identity_router,
        workspaces_router,
        security_router,
        wechat_routes.mp_router,
        entries_router,
        entries_public_router,
        entries_mp_router,
        pay_routes.mp_router,
        pay_routes.router,
        community_routes.router,
        community_routes.members_router,
        community_routes.mp_router,
        reach_router,
        autoreply_router,
        members_routes.router,
        audience_router,
        analytics_router,
        # Last, the console's pages (none under /api), area by area in their own order.
        *console_routers,
    ):
        app.include_router(router)
    app.mount("/static", static_files(), name="static")

    @app.get("/healthz", tags=["ops"])
    def healthz() -> dict[str, Any]:
        with db.session_scope() as session:
            session.execute(text("SELECT 1"))
        return {"status": "ok", "database": db.dialect}

    # The backlog is read from this app's database: a registry of its own, beside the
    # process-wide one (an app per test would otherwise register it again and again).
    backlog = CollectorRegistry(auto_describe=False)
    backlog.register(BacklogCollector(db))

    @app.get("/metrics", tags=["ops"], include_in_schema=False)
    def metrics() -> Response:
        body = generate_latest() + generate_latest(backlog)
        return Response(body, media_type=CONTENT_TYPE_LATEST)

    _document_refusals(app)
    return app
