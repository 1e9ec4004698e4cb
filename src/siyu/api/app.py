"""The FastAPI application: routers, error rendering, request ids, metrics, embedded worker."""

from __future__ import annotations

import gc
import inspect
import random
import time
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse
from prometheus_client import CONTENT_TYPE_LATEST, Counter, Gauge, Histogram, generate_latest
from sqlalchemy import text
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from siyu import wiring, worker
from siyu.autoreply.routes import router as autoreply_router
from siyu.community import routes as community_routes
from siyu.console import routers as console_routers
from siyu.console import static_files
from siyu.console.web import error_response
from siyu.core.config import Settings, get_settings, install_settings
from siyu.core.crypto import configure_crypto
from siyu.core.db import Database, database_for, install_database
from siyu.core.errors import SiyuError
from siyu.core.jobs import configure_queue, queue_depth
from siyu.core.logging import configure_logging, get_logger, request_id
from siyu.entries.routes import mp_router as entries_mp_router
from siyu.entries.routes import public as entries_public_router
from siyu.entries.routes import router as entries_router
from siyu.identity.routes import router as identity_router
from siyu.reach.routes import router as reach_router
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
QUEUE_DEPTH = Gauge("siyu_queue_depth", "Jobs waiting in the queue")
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


def _error(status: int, code: str, message: str, data: Any = None) -> JSONResponse:
    ERRORS.labels(code).inc()
    return JSONResponse({"code": code, "message": message, "data": data}, status_code=status)


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
        errors = [
            {"field": ".".join(str(p) for p in e["loc"]), "reason": e["msg"]} for e in exc.errors()
        ]
        first = errors[0] if errors else {"field": "", "reason": "invalid request"}
        return _error(
            422, "request.invalid", f"{first['field']}: {first['reason']}", {"errors": errors}
        )

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        code = f"http.{exc.status_code}"
        if _wants_page(request):  # a person following a stale console link gets a page
            ERRORS.labels(code).inc()
            return error_response(request, SiyuError(code, str(exc.detail), status=exc.status_code))
        return _error(exc.status_code, code, str(exc.detail))

    @app.exception_handler(Exception)
    async def unexpected(_request: Request, exc: Exception) -> Response:
        log.exception("unhandled_error", error=type(exc).__name__)
        return _error(500, "internal", f"internal error (request {request_id.get()})")


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

        async def send_observed(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
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
    """An endpoint's exceptions answered by the application's handlers, as its middleware
    would: a listed one by its handler, anything else by the handler of `Exception` (a 500),
    then raised again for the server to log, as Starlette's ServerErrorMiddleware does."""

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
            handler = listed or handlers.get(Exception) or handlers.get(500)
            if handler is None:
                raise
            request = Request(scope, receive)
            if inspect.iscoroutinefunction(handler):
                response = await handler(request, exc)
            else:
                response = await run_in_threadpool(handler, request, exc)
            await response(scope, receive, send)
            if listed is None:
                raise


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
        consumer = (
            worker.consumer(settings.worker_threads, embedded=True) if embedded_worker else None
        )
        if consumer is not None:
            consumer.start()
        try:
            yield
        finally:
            if consumer is not None:
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

    @app.get("/metrics", tags=["ops"], include_in_schema=False)
    def metrics() -> Response:
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    return app
