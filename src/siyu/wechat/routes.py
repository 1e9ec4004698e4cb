"""WeChat's push endpoint: `GET|POST /wechat/push/{appid}` (URL check and messages/events)."""

from __future__ import annotations

from fastapi import FastAPI, Request, Response
from fastapi.responses import PlainTextResponse
from starlette.concurrency import run_in_threadpool

from siyu.core.errors import SiyuError
from siyu.wechat.inbox import MAX_PUSH_BYTES, Inbox

PUSH_PATH = "/wechat/push/{appid}"


def add_routes(app: FastAPI) -> None:
    """Put the push endpoint on the application itself, ahead of every router.

    Not as an included router: FastAPI matches a request against an included router's routes
    twice more (to pick the router, then its route), a sixth of this endpoint's own time; and
    these are the requests that come by the thousand and must be answered within 5 s.
    """
    app.add_api_route(
        PUSH_PATH, verify_url, methods=["GET"], response_class=PlainTextResponse, tags=["wechat"]
    )
    app.add_api_route(PUSH_PATH, receive_push, methods=["POST"], tags=["wechat"])


# The handlers are async and take nothing from dependencies: every dependency or sync handler
# would cost a trip through the thread pool, and this endpoint's throughput is measured
# (bench/push.py).
def _inbox(request: Request) -> Inbox:
    # One per application instance (a test's application starts with its own).
    inbox: Inbox | None = getattr(request.app.state, "wechat_inbox", None)
    if inbox is None:
        inbox = Inbox(request.app.state.database, request.app.state.settings)
        request.app.state.wechat_inbox = inbox
    return inbox


async def verify_url(appid: str, request: Request) -> PlainTextResponse:
    """WeChat's URL check: answers `echostr` when `signature` matches the app's Token."""
    params = dict(request.query_params)
    echostr = await run_in_threadpool(_inbox(request).verify_url, appid, params)
    return PlainTextResponse(echostr)


async def receive_push(appid: str, request: Request) -> Response:
    """A message or event, plaintext or encrypted, XML (OA, MP) or JSON (MP)."""
    body = await _read_body(request)
    answer = await _inbox(request).receive_async(appid, dict(request.query_params), body)
    return Response(answer.body, media_type=answer.media_type)


async def _read_body(request: Request) -> bytes:
    # The middleware refuses a declared length over the limit; this catches chunked bodies.
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_PUSH_BYTES:
            raise SiyuError(
                "request.too_large", f"pushes are limited to {MAX_PUSH_BYTES} bytes", status=413
            )
        chunks.append(chunk)
    return b"".join(chunks)
