"""The sandbox WeChat as an ASGI app, standalone or mounted inside siyu under `/sandbox`."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from siyu.sandbox import admin, routes
from siyu.sandbox.errors import WeChatError
from siyu.sandbox.push import PushClient
from siyu.sandbox.users import Population
from siyu.sandbox.world import SandboxWorld

MOUNT_PREFIX = "/sandbox"


async def _wechat_error(request: Request, exc: Exception) -> JSONResponse:
    # WeChat answers refusals with HTTP 200 and an errcode body.
    assert isinstance(exc, WeChatError)
    return JSONResponse(exc.body())


def create_sandbox_app(
    world: SandboxWorld | None = None,
    *,
    http: httpx.Client | None = None,
    siyu_url: str | None = None,
) -> FastAPI:
    """An app serving WeChat's paths over `world`.

    `http` carries pushes to siyu and the MP client's calls (tests pass a mock transport);
    `siyu_url` is where simulated MP clients log in when an action names no URL.
    """
    world = world if world is not None else SandboxWorld()
    pusher = PushClient(http)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        yield
        if http is None:
            pusher.close()

    app = FastAPI(
        title="siyu sandbox WeChat",
        lifespan=lifespan,
        openapi_url="/sandbox-admin/openapi.json",
        docs_url="/sandbox-admin/docs",
        redoc_url=None,
    )
    app.state.world = world
    app.state.pusher = pusher
    app.state.population = Population(world, pusher, siyu_url=siyu_url)
    app.add_exception_handler(WeChatError, _wechat_error)
    app.include_router(routes.router)
    app.include_router(admin.router)
    return app


def mount_sandbox(
    parent: FastAPI, world: SandboxWorld | None = None, *, siyu_url: str | None = None
) -> FastAPI:
    """Serve the sandbox inside `parent` at `/sandbox` (point `Settings.wechat_api_base` there)."""
    sandbox = create_sandbox_app(world, siyu_url=siyu_url)
    parent.mount(MOUNT_PREFIX, sandbox)
    return sandbox
