"""Console page of the sandbox WeChat: its simulated users and what each actually received."""

from __future__ import annotations

from collections import Counter
from datetime import datetime
from typing import Annotated, Any

import httpx
from fastapi import APIRouter, Path, Query, Request
from starlette.responses import Response

from siyu.console import errors
from siyu.console.web import ConsoleRoute, render
from siyu.core.errors import NotFound
from siyu.core.http import DatabaseDep, SettingsDep
from siyu.security.auth import require
from siyu.security.enums import Permission
from siyu.security.schemas import Principal
from siyu.wechat.pay import service as pay

router = APIRouter(include_in_schema=False, route_class=ConsoleRoute)

USERS_PAGE = 50
REFUNDS_SHOWN = 20
TIMEOUT_S = 5.0
UID = r"^u[0-9]{1,9}$"


class SandboxUnreachable(Exception):
    """The sandbox's admin API did not answer as expected."""


def _admin_get(base: str, path: str, params: dict[str, Any] | None = None) -> Any:
    """GET from the sandbox's own admin API (the console never imports the sandbox: it may run
    in another process, like WeChat itself)."""
    try:
        response = httpx.get(f"{base}/sandbox-admin{path}", params=params, timeout=TIMEOUT_S)
    except httpx.HTTPError as exc:
        raise SandboxUnreachable(type(exc).__name__) from exc
    if response.status_code == 404:
        raise errors.SIMULATED_USER_NOT_FOUND("no such simulated user")
    if response.status_code != 200:
        raise SandboxUnreachable(f"HTTP {response.status_code}")
    return response.json()


def _ledger(base: str, mchid: str) -> dict[str, Any] | None:
    """The sandbox Pay's account of one merchant: totals and its latest refunds, each with the
    payer's openid (from the order it refunds)."""
    try:
        ledger = _admin_get(base, f"/pay/merchants/{mchid}/ledger")
    except NotFound:
        return None  # registered in siyu, not (yet) in this sandbox
    payers = {o["out_trade_no"]: o.get("payer", {}).get("openid") for o in ledger["orders"]}
    refunds = sorted(ledger["refunds"], key=lambda r: r["create_time"], reverse=True)
    return {
        "mchid": mchid,
        "balance": ledger["balance"],
        "paid_total": ledger["paid_total"],
        "refunded_total": ledger["refunded_total"],
        "payments": sum(1 for o in ledger["orders"] if o.get("transaction_id")),
        "refund_count": len(refunds),
        "refunds": [
            {
                "out_refund_no": r["out_refund_no"],
                "openid": payers.get(r["out_trade_no"]),
                "amount": r["amount"]["refund"],
                "status": r["status"],
                "at": datetime.fromisoformat(r["create_time"]),
            }
            for r in refunds[:REFUNDS_SHOWN]
        ],
    }


def _unavailable(request: Request, settings_base: str, reason: str | None) -> Response:
    context = {"active": "simulator", "off": reason is None, "base": settings_base}
    return render(request, "simulator.html", {**context, "reason": reason, "users": []})


@router.get("/simulator")
def simulator_page(
    request: Request,
    *,
    principal: Annotated[Principal, require(Permission.apps_read)],
    settings: SettingsDep,
    db: DatabaseDep,
    q: Annotated[str, Query(max_length=64)] = "",
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
) -> Response:
    base = settings.wechat_api_base
    if not settings.sandbox:
        return _unavailable(request, base, None)
    params: dict[str, Any] = {"offset": offset, "limit": USERS_PAGE + 1}
    if q.strip():
        params["openid"] = q.strip()
    try:
        users = _admin_get(base, "/users", params)
        accounts = _admin_get(base, "/accounts")
        with db.session_scope() as session:
            mchids = [m.mchid for m in pay.list_merchants(session, principal.workspace_id)]
        ledgers = [_ledger(settings.wechat_pay_api_base, mchid) for mchid in mchids]
    except SandboxUnreachable as exc:
        return _unavailable(request, base, str(exc))
    context = {
        "ledgers": [ledger for ledger in ledgers if ledger is not None],
        "active": "simulator",
        "off": False,
        "reason": None,
        "users": users[:USERS_PAGE],
        "more": len(users) > USERS_PAGE,
        "accounts": accounts,
        "names": {a["appid"]: a.get("name") or a["appid"] for a in accounts},
        "q": q.strip(),
        "offset": offset,
        "page_size": USERS_PAGE,
    }
    return render(request, "simulator.html", context)


@router.get("/simulator/users/{uid}")
def simulated_user_page(
    request: Request,
    principal: Annotated[Principal, require(Permission.apps_read)],
    settings: SettingsDep,
    uid: Annotated[str, Path(pattern=UID)],
) -> Response:
    base = settings.wechat_api_base
    if not settings.sandbox:
        return _unavailable(request, base, None)
    try:
        user = _admin_get(base, f"/users/{uid}")
        inbox = _admin_get(base, f"/users/{uid}/inbox")
        accounts = _admin_get(base, "/accounts")
    except SandboxUnreachable as exc:
        return _unavailable(request, base, str(exc))
    items = [{**item, "at": datetime.fromisoformat(item["at"])} for item in reversed(inbox)]
    by_via = Counter(item["via"] for item in inbox)
    context = {
        "active": "simulator",
        "user": user,
        "items": items,
        "by_via": sorted(by_via.items(), key=lambda pair: -pair[1]),
        "names": {a["appid"]: a.get("name") or a["appid"] for a in accounts},
    }
    return render(request, "simulated_user.html", context)
