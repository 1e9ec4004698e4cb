"""Entry operations that call WeChat: make a channel with its first code, issue codes, publish
menus. Each flow owns its transactions and calls the gateway between them, never inside one
(a WeChat call may take seconds; no row stays locked meanwhile)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import overload

from siyu.core import clock
from siyu.core.config import Settings, current_settings
from siyu.core.db import Database
from siyu.core.errors import SiyuError
from siyu.core.logging import get_logger
from siyu.entries.enums import CodeKind
from siyu.entries.schemas import ChannelCreate, ChannelRead, CodeCreate, CodeIssued, MenuRead
from siyu.entries.service import channels, menus
from siyu.entries.service.common import Actor, audit, created_by
from siyu.entries.service.images import MP_CODE_WIDTH
from siyu.wechat import errors as wechat_errors
from siyu.wechat.schemas import Menu, QrCodeRequest, UnlimitedCodeRequest, UrlLinkRequest
from siyu.wechat.service import Gateway, WeChatError, WeChatUnavailable, shared_gateway

log = get_logger(__name__)


def upstream(exc: WeChatError, what: str) -> SiyuError:
    """WeChat's error as the caller's refusal: unreachable (503) or refused (502)."""
    if isinstance(exc, WeChatUnavailable):
        return wechat_errors.UNAVAILABLE(
            f"WeChat cannot be reached to {what}", data={"errcode": exc.errcode}
        )
    return wechat_errors.REFUSED(
        f"WeChat refused to {what}: {exc.errcode} {exc.errmsg}",
        data={"errcode": exc.errcode, "errmsg": exc.errmsg},
        errcode=exc.errcode,
    )


def _gateway(db: Database, settings: Settings | None, gateway: Gateway | None) -> Gateway:
    return gateway or shared_gateway(settings or current_settings(), db)


@overload
def create_channel_with_code(
    db: Database,
    workspace_id: int,
    data: ChannelCreate,
    code: CodeCreate,
    *,
    actor: Actor,
    settings: Settings | None = None,
    gateway: Gateway | None = None,
) -> CodeIssued: ...


@overload
def create_channel_with_code(
    db: Database,
    workspace_id: int,
    data: ChannelCreate,
    code: None,
    *,
    actor: Actor,
    settings: Settings | None = None,
    gateway: Gateway | None = None,
) -> ChannelRead: ...


@overload
def create_channel_with_code(
    db: Database,
    workspace_id: int,
    data: ChannelCreate,
    code: CodeCreate | None,
    *,
    actor: Actor,
    settings: Settings | None = None,
    gateway: Gateway | None = None,
) -> ChannelRead | CodeIssued: ...


def create_channel_with_code(
    db: Database,
    workspace_id: int,
    data: ChannelCreate,
    code: CodeCreate | None,
    *,
    actor: Actor,
    settings: Settings | None = None,
    gateway: Gateway | None = None,
) -> ChannelRead | CodeIssued:
    """A channel (audited), and its first code when `code` is given (then the answer names the
    code). The channel stays when WeChat refuses the code: the operator adds one later."""
    with db.session_scope() as session:
        channel = channels.create_channel(session, workspace_id, data, actor=actor)
    if code is None:
        return channel
    # The first code is part of making the channel: audited as entries.channel_created only.
    return _issue(
        db, _gateway(db, settings, gateway), workspace_id, channel.id, code,
        actor=actor, settings=settings, audited=False,
    )  # fmt: skip


def issue_code(
    db: Database,
    workspace_id: int,
    channel_id: int,
    data: CodeCreate,
    *,
    actor: Actor,
    settings: Settings | None = None,
    gateway: Gateway | None = None,
) -> CodeIssued:
    """Record the code, ask WeChat for it, keep what WeChat answered (or forget the code);
    audited as entries.code_issued (a permanent code reused too)."""
    gateway = _gateway(db, settings, gateway)
    return _issue(
        db, gateway, workspace_id, channel_id, data, actor=actor, settings=settings, audited=True
    )


def _issue(
    db: Database,
    gateway: Gateway,
    workspace_id: int,
    channel_id: int,
    data: CodeCreate,
    *,
    actor: Actor,
    settings: Settings | None,
    audited: bool,
) -> CodeIssued:
    with db.session_scope() as session:
        plan = channels.plan_code(session, workspace_id, channel_id, data, settings)
    made = None
    if not plan.reused:  # a permanent code issued before is given again, WeChat not asked
        try:
            made = _ask_wechat(gateway, plan)
        except WeChatError as exc:
            with db.session_scope() as session:
                channels.drop_code(session, plan.code_id)
            raise upstream(exc, f"make a {plan.kind} code") from exc
    with db.session_scope() as session:
        if made is not None:
            channels.complete_code(
                session, plan.code_id, ticket=made.ticket, url=made.url, image=made.image,
                expires_at=made.expires_at,
            )  # fmt: skip
        channel = channels.get_channel(session, workspace_id, channel_id)
        code, _ = channels.get_code(session, workspace_id, plan.code_id)
        if audited:
            audit(
                session,
                actor,
                "entries.code_issued",
                workspace_id=workspace_id,
                target=("code", code.id),
                detail={"kind": code.kind},
            )
    if made is not None:
        log.info(
            "entries_code_issued", appid=plan.app.appid, kind=plan.kind, channel=plan.scene,
            by=created_by(actor),
        )  # fmt: skip
    return CodeIssued(channel=channel, code=code, warning=plan.warning)


@dataclass(frozen=True)
class _Made:
    """What WeChat made for a planned code: the fields `complete_code` keeps."""

    ticket: str | None
    url: str | None
    image: bytes | None
    expires_at: datetime | None


def _ask_wechat(gateway: Gateway, plan: channels.CodePlan) -> _Made:
    now = clock.now()
    appid = plan.app.appid
    ticket = url = None
    image = None
    expires_at: datetime | None = None
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
    return _Made(ticket, url, image, expires_at)


def publish_menu(
    db: Database,
    workspace_id: int,
    appid: str,
    version: int,
    *,
    actor: Actor,
    settings: Settings | None = None,
    gateway: Gateway | None = None,
) -> MenuRead:
    """Send a saved version (checked again against today's links) through the gateway; marked
    published and audited as entries.menu_published, or marked failed and refused."""
    gateway = _gateway(db, settings, gateway)
    with db.session_scope() as session:
        menu = menus.get_menu(session, workspace_id, appid, version)
        sent = menus.preview_menu(session, workspace_id, appid, {"button": menu.buttons})
    try:
        gateway.create_menu(appid, Menu.model_validate({"button": sent}))
    except WeChatError as exc:
        with db.session_scope() as session:
            menus.mark_menu(session, workspace_id, appid, version, f"{exc.errcode} {exc.errmsg}")
        raise upstream(exc, "publish the menu") from exc
    with db.session_scope() as session:
        published = menus.mark_menu(session, workspace_id, appid, version, None)
        audit(
            session,
            actor,
            "entries.menu_published",
            workspace_id=workspace_id,
            target=("menu", published.id),
            detail={"version": version},
        )
        return published


def publish_new_menu(
    db: Database,
    workspace_id: int,
    appid: str,
    body: object,
    *,
    actor: Actor,
    settings: Settings | None = None,
    gateway: Gateway | None = None,
) -> MenuRead:
    """Check, save as a new version and publish a menu (what `siyu menus publish` does): the
    publication is audited, the version it made is not (as the command always did)."""
    with db.session_scope() as session:
        saved = menus.new_version(session, workspace_id, appid, body, actor=actor)
    return publish_menu(
        db, workspace_id, appid, saved.version, actor=actor, settings=settings, gateway=gateway
    )
