"""Conditional (个性化) menus by OA tag (fact sheet §2.2): checked against the custom menu's
rules, recorded, published by `addconditional` (WeChat's menuid kept) and removed by
`delconditional`; and "try match": the menu a member would see (`trymatch`). Like the other
flows that call WeChat, each owns its transactions and calls the gateway between them."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from siyu.core import clock
from siyu.core.config import Settings, current_settings
from siyu.core.db import Database
from siyu.entries import errors, repository
from siyu.entries.enums import MenuStatus
from siyu.entries.models import ConditionalMenu
from siyu.entries.schemas import ConditionalMenuCreate, ConditionalMenuRead, MenuMatchRead
from siyu.entries.service import menus
from siyu.entries.service.common import Actor, audit, created_by, official_account
from siyu.identity import service as identity
from siyu.identity.enums import IdentityKind
from siyu.wechat import errors as wechat_errors
from siyu.wechat.schemas import ConditionalMenu as WeChatConditionalMenu
from siyu.wechat.schemas import MatchRule
from siyu.wechat.service import Gateway, WeChatError, refusal, shared_gateway

MENU_GONE = 65301  # WeChat no longer has this menuid: deleting it again is done


def _read(row: ConditionalMenu, appid: str) -> ConditionalMenuRead:
    return ConditionalMenuRead(
        id=row.id, appid=appid, oa_tag_id=row.oa_tag_id, oa_tag_name=row.oa_tag_name,
        buttons=row.buttons, menuid=row.menuid, status=row.status, error=row.error,
        created_by=row.created_by, created_at=row.created_at, published_at=row.published_at,
        deleted_at=row.deleted_at,
    )  # fmt: skip


def _gateway(db: Database, settings: Settings | None, gateway: Gateway | None) -> Gateway:
    return gateway or shared_gateway(settings or current_settings(), db)


def list_conditional_menus(
    session: Session, workspace_id: int, appid: str
) -> list[ConditionalMenuRead]:
    oa = official_account(session, workspace_id, appid)
    return [_read(row, oa.appid) for row in repository.list_conditional_menus(session, oa.id)]


def _menu(session: Session, workspace_id: int, appid: str, menu_id: int) -> ConditionalMenu:
    oa = official_account(session, workspace_id, appid)
    row = repository.get_conditional_menu(session, menu_id)
    if row is None or row.app_id != oa.id or row.deleted_at is not None:
        raise errors.CONDITIONAL_MENU_NOT_FOUND(f"{appid} has no conditional menu {menu_id}")
    return row


def publish_conditional_menu(
    db: Database,
    workspace_id: int,
    appid: str,
    data: ConditionalMenuCreate,
    *,
    actor: Actor,
    settings: Settings | None = None,
    gateway: Gateway | None = None,
) -> ConditionalMenuRead:
    """Check the buttons (the custom menu's rules), find the OA tag by name on WeChat, record
    the menu and publish it by `addconditional`; audited as entries.conditional_menu_published.
    WeChat's refusal (no default menu, a tag it does not have…) is kept on the menu and raised
    in an operator's words."""
    gateway = _gateway(db, settings, gateway)
    with db.session_scope() as session:
        sent = menus.preview_menu(session, workspace_id, appid, {"button": data.button})
        oa = official_account(session, workspace_id, appid)
    try:
        tags = {t.name: t.id for t in gateway.get_tags(oa.appid)}
    except WeChatError as exc:
        raise refusal(exc, "read the OA's tags") from exc
    if data.oa_tag not in tags:
        raise wechat_errors.OA_TAG_UNKNOWN(f"{appid} has no OA tag {data.oa_tag!r}")
    with db.session_scope() as session:
        row = ConditionalMenu(
            workspace_id=workspace_id, app_id=oa.id, oa_tag_id=tags[data.oa_tag],
            oa_tag_name=data.oa_tag, buttons=data.button, published=sent, menuid=None,
            status=MenuStatus.draft, error=None, created_by=created_by(actor),
            created_at=clock.now(), published_at=None, deleted_at=None,
        )  # fmt: skip
        repository.add(session, row)
        menu_id = row.id
    menu = WeChatConditionalMenu.model_validate(
        {"button": sent, "matchrule": MatchRule(tag_id=str(tags[data.oa_tag]))}
    )
    try:
        menuid = gateway.add_conditional_menu(oa.appid, menu)
    except WeChatError as exc:
        with db.session_scope() as session:
            row = _menu(session, workspace_id, appid, menu_id)
            row.status, row.error = MenuStatus.failed, f"{exc.errcode} {exc.errmsg}"[:500]
        raise refusal(exc, "publish the conditional menu") from exc
    with db.session_scope() as session:
        row = _menu(session, workspace_id, appid, menu_id)
        row.status, row.menuid, row.published_at = MenuStatus.published, menuid, clock.now()
        audit(
            session, actor, "entries.conditional_menu_published", workspace_id=workspace_id,
            target=("conditional_menu", row.id),
            detail={"oa_tag_id": row.oa_tag_id},
        )  # fmt: skip
        return _read(row, oa.appid)


def delete_conditional_menu(
    db: Database,
    workspace_id: int,
    appid: str,
    menu_id: int,
    *,
    actor: Actor,
    settings: Settings | None = None,
    gateway: Gateway | None = None,
) -> ConditionalMenuRead:
    """Remove the menu from WeChat (`delconditional`; one WeChat no longer has counts as
    removed) and mark it deleted; audited as entries.conditional_menu_deleted."""
    gateway = _gateway(db, settings, gateway)
    with db.session_scope() as session:
        row = _menu(session, workspace_id, appid, menu_id)
        menuid, oa_appid = row.menuid, official_account(session, workspace_id, appid).appid
    if menuid is not None:
        try:
            gateway.delete_conditional_menu(oa_appid, menuid)
        except WeChatError as exc:
            if exc.errcode != MENU_GONE:
                raise refusal(exc, "delete the conditional menu") from exc
    with db.session_scope() as session:
        row = _menu(session, workspace_id, appid, menu_id)
        row.deleted_at = clock.now()
        audit(
            session, actor, "entries.conditional_menu_deleted", workspace_id=workspace_id,
            target=("conditional_menu", row.id), detail={"oa_tag_id": row.oa_tag_id},
        )  # fmt: skip
        return _read(row, oa_appid)


def try_match_menu(
    db: Database,
    workspace_id: int,
    appid: str,
    number: int,
    *,
    settings: Settings | None = None,
    gateway: Gateway | None = None,
) -> MenuMatchRead:
    """The menu the member with this number would see in the OA (WeChat's `trymatch`)."""
    gateway = _gateway(db, settings, gateway)
    with db.session_scope() as session:
        oa = official_account(session, workspace_id, appid)
        member = identity.get_member_by_number(session, workspace_id, number)
    openids = [
        i.value
        for i in member.identities
        if i.kind == IdentityKind.openid and i.appid == oa.appid and i.value
    ]
    if not openids:
        raise errors.MEMBER_NOT_FOLLOWER(
            f"member {number} has no openid of {appid}", number=number, appid=appid
        )
    try:
        buttons = gateway.try_match_menu(oa.appid, openids[0])
    except WeChatError as exc:
        raise refusal(exc, "try the menu match") from exc
    shown: list[dict[str, Any]] = [b.payload() for b in buttons]
    return MenuMatchRead(appid=oa.appid, number=number, button=shown)
