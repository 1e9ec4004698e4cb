"""WeChat Pay v3's paths as the sandbox serves them, and `/sandbox-admin/pay` to look inside."""

from __future__ import annotations

import json
from typing import Any, Literal

from fastapi import APIRouter, HTTPException, Request, Response
from pydantic import BaseModel, Field

from siyu.sandbox.pay import Fault, Merchant, MerchantSpec, PayError, PayWorld

router = APIRouter(tags=["pay"])
admin = APIRouter(prefix="/sandbox-admin/pay", tags=["sandbox-admin"])


def pay_world(request: Request) -> PayWorld:
    pay: PayWorld = request.app.state.pay
    return pay


def _target(request: Request) -> str:
    """The path and query the merchant signed: relative to where the sandbox is mounted."""
    path = request.scope["path"]
    root = request.scope.get("root_path", "")
    if root and path.startswith(root):
        path = path[len(root) :]
    query = request.scope.get("query_string", b"").decode("latin-1")
    return f"{path}?{query}" if query else path


def answer(pay: PayWorld, merchant: Merchant | None, status: int, data: Any) -> Response:
    """A signed answer (refusals are signed too, as WeChat's are)."""
    body = "" if data is None else json.dumps(data, ensure_ascii=False, separators=(",", ":"))
    headers = pay.signed_headers(merchant, body)
    return Response(body, status_code=status, media_type="application/json", headers=headers)


async def _call(request: Request, handle: Any) -> Response:
    """Authenticate, read JSON, run `handle(merchant, body)`, sign what comes back."""
    pay = pay_world(request)
    raw = (await request.body()).decode("utf-8", errors="replace")
    merchant = None
    try:
        merchant = pay.authenticate(
            request.headers.get("Authorization"), request.method, _target(request), raw
        )
        body: dict[str, Any] = {}
        if request.method == "POST":
            try:
                parsed = json.loads(raw) if raw else None
            except ValueError:
                raise PayError(400, "PARAM_ERROR", "请求体不是合法的 JSON") from None
            if not isinstance(parsed, dict):
                raise PayError(400, "PARAM_ERROR", "请求体须为 JSON 对象")
            body = parsed
        status, data = handle(merchant, body)
    except PayError as exc:
        return answer(pay, merchant, exc.status, exc.body())
    return answer(pay, merchant, status, data)


def _mchid(request: Request, merchant: Merchant) -> None:
    if request.query_params.get("mchid") != merchant.mchid:
        raise PayError(400, "PARAM_ERROR", "mchid 与签名的商户号不一致")


@router.post("/v3/pay/transactions/jsapi")
async def jsapi(request: Request) -> Response:
    pay = pay_world(request)

    def handle(merchant: Merchant, body: dict[str, Any]) -> tuple[int, Any]:
        if fault := pay._fault("jsapi"):
            raise PayError(500, "SYSTEM_ERROR", f"系统繁忙（{fault}）")
        return 200, pay.jsapi(merchant, body)

    return await _call(request, handle)


@router.get("/v3/pay/transactions/out-trade-no/{out_trade_no}")
async def query(out_trade_no: str, request: Request) -> Response:
    pay = pay_world(request)

    def handle(merchant: Merchant, _body: dict[str, Any]) -> tuple[int, Any]:
        _mchid(request, merchant)
        return 200, pay.query(merchant, out_trade_no)

    return await _call(request, handle)


@router.get("/v3/pay/transactions/id/{transaction_id}")
async def query_by_id(transaction_id: str, request: Request) -> Response:
    pay = pay_world(request)

    def handle(merchant: Merchant, _body: dict[str, Any]) -> tuple[int, Any]:
        _mchid(request, merchant)
        return 200, pay.query_transaction(merchant, transaction_id)

    return await _call(request, handle)


@router.post("/v3/pay/transactions/out-trade-no/{out_trade_no}/close")
async def close(out_trade_no: str, request: Request) -> Response:
    pay = pay_world(request)

    def handle(merchant: Merchant, body: dict[str, Any]) -> tuple[int, Any]:
        pay.close(merchant, out_trade_no, body)
        return 204, None

    return await _call(request, handle)


@router.post("/v3/refund/domestic/refunds")
async def refund(request: Request) -> Response:
    pay = pay_world(request)

    def handle(merchant: Merchant, body: dict[str, Any]) -> tuple[int, Any]:
        view, fault = pay.refund(merchant, body)
        if fault == "error_after":  # accepted, but the merchant never hears so
            raise PayError(500, "SYSTEM_ERROR", "系统超时")
        return 200, view

    return await _call(request, handle)


@router.get("/v3/refund/domestic/refunds/{out_refund_no}")
async def query_refund(out_refund_no: str, request: Request) -> Response:
    pay = pay_world(request)
    return await _call(request, lambda m, _b: (200, pay.query_refund(m, out_refund_no)))


