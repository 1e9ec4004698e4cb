"""The sandbox WeChat as an ASGI app, standalone or mounted inside siyu under `/sandbox`."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse

from siyu.sandbox import admin, pay_routes, routes
from siyu.sandbox.errors import FrontEndFailure, WeChatError
from siyu.sandbox.pay import PayWorld
from siyu.sandbox.push import PushClient
from siyu.sandbox.snapshot import Keeper
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
    state_file: Path | None = None,
) -> FastAPI:
    """An app serving WeChat's paths over `world`.

    `http` carries pushes and Pay notifications to siyu and the MP client's calls (tests pass
    a mock transport); `siyu_url` is where simulated MP clients log in when an action names no
    URL; `pay` is the Pay side (tests pass one to compress retries or inject faults);
    `state_file` is where the world is kept across restarts (loaded now if it exists; saved by
    `app.state.keeper`, which `start_ticking` starts and the app's shutdown stops).
    """
    world = world if world is not None else SandboxWorld()
    pusher = PushClient(http)
    pay = pay if pay is not None else PayWorld(world, http)
    keeper = Keeper(world, pay, state_file) if state_file is not None else None
    if keeper is not None:
        keeper.load()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        yield
        stop_ticking(app)
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
    app.state.pay = pay
    app.state.keeper = keeper
    app.state.population = Population(world, pusher, siyu_url=siyu_url, pay=pay)
    app.add_exception_handler(WeChatError, _wechat_error)
    app.add_exception_handler(FrontEndFailure, _front_end_failure)
    app.include_router(routes.router)
    app.include_router(pay_routes.router)
    app.include_router(admin.router)
    app.include_router(pay_routes.admin)
    return app


def start_ticking(sandbox: FastAPI) -> None:
    """Served: Pay settles refunds and retries notifications, and the world is saved, in
    threads of their own (tests tick and save by hand)."""
    sandbox.state.pay.start()
    if sandbox.state.keeper is not None:
        sandbox.state.keeper.start()


def stop_ticking(sandbox: FastAPI) -> None:
    """Stop Pay's ticks and save the world a last time (idempotent)."""
    sandbox.state.pay.stop()
    if sandbox.state.keeper is not None:
        sandbox.state.keeper.stop()


def mount_sandbox(
    parent: FastAPI,
    world: SandboxWorld | None = None,
    *,
    siyu_url: str | None = None,
    state_file: Path | None = None,
) -> FastAPI:
    """Serve the sandbox inside `parent` at `/sandbox` (point `Settings.wechat_api_base` there).

    A mounted app's lifespan does not run: the caller calls `stop_ticking` at shutdown.
    """
    sandbox = create_sandbox_app(world, siyu_url=siyu_url, state_file=state_file)
    parent.mount(MOUNT_PREFIX, sandbox)
    start_ticking(sandbox)
    return sandbox
