"""Entry work that calls WeChat: issue codes, publish menus. Each flow owns its transactions
and calls the gateway between them, never inside one."""

from __future__ import annotations

import io
from datetime import timedelta

import segno

from siyu.core import clock
from siyu.core.config import Settings
from siyu.core.db import Database
from siyu.core.errors import SiyuError
from siyu.core.logging import get_logger
from siyu.entries import service
from siyu.entries.models import CodeKind
from siyu.entries.schemas import CodeCreate, CodeIssued, MenuRead
from siyu.wechat.gateway import (
    Gateway,
    Menu,
    QrCodeRequest,
    UnlimitedCodeRequest,
    UrlLinkRequest,
    WeChatError,
    WeChatUnavailable,
)

log = get_logger(__name__)
PRINT_SIZES = (430, 860, 1280)  # px: a phone screen, a flyer, a poster (WeChat's width range)
MP_CODE_WIDTH = 1280  # the largest WeChat draws, so every print size scales down from it


def upstream(exc: WeChatError, what: str) -> SiyuError:
    if isinstance(exc, WeChatUnavailable):
        return SiyuError(
            "wechat.unavailable",
            f"WeChat cannot be reached to {what}",
            status=503,
            data={"errcode": exc.errcode},
        )
    return SiyuError(
        "wechat.refused",
        f"WeChat refused to {what}: {exc.errcode} {exc.errmsg}",
        status=502,
        data={"errcode": exc.errcode, "errmsg": exc.errmsg},
    )


def issue_code(
    db: Database,
    gateway: Gateway,
    workspace_id: int,
    channel_id: int,
    data: CodeCreate,
    *,
    actor: str,
    settings: Settings | None = None,
) -> CodeIssued:
    """Record the code, ask WeChat for it, keep what WeChat answered (or forget the code)."""
    with db.session_scope() as session:
        plan = service.plan_code(session, workspace_id, channel_id, data, settings)
    if plan.reused:
        with db.session_scope() as session:
            channel = service.get_channel(session, workspace_id, channel_id)
            code, _ = service.get_code(session, workspace_id, plan.code_id)
        return CodeIssued(channel=channel, code=code, warning=plan.warning)
    now = clock.now()
    appid = plan.app.appid
    try:
        ticket = url = None
        image = None
        expires_at = None
        if plan.kind in (CodeKind.oa_qr_temp, CodeKind.oa_qr_permanent):
            request = (
                QrCodeRequest.temporary(plan.scene, plan.expire_seconds)
                if plan.kind == CodeKind.oa_qr_temp
                else QrCodeRequest.permanent(plan.scene)
            )
            qr = gateway.create_qrcode(appid, request)
            ticket, url = qr.ticket, qr.url
            if qr.expire_seconds:
                expires_at = now + timedelta(seconds=qr.expire_seconds)
        elif plan.kind == CodeKind.mp_code:
            image = gateway.get_unlimited_wxacode(
                appid,
                UnlimitedCodeRequest(
                    scene=plan.scene,
                    page=plan.page or None,
                    check_path=False if plan.page else None,
                    width=MP_CODE_WIDTH,
                ),
            )
        else:
            url = gateway.generate_urllink(
                appid,
                UrlLinkRequest(
                    path=plan.page or None,
                    query=f"ch={plan.scene}",
                    expire_type=1,
                    expire_interval=plan.expire_seconds // 86400,
                ),
            )
            expires_at = now + timedelta(seconds=plan.expire_seconds)
    except WeChatError as exc:
        with db.session_scope() as session:
            service.drop_code(session, plan.code_id)
        raise upstream(exc, f"make a {plan.kind} code") from exc
    with db.session_scope() as session:
        service.complete_code(
            session, plan.code_id, ticket=ticket, url=url, image=image, expires_at=expires_at
        )
        channel = service.get_channel(session, workspace_id, channel_id)
        code, _ = service.get_code(session, workspace_id, plan.code_id)
    log.info("entries_code_issued", appid=appid, kind=plan.kind, channel=plan.scene, by=actor)
    return CodeIssued(channel=channel, code=code, warning=plan.warning)


def publish_menu(
    db: Database, gateway: Gateway, workspace_id: int, appid: str, version: int
) -> MenuRead:
    """Send a saved version (checked again against today's links) through the gateway."""
    with db.session_scope() as session:
        menu = service.get_menu(session, workspace_id, appid, version)
        sent = service.preview_menu(session, workspace_id, appid, {"button": menu.buttons})
    try:
        gateway.create_menu(appid, Menu.model_validate({"button": sent}))
    except WeChatError as exc:
        with db.session_scope() as session:
            service.mark_menu(session, workspace_id, appid, version, f"{exc.errcode} {exc.errmsg}")
        raise upstream(exc, "publish the menu") from exc
    with db.session_scope() as session:
        return service.mark_menu(session, workspace_id, appid, version, None)


# --- code images ---------------------------------------------------------------------------


class ImageUnavailable(SiyuError):
    pass


def code_image(
    kind: CodeKind, url: str | None, image: bytes | None, *, fmt: str, size: int
) -> tuple[bytes, str]:
    """The code as PNG (size px square) or SVG. OA codes are drawn from the url WeChat encoded
    in them (what showqrcode draws); Mini Program codes are WeChat's own PNG (no SVG)."""
    if fmt not in ("png", "svg"):
        raise SiyuError("entries.image_format", "formats: png, svg", status=422)
    if size not in PRINT_SIZES:
        raise SiyuError(
            "entries.image_size", f"sizes: {', '.join(map(str, PRINT_SIZES))}", status=422
        )
    if kind == CodeKind.mp_code:
        if fmt == "svg" or image is None:
            raise ImageUnavailable(
                "entries.image_unavailable",
                "Mini Program codes are drawn by WeChat as PNG only",
                status=404,
            )
        return image, "image/png"
    if not url:
        raise ImageUnavailable("entries.image_unavailable", "the code has no image", status=404)
    qr = segno.make(url, error="m", micro=False)
    out = io.BytesIO()
    if fmt == "svg":
        qr.save(out, kind="svg", scale=10, border=4, xmldecl=False)
        return out.getvalue(), "image/svg+xml"
    modules = qr.symbol_size(scale=1, border=4)[0]
    qr.save(out, kind="png", scale=max(1, size // modules), border=4)
    return out.getvalue(), "image/png"
