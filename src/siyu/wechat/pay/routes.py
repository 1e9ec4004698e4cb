"""Pay's HTTP surface: WeChat Pay's notifications, the Mini Program's payment parameters,
and the staff API (merchants, orders, refunds, refused notifications, reconciliations)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Header, Query
from fastapi.responses import JSONResponse, Response
from sqlalchemy.exc import SQLAlchemyError
from starlette.concurrency import run_in_threadpool
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from siyu.core.db import Database
from siyu.core.errors import REQUEST_INCOMPLETE, SiyuError
from siyu.core.http import DatabaseDep, SettingsDep
from siyu.core.logging import get_logger
from siyu.core.params import Id, Offset
from siyu.security.auth import require
from siyu.security.enums import Permission
from siyu.security.schemas import Principal
from siyu.wechat import service as wechat
from siyu.wechat.pay import errors, service
from siyu.wechat.pay.enums import OrderStatus
from siyu.wechat.pay.schemas import (
    MerchantCreate,
    MerchantRead,
    NotificationLogRead,
    OrderCreate,
    OrderRead,
    PaymentParams,
    ReconciliationRead,
    RefundCreate,
    RefundRead,
)

MAX_NOTIFICATION_BYTES = 64 * 1024
DEMO_AMOUNT = 990  # fen: the sandbox demo checkout's deposit
log = get_logger(__name__)

notify_router = APIRouter(prefix="/wechat/pay", tags=["wechat pay"])
mp_router = APIRouter(prefix="/api/mp", tags=["mini program"])
PayReader = Annotated[Principal, require(Permission.payments_read)]
PayManager = Annotated[Principal, require(Permission.payments_manage)]
Refunder = Annotated[Principal, require(Permission.payments_refund)]
# A client's key for one staff refund (asked again, the same refund): a UUID fits.
IdempotencyKey = Annotated[
    str | None,
    Header(alias="Idempotency-Key", min_length=1, max_length=64, pattern=r"^[\x21-\x7e]+$"),
]
MerchantAdmin = Annotated[Principal, require(Permission.apps_manage)]

router = APIRouter(prefix="/api/pay", tags=["pay"])


# --- WeChat Pay → siyu -----------------------------------------------------------------------


def _fail(status: int, message: str) -> JSONResponse:
    # WeChat's failure answer: 4xx/5xx with {"code": "FAIL", "message": …}; it retries later.
    return JSONResponse({"code": "FAIL", "message": message}, status_code=status)


def _receive(db: Database, mchid: str, headers: dict[str, str], body: bytes) -> Response:
    try:
        try:
            with db.session_scope() as session:
                outcome = service.handle_notification(session, mchid, headers, body)
        except SiyuError as exc:
            service.NOTIFICATIONS.labels("refused").inc()
            log.warning("pay_notification_refused", mchid=mchid, code=exc.code, status=exc.status)
            # The refusal rolled everything back; only the log line for staff is written.
            with db.session_scope() as session:
                service.log_refusal(session, mchid, exc, body)
            return _fail(exc.status, f"{exc.code}: {exc.message}")
    except SQLAlchemyError as exc:
        # The database failed (down, cut, full): nothing was applied. A clean 503 with WeChat's
        # FAIL body, on a connection that stays usable: WeChat Pay sends it again later (15 s,
        # 15 s, 30 s, … for 24 h, fact sheet §5), and the order's row makes that idempotent.
        service.NOTIFICATIONS.labels("store_failed").inc()
        log.error("pay_notification_store_failed", mchid=mchid, error=type(exc).__name__)
        return _fail(503, "storage unavailable, retry later")
    log.info("pay_notification", mchid=mchid, outcome=outcome)
    return Response(status_code=204)


class _NotifyReceiver:
    """The ASGI endpoint of `POST /wechat/pay/notify/{mchid}`: WeChat Pay's notifications
    (payments, refunds), verified, opened, applied once.

    204 acknowledges (a repeated delivery too); a refusal answers FAIL with a 4xx status and
    changes nothing but the log of refused notifications; a database failure answers 503,
    which WeChat Pay retries. A plain ASGI endpoint, as the push endpoint is: FastAPI's
    request handling (dependencies, Request, response wrapping) was a large share of what a
    notification cost in the process (bench/pay.py); refusals still go through the
    application's error handlers.
    """

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        body = await _read_body(receive)
        if body is None:
            await _fail(413, "too large")(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        db: Database = scope["app"].state.database
        mchid = str(scope["path_params"]["mchid"])[:32]
        answer = await run_in_threadpool(_receive, db, mchid, headers, body)
        await answer(scope, receive, send)


async def _read_body(receive: Receive) -> bytes | None:
    """The body, or None past MAX_NOTIFICATION_BYTES; a sender gone mid-body is refused as
    the push endpoint refuses it (request.incomplete, no traceback), nothing applied."""
    chunks: list[bytes] = []
    size, more = 0, True
    while more:
        message: Any = await receive()
        if message["type"] == "http.disconnect":
            raise REQUEST_INCOMPLETE("the client went away mid-body")
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > MAX_NOTIFICATION_BYTES:
            return None
        chunks.append(chunk)
        more = message.get("more_body", False)
    return b"".join(chunks)


notify_router.routes.append(
    Route(f"{notify_router.prefix}/notify/{{mchid}}", _NotifyReceiver(), methods=["POST"])
)


# --- the Mini Program ------------------------------------------------------------------------


@mp_router.post("/{appid}/pay/orders/{out_trade_no}/payment")
def order_payment(
    appid: str,
    out_trade_no: str,
    db: DatabaseDep,
    authorization: Annotated[str | None, Header()] = None,
) -> PaymentParams:
    """wx.requestPayment's parameters for one of the caller's orders."""
    with db.session_scope() as session:
        principal = wechat.authenticate(session, appid, authorization)
        order = service.find_order(session, principal.app.workspace_id, out_trade_no)
    return service.payment_params(
        db, service.clients(), principal.app.workspace_id, order.id, member_id=principal.member_id
    )


@mp_router.post("/{appid}/pay/demo-order")
def demo_order(
    appid: str,
    db: DatabaseDep,
    settings: SettingsDep,
    authorization: Annotated[str | None, Header()] = None,
) -> PaymentParams:
    """The sandbox's demo checkout (only with SIYU_SANDBOX): a 9.90 deposit for today."""
    if not settings.sandbox:
        raise errors.DEMO_DISABLED("the demo checkout exists only in the sandbox")
    with db.session_scope() as session:
        principal = wechat.authenticate(session, appid, authorization)
        ws = principal.app.workspace_id
        order = service.open_order(
            session,
            ws,
            appid=appid,
            member_id=principal.member_id,
            amount=DEMO_AMOUNT,
            description="示例活动押金",
            reference=f"demo:{principal.member_id}:{principal.session_id}",
            order_minutes=settings.pay_order_minutes,
            openid=principal.openid,
        )
    return service.payment_params(
        db, service.clients(), ws, order.id, member_id=principal.member_id
    )


