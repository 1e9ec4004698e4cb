"""What several console areas share: static files, app names, the member profile's context
(with its payments) and the permission aliases more than one area uses."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

from fastapi.staticfiles import StaticFiles
from sqlalchemy.orm import Session

from siyu.audience import service as audience
from siyu.community import service as community
from siyu.console.timeline import channel_names, describe
from siyu.identity import service as identity
from siyu.members import service as members
from siyu.security import service as security
from siyu.security.auth import require
from siyu.security.enums import Permission
from siyu.security.schemas import Principal
from siyu.security.service import allows
from siyu.wechat.pay import service as pay
from siyu.workspaces import service as workspaces

STATIC = Path(__file__).parent / "static"
TIMELINE_PAGE = 50
PAYMENTS_PAGE = 100

Merger = Annotated[Principal, require(Permission.members_merge)]


def static_files() -> StaticFiles:
    STATIC.mkdir(exist_ok=True)
    return StaticFiles(directory=STATIC)


def app_names(session: Session, workspace_id: int) -> dict[str, str]:
    return {app.appid: app.name for app in workspaces.list_apps(session, workspace_id)}


def payments_context(session: Session, workspace_id: int, member_id: int) -> dict[str, Any]:
    """A member's orders (newest first) with their refunds, for the profile's payments block."""
    orders = pay.list_orders(session, workspace_id, member_ids=[member_id], limit=PAYMENTS_PAGE)
    refunds: dict[int, list[Any]] = {}
    for refund in pay.list_refunds(session, workspace_id, order_ids=[o.id for o in orders]):
        refunds.setdefault(refund.order_id, []).insert(0, refund)
    return {"orders": orders, "refunds": refunds, "notice_order": None, "confirm": None}


def points_context(session: Session, principal: Principal, member_id: int) -> dict[str, Any]:
    """The member profile's points and level (with `points.read`)."""
    if not allows(principal.role, Permission.points_read):
        return {"points": None, "points_history": []}
    ws = principal.workspace_id
    return {
        "points": members.balance_of(session, ws, member_id),
        "points_history": members.ledger(session, ws, member_id=member_id, limit=10),
    }


def member_context(
    session: Session, principal: Principal, member_id: int, *, viewed: bool = False
) -> dict[str, Any]:
    """The member profile as this operator may see it (each block only with its permission);
    `viewed` when the operator opens it (audited), not when it is shown again after a change."""
    ws = principal.workspace_id
    reveal = allows(principal.role, Permission.members_phone)
    read = identity.view_member if viewed else identity.member_for
    member = read(session, principal, member_id, reveal_phone=reveal)
    can_merge = allows(principal.role, Permission.members_merge)
    merges = identity.list_merges(session, ws, member_id) if can_merge else []
    timeline = (
        identity.get_timeline(session, ws, member_id, limit=TIMELINE_PAGE)
        if allows(principal.role, Permission.members_timeline)
        else None
    )
    consents = (
        identity.list_consents(session, ws, member_id)
        if allows(principal.role, Permission.consents_read)
        else []
    )
    operators = (
        [o for o in security.list_operators(session, ws) if o.disabled_at is None]
        if allows(principal.role, Permission.members_assign)
        else []
    )
    related = {m.survivor_id for m in merges} | {m.merged_id for m in merges}
    if member.merged_into_id is not None:
        related.add(member.merged_into_id)
    numbers = {mid: identity.get_member(session, ws, mid).number for mid in related}
    numbers[member.id] = member.number
    records = (
        community.service_records(session, ws, member.id)
        if allows(principal.role, Permission.members_timeline)
        else None
    )
    writers = {o.id: o.name for o in security.list_operators(session, ws)} if records else {}
    return {
        **payments_context(session, ws, member.id),
        **points_context(session, principal, member.id),
        "service_records": records,
        "writers": writers,
        "record_kinds": ("note", "call", "visit", "complaint"),
        "active": "members",
        "member": member,
        "merges": merges,
        "timeline": timeline,
        "channels": channel_names(session, ws) if timeline is not None else {},
        "describe": describe,
        "numbers": numbers,
        "apps": app_names(session, ws),
        "reveal": reveal,
        "consents": consents,
        "operators": operators,
        "assignee": identity.assignee_of(session, member.id),
        "tags": identity.member_tags(session, member.id),
        **_tier_context(session, ws, member.merged_into_id or member.id, member.number),
        "notice": None,
    }


def _tier_context(
    session: Session, workspace_id: int, member_id: int, number: int
) -> dict[str, Any]:
    """The member's lifecycle tier and RFM cell (audience), for the profile's header."""
    return {
        "tier": audience.member_tier_of(session, workspace_id, member_id, number),
        "rfm": audience.member_rfm_of(session, member_id, number),
    }
