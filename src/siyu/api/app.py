"""The FastAPI application: routers, error rendering, request ids, metrics, embedded worker."""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse
from prometheus_client import CONTENT_TYPE_LATEST, Counter, Gauge, Histogram, generate_latest
from sqlalchemy import text
from starlette.exceptions import HTTPException as StarletteHTTPException

from siyu import worker
from siyu.console.routes import router as console_router
from siyu.console.routes import static_files
from siyu.console.web import error_response
from siyu.core.config import Settings, get_settings
from siyu.core.crypto import configure_crypto
from siyu.core.db import Database, database_for, install_database
from siyu.core.errors import SiyuError
from siyu.core.jobs import configure_queue, queue_depth
from siyu.core.logging import configure_logging, get_logger, request_id
from siyu.identity.routes import router as identity_router
from siyu.security.routes import router as security_router
from siyu.wechat.inbox import MAX_PUSH_BYTES
from siyu.wechat.mp_routes import router as mp_router
from siyu.wechat.pay import routes as pay_routes
from siyu.wechat.pay.flows import configure_pay
from siyu.wechat.routes import router as wechat_router
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


def _install_middleware(app: FastAPI, settings: Settings) -> None:
    @app.middleware("http")
    async def observe(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        rid = request.headers.get("X-Request-ID") or uuid.uuid4().hex
        token = request_id.set(rid[:64])
        started = time.perf_counter()
        try:
            length = request.headers.get("content-length")
            limit = MAX_UPLOAD_BYTES if request.url.path in UPLOAD_PATHS else MAX_BODY_BYTES
            if request.url.path.startswith(PUSH_PATH):
                limit = MAX_PUSH_BYTES
            if length is not None and (not length.isdigit() or int(length) > limit):
                response: Response = _error(
                    413, "request.too_large", f"request bodies are limited to {limit} bytes"
                )
            else:
                response = await call_next(request)
        finally:
            request_id.reset(token)
        route = request.scope.get("route")
        REQUEST_LATENCY.labels(
            request.method, getattr(route, "path", "unmatched"), str(response.status_code)
        ).observe(time.perf_counter() - started)
        response.headers["X-Request-ID"] = rid[:64]
        for name, value in SECURITY_HEADERS.items():
            response.headers.setdefault(name, value)
        if settings.secure_cookies:
            response.headers.setdefault("Strict-Transport-Security", "max-age=31536000")
        return response


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
    configure_pay(settings)
    db = database or database_for(settings)
    install_database(db)

    @asynccontextmanager
    async def lifespan(running: FastAPI) -> AsyncIterator[None]:
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
    _install_middleware(app, settings)
    for router in (
        identity_router,
        workspaces_router,
        security_router,
        wechat_router,
        mp_router,
        pay_routes.notify_router,
        pay_routes.mp_router,
        pay_routes.router,
        console_router,
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
