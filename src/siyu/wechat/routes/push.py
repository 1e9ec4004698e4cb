"""WeChat's push endpoint: `GET|POST /wechat/push/{appid}` (URL check and messages/events)."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl

from fastapi import FastAPI, Request
from fastapi.responses import PlainTextResponse
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import State
from starlette.routing import Match, Route
from starlette.types import Receive, Scope, Send

from siyu.core.errors import REQUEST_INCOMPLETE, REQUEST_TOO_LARGE
from siyu.wechat.inbox import MAX_PUSH_BYTES, Inbox

PUSH_PATH = "/wechat/push/{appid}"


def add_routes(app: FastAPI) -> None:
    """The URL check as a FastAPI route; the pushes on a plain ASGI route ahead of all others.

    A push is answered by `receive_push` without FastAPI's request handling (the dependency
    solving, the Request, the response wrapping): that was a fifth of what a push cost in the
    process, and these are the requests that come by the thousand and must be answered within
    5 s (bench/push.py). Refusals still go through the application's error handlers.
    """
    app.add_api_route(
        PUSH_PATH,
        verify_url,
        methods=["GET"],
        response_class=PlainTextResponse,
        tags=["wechat"],
        description=(
            "WeChat's URL check. POST on the same path takes WeChat's pushes (XML or JSON, "
            "plaintext or encrypted) and answers `success` or a passive reply; it is a plain "
            "ASGI route, so it is not listed here."
        ),
    )
    # First of all routes, before the documentation's: routes are matched in order. (The
    # application also sends these requests here ahead of its middleware: `push_appid`.)
    app.router.routes.insert(0, push_route)


PUSH_PREFIX = PUSH_PATH.removesuffix("{appid}")


def push_appid(scope: Scope) -> str | None:
    """The appid of a request to `POST /wechat/push/{appid}`, as the route would match it (one
    path segment); None for any other request."""
    path: str = scope["path"]
    if scope["method"] != "POST" or not path.startswith(PUSH_PREFIX) or scope.get("root_path"):
        return None
    appid = path[len(PUSH_PREFIX) :]
    return appid if appid and "/" not in appid else None


class _NamedRoute(Route):
    """A route that puts itself in the scope, as FastAPI's do: the latency metric's label."""

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        match, child_scope = super().matches(scope)
        if match is not Match.NONE:
            child_scope["route"] = self
        return match, child_scope


def _inbox(state: State) -> Inbox:
    # One per application instance (a test's application starts with its own).
    inbox: Inbox | None = getattr(state, "wechat_inbox", None)
    if inbox is None:
        inbox = Inbox(state.database, state.settings)
        state.wechat_inbox = inbox
    return inbox


async def verify_url(appid: str, request: Request) -> PlainTextResponse:
    """WeChat's URL check: answers `echostr` when `signature` matches the app's Token."""
    params = dict(request.query_params)
    echostr = await run_in_threadpool(_inbox(request.app.state).verify_url, appid, params)
    return PlainTextResponse(echostr)


class _PushReceiver:
    """The ASGI endpoint of `POST /wechat/push/{appid}` (a class: Starlette calls a function
    endpoint with a Request, and an ASGI callable as it is)."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        body = await _read_body(receive)
        # As Starlette reads a query: latin-1, blank values kept; a repeated name keeps the last.
        query = scope["query_string"].decode("latin-1")
        params = dict(parse_qsl(query, keep_blank_values=True))
        inbox = _inbox(scope["app"].state)
        answer = await inbox.receive_async(scope["path_params"]["appid"], params, body)
        # The two messages written directly, as Starlette's Response would write them, without
        # building one per push.
        out = answer.body.encode("utf-8")
        headers = [_CONTENT_TYPES[answer.media_type], (b"content-length", b"%d" % len(out))]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": out})


_CONTENT_TYPES = {  # as Starlette sets them: a charset for text/ types only
    "application/xml": (b"content-type", b"application/xml"),
    "application/json": (b"content-type", b"application/json"),
    "text/plain": (b"content-type", b"text/plain; charset=utf-8"),
}


receive_push = _PushReceiver()
push_route = _NamedRoute(PUSH_PATH, receive_push, methods=["POST"])


async def _read_body(receive: Receive) -> bytes:
    # The middleware refuses a declared length over the limit; this catches chunked bodies.
    chunks: list[bytes] = []
    size = 0
    more = True
    while more:
        message: Any = await receive()
        if message["type"] == "http.disconnect":
            raise REQUEST_INCOMPLETE("the client went away mid-body")
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > MAX_PUSH_BYTES:
            raise REQUEST_TOO_LARGE(
                f"pushes are limited to {MAX_PUSH_BYTES} bytes", limit=MAX_PUSH_BYTES
            )
        chunks.append(chunk)
        more = message.get("more_body", False)
    return b"".join(chunks)
