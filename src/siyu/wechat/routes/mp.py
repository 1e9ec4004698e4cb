"""Mini Program API: log in with a wx.login code, bind the phone with a getPhoneNumber code;
the member's own consents, data export and erasure (authenticated by the MP session)."""

from __future__ import annotations

import threading
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Request

from siyu.core.http import DatabaseDep, SettingsDep
from siyu.identity.schemas import ConsentRead
from siyu.wechat import mp
from siyu.wechat.gateway import Gateway
from siyu.wechat.tokens import gateway_for

router = APIRouter(prefix="/api/mp", tags=["mini program"])
_gateway_lock = threading.Lock()


def gateway(request: Request) -> Gateway:
    """The application's gateway, made on first use and kept for its connections and tokens."""
    state = request.app.state
    with _gateway_lock:
        existing: Gateway | None = getattr(state, "wechat_gateway", None)
        if existing is None:
            existing = state.wechat_gateway = gateway_for(state.settings, state.database)
        return existing


GatewayDep = Annotated[Gateway, Depends(gateway)]


@router.post("/{appid}/session")
def log_in(
    appid: str, body: mp.CodeIn, db: DatabaseDep, settings: SettingsDep, wechat: GatewayDep
) -> mp.MpSessionIssued:
    """Exchange a wx.login code for a session token (shown once) and the member number."""
    with db.session_scope() as session:
        app = mp.mp_app(session, appid)
    # WeChat is called between transactions: no database lock waits on the network.
    login = mp.exchange_login_code(wechat, app, body.code)
    with db.session_scope() as session:
        return mp.open_session(session, app.app, login, settings.mp_session_hours)


@router.post("/{appid}/phone")
def bind_phone(
    appid: str,
    body: mp.CodeIn,
    db: DatabaseDep,
    wechat: GatewayDep,
    authorization: Annotated[str | None, Header()] = None,
) -> mp.MpPhoneBound:
    """Bind the phone behind a getPhoneNumber code to the logged-in member (may merge members)."""
    with db.session_scope() as session:
        principal = mp.authenticate(session, appid, authorization)
    phone = mp.exchange_phone_code(wechat, principal, body.code)
    with db.session_scope() as session:
        return mp.bind_phone(session, principal, phone)


Authorization = Annotated[str | None, Header()]


@router.get("/{appid}/me/consents")
def my_consents(
    appid: str, db: DatabaseDep, authorization: Authorization = None
) -> list[ConsentRead]:
    with db.session_scope() as session:
        principal = mp.authenticate(session, appid, authorization)
        return mp.my_consents(session, principal)


@router.post("/{appid}/me/consents")
def set_consent(
    appid: str, body: mp.ConsentIn, db: DatabaseDep, authorization: Authorization = None
) -> list[ConsentRead]:
    """Grant or withdraw phone use, subscription messages or marketing."""
    with db.session_scope() as session:
        principal = mp.authenticate(session, appid, authorization)
        return mp.set_consent(session, principal, body)


@router.get("/{appid}/me/export")
def export_me(appid: str, db: DatabaseDep, authorization: Authorization = None) -> dict[str, Any]:
    """Everything siyu holds about the caller, as JSON."""
    with db.session_scope() as session:
        principal = mp.authenticate(session, appid, authorization)
        return mp.export_me(session, principal)


@router.post("/{appid}/me/erase")
def erase_me(appid: str, db: DatabaseDep, authorization: Authorization = None) -> mp.MpErased:
    """Erase the caller's personal data; the session token stops working."""
    with db.session_scope() as session:
        principal = mp.authenticate(session, appid, authorization)
        return mp.erase_me(session, principal)


@router.post("/{appid}/launch")
def launch(
    appid: str, body: mp.LaunchIn, db: DatabaseDep, authorization: Authorization = None
) -> mp.MpLaunchRecorded:
    """The Mini Program was opened (with a code's scene or a link's query): attribution."""
    with db.session_scope() as session:
        principal = mp.authenticate(session, appid, authorization)
        return mp.record_launch(session, principal, body)