@router.get("/v3/bill/tradebill")
async def trade_bill(request: Request) -> Response:
    pay = pay_world(request)
    params = request.query_params

    def handle(merchant: Merchant, _body: dict[str, Any]) -> tuple[int, Any]:
        token, sha1 = pay.trade_bill(merchant, params.get("bill_date", ""), params.get("tar_type"))
        base = str(request.base_url).rstrip("/")
        url = f"{base}/v3/billdownload/file?token={token}"
        return 200, {"hash_type": "SHA1", "hash_value": sha1, "download_url": url}

    return await _call(request, handle)


@router.get("/v3/billdownload/file")
async def bill_file(request: Request) -> Response:
    pay = pay_world(request)
    raw = (await request.body()).decode()
    try:
        pay.authenticate(request.headers.get("Authorization"), "GET", _target(request), raw)
        content = pay.bill_file(request.query_params.get("token", ""))
    except PayError as exc:
        return answer(pay, None, exc.status, exc.body())
    return Response(content, media_type="application/octet-stream")


# -- /sandbox-admin/pay ------------------------------------------------------------------------


class PayAction(BaseModel):
    """The user behind `uid` answers wx.requestPayment: pays, or closes the sheet."""

    uid: str
    params: dict[str, str]
    abandon: bool = False


class FaultSetting(BaseModel):
    operation: Literal["jsapi", "refund"]
    fault: Fault
    count: int = Field(default=1, ge=1, le=100_000)


def _merchant(pay: PayWorld, mchid: str) -> Merchant:
    try:
        return pay.merchant(mchid)
    except PayError as exc:
        raise HTTPException(404, f"no merchant {mchid}") from exc


@admin.post("/merchants")
def register_merchant(spec: MerchantSpec, request: Request) -> dict[str, Any]:
    """Add or update a merchant; answers the platform public key and its id for siyu."""
    pay = pay_world(request)
    return pay.merchant_view(pay.register(spec))


@admin.get("/merchants/{mchid}")
def get_merchant(mchid: str, request: Request) -> dict[str, Any]:
    pay = pay_world(request)
    return pay.merchant_view(_merchant(pay, mchid))


@admin.get("/merchants/{mchid}/ledger")
def ledger(mchid: str, request: Request) -> dict[str, Any]:
    """Every payment and refund of the merchant, and the totals: what tests compare with."""
    pay = pay_world(request)
    with pay.lock:
        return _merchant(pay, mchid).ledger(pay.now())


@admin.post("/merchants/{mchid}/abnormal/{openid}")
def mark_abnormal(mchid: str, openid: str, request: Request) -> dict[str, str]:
    """Refunds to this user end ABNORMAL (a closed or frozen account)."""
    pay = pay_world(request)
    with pay.lock:
        _merchant(pay, mchid).abnormal_openids.add(openid)
    return {"openid": openid}


@admin.post("/pay")
def pay_or_abandon(action: PayAction, request: Request) -> dict[str, Any]:
    """wx.requestPayment as a user answers it; a payment's notification goes out at once."""
    pay = pay_world(request)
    try:
        user = pay.world.user(action.uid)
    except KeyError as exc:
        raise HTTPException(404, f"no user {action.uid}") from exc
    if action.abandon:
        return {"paid": False}
    appid = action.params.get("appId", "")
    try:
        notification = pay.pay(pay.world.openid(user, appid), action.params)
    except PayError as exc:
        raise HTTPException(400, exc.body()) from exc
    pay.deliver(notification)
    return {"paid": True, "notification": notification.view()}


@admin.get("/notifications")
def notifications(request: Request, mchid: str | None = None) -> list[dict[str, Any]]:
    pay = pay_world(request)
    with pay.lock:
        return [n.view() for n in pay.outbox.values() if mchid is None or n.mchid == mchid]


@admin.post("/notifications/{notification_id}/redeliver")
def redeliver(notification_id: str, request: Request) -> dict[str, Any]:
    """Send a notification again, as WeChat may whatever the first answer was."""
    pay = pay_world(request)
    found = pay.outbox.get(notification_id)
    if found is None:
        raise HTTPException(404, f"no notification {notification_id}")
    return {"acknowledged": pay.deliver(found, duplicate=True)}


@admin.post("/tick")
def tick(request: Request) -> dict[str, int]:
    """Settle due refunds and send due notifications now."""
    return {"sent": pay_world(request).tick()}


@admin.post("/faults")
def inject(setting: FaultSetting, request: Request) -> dict[str, str]:
    pay_world(request).inject(setting.operation, setting.fault, setting.count)
    return {"operation": setting.operation, "fault": setting.fault}