# --- staff API -------------------------------------------------------------------------------


@router.post("/merchants", status_code=201)
def add_merchant(
    body: MerchantCreate, principal: MerchantAdmin, db: DatabaseDep, settings: SettingsDep
) -> MerchantRead:
    """Register a WeChat Pay merchant (its secrets are stored encrypted, never shown again)."""
    base = settings.public_url or f"http://{settings.host}:{settings.port}"
    with db.session_scope() as session:
        return service.add_merchant(session, principal.workspace_id, body, default_notify_base=base)


@router.get("/merchants")
def list_merchants(principal: PayReader, db: DatabaseDep) -> list[MerchantRead]:
    with db.session_scope() as session:
        return service.list_merchants(session, principal.workspace_id)


@router.post("/orders", status_code=201)
def create_order(
    body: OrderCreate, principal: PayManager, db: DatabaseDep, settings: SettingsDep
) -> OrderRead:
    """Open an order for a member (the same `reference` again returns the open order)."""
    with db.session_scope() as session:
        return service.open_order(
            session,
            principal.workspace_id,
            appid=body.appid,
            member_id=body.member_id,
            amount=body.amount,
            description=body.description,
            reference=body.reference,
            order_minutes=settings.pay_order_minutes,
            mchid=body.mchid,
        )


@router.get("/orders")
def list_orders(
    principal: PayReader,
    db: DatabaseDep,
    member_id: Id | None = None,
    status: OrderStatus | None = None,
    activity: Annotated[str | None, Query(min_length=1, max_length=32)] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    offset: Offset = 0,
) -> list[OrderRead]:
    """Orders, newest first: of a member, in a status, or for an activity (by its code)."""
    with db.session_scope() as session:
        return service.list_orders(
            session,
            principal.workspace_id,
            member_ids=[member_id] if member_id else None,
            status=status,
            reference_prefix=f"activity:{activity}:" if activity else None,
            limit=limit,
            offset=offset,
        )


@router.get("/orders/{order_id}")
def get_order(order_id: Id, principal: PayReader, db: DatabaseDep) -> OrderRead:
    with db.session_scope() as session:
        return service.get_order(session, principal.workspace_id, order_id)


@router.post("/orders/{order_id}/payment")
def order_payment_params(order_id: Id, principal: PayManager, db: DatabaseDep) -> PaymentParams:
    """wx.requestPayment's parameters, for a server that hands them to its Mini Program."""
    return service.payment_params(db, service.clients(), principal.workspace_id, order_id)


@router.get("/orders/{order_id}/refunds")
def order_refunds(order_id: Id, principal: PayReader, db: DatabaseDep) -> list[RefundRead]:
    with db.session_scope() as session:
        service.get_order(session, principal.workspace_id, order_id)
        return service.list_refunds(session, principal.workspace_id, order_ids=[order_id])


@router.post("/orders/{order_id}/refunds", status_code=202)
def staff_refund(
    order_id: Id,
    body: RefundCreate,
    principal: Refunder,
    db: DatabaseDep,
    idempotency_key: IdempotencyKey = None,
) -> RefundRead:
    """A staff refund (reason required): recorded and audited, then sent by a job with a
    fixed out_refund_no, retried until WeChat Pay accepts it; the outcome arrives later.

    An `Idempotency-Key` header (1-64 visible ASCII characters, e.g. a UUID) makes asking
    again safe: the same key for the order answers the refund it made, never a second."""
    with db.session_scope() as session:
        return service.refund_by_staff(
            session,
            principal,
            order_id,
            body.amount,
            body.reason,
            idempotency_key=idempotency_key,
        )


@router.get("/notifications/refused")
def refused_notifications(
    principal: PayReader,
    db: DatabaseDep,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> list[NotificationLogRead]:
    with db.session_scope() as session:
        return service.list_refused(session, principal.workspace_id, limit)


@router.get("/reconciliations")
def reconciliations(principal: PayReader, db: DatabaseDep) -> list[ReconciliationRead]:
    with db.session_scope() as session:
        return service.list_reconciliations(session, principal.workspace_id)
