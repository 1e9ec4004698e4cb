"""The sandbox WeChat as an ASGI app, standalone or mounted inside siyu under `/sandbox`."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse

from siyu.sandbox import admin, pay_routes, routes
from siyu.sandbox.errors import FrontEndFailure, WeChatError
from siyu.sandbox.pay import PayWorld
from siyu.sandbox.push import PushClient
from siyu.sandbox.users import Population
from siyu.sandbox.world import SandboxWorld

MOUNT_PREFIX = "/sandbox"


async def _wechat_error(request: Request, exc: Exception) -> JSONResponse:
    # WeChat answers refusals with HTTP 200 and an errcode body.
    assert isinstance(exc, WeChatError)
    return JSONResponse(exc.body())


async def _front_end_failure(request: Request, exc: Exception) -> HTMLResponse:
    assert isinstance(exc, FrontEndFailure)
    return HTMLResponse(exc.page(), status_code=exc.status)


def create_sandbox_app(
    world: SandboxWorld | None = None,
    *,
    http: httpx.Client | None = None,
    siyu_url: str | None = None,
    pay: PayWorld | None = None,
) -> FastAPI:
    """An app serving WeChat's paths over `world`.

    `http` carries pushes and Pay notifications to siyu and the MP client's calls (tests pass
    a mock transport); `siyu_url` is where simulated MP clients log in when an action names no
    URL; `pay` is the Pay side (tests pass one to compress retries or inject faults).
    """
    world = world if world is not None else SandboxWorld()
    pusher = PushClient(http)
    pay = pay if pay is not None else PayWorld(world, http)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        yield
        if http is None:
            pusher.close()
        pay.stop()

    app = FastAPI(
        title="siyu sandbox WeChat",
        lifespan=lifespan,
        openapi_url="/sandbox-admin/openapi.json",
        docs_url="/sandbox-admin/docs",
        redoc_url=None,
    )
    app.state.world = world
    app.state.pusher = pusher
    app.state.pay = pay
    app.state.population = Population(world, pusher, siyu_url=siyu_url, pay=pay)
    app.add_exception_handler(WeChatError, _wechat_error)
    app.add_exception_handler(FrontEndFailure, _front_end_failure)
    app.include_router(routes.router)
    app.include_router(pay_routes.router)
    app.include_router(admin.router)
    app.include_router(pay_routes.admin)
    return app


def mount_sandbox(
    parent: FastAPI, world: SandboxWorld | None = None, *, siyu_url: str | None = None
) -> FastAPI:
    """Serve the sandbox inside `parent` at `/sandbox` (point `Settings.wechat_api_base` there)."""
    sandbox = create_sandbox_app(world, siyu_url=siyu_url)
    parent.mount(MOUNT_PREFIX, sandbox)
    # A mounted app's lifespan does not run: Pay's retries and refunds tick in a thread.
    sandbox.state.pay.start()
    return sandbox
