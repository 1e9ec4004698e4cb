"""Console pages of 会员权益: coupon templates with their report and chart, a new template, a
template paused or ended; the points mall's items and the fulfilment of gifts."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, time, timedelta
from typing import Annotated, Any, ClassVar

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse
from pydantic import Field
from starlette.responses import Response

from siyu.console.forms import ConsoleForm, Posted, Yuan, parse_form
from siyu.console.i18n import Translator
from siyu.console.web import ConsoleRoute, error_response, render, translator
from siyu.core.clock import BEIJING
from siyu.core.db import Database
from siyu.core.errors import ErrorCode, SiyuError
from siyu.core.http import DatabaseDep
from siyu.core.params import Id
from siyu.members import errors as members_errors
from siyu.members import service as members
from siyu.members.enums import TemplateStatus
from siyu.members.schemas import ItemCreate, TemplateCreate, TemplateReport
from siyu.security import service as security
from siyu.security.auth import require
from siyu.security.enums import Permission
from siyu.security.schemas import Principal

router = APIRouter(include_in_schema=False, route_class=ConsoleRoute)
CouponReader = Annotated[Principal, require(Permission.coupons_read)]
CouponManager = Annotated[Principal, require(Permission.coupons_manage)]


def coupon_chart(tr: Translator, reports: list[TemplateReport]) -> dict[str, Any]:
    """Per template: redeemed, usable, expired (stacked: together, the coupons issued)."""
    return {
        "names": [r.name for r in reports],
        "height": max(220, 60 + 30 * len(reports)),
        "series": [
            {"name": tr("benefits.col.redeemed"), "data": [r.redeemed for r in reports]},
            {"name": tr("benefits.col.usable"), "data": [r.usable for r in reports]},
            {"name": tr("benefits.col.expired"), "data": [r.expired for r in reports]},
        ],
    }


def _coupons_context(db: Database, request: Request, principal: Principal) -> dict[str, Any]:
    with db.session_scope() as session:
        ws = principal.workspace_id
        templates = members.list_templates(session, ws)
        reports = members.template_reports(session, ws)
    return {
        "active": "benefits",
        "templates": templates,
        "reports": {r.template_id: r for r in reports},
        "chart": coupon_chart(translator(request), reports),
    }


@router.get("/benefits/coupons")
def coupons_page(request: Request, principal: CouponReader, db: DatabaseDep) -> Response:
    return render(request, "benefits_coupons.html", _coupons_context(db, request, principal))


class TemplateForm(ConsoleForm):
    """A template as the console asks for it: amounts in yuan, the validity as days after the
    claim or a window of Beijing dates."""

    labels: ClassVar[Mapping[str, str]] = {
        "name": "benefits.field.name",
        "kind": "benefits.field.kind",
        "threshold": "benefits.field.threshold",
        "amount_off": "benefits.field.amount_off",
        "percent_off": "benefits.field.percent_off",
        "cap": "benefits.field.cap",
        "gift_name": "benefits.field.gift_name",
        "valid_days": "benefits.field.valid_days",
        "valid_from": "benefits.field.valid_from",
        "valid_until": "benefits.field.valid_until",
        "stock": "benefits.field.stock",
        "per_member_limit": "benefits.field.per_member_limit",
        "oa_keyword": "benefits.field.oa_keyword",
    }
    refused_as: ClassVar[ErrorCode] = members_errors.INVALID_TEMPLATE

    name: str = Field(default="", max_length=64)
    kind: str = Field(default="amount_off", max_length=16)
    threshold: Yuan = 0
    amount_off: Yuan | None = None
    percent_off: int | None = Field(default=None, ge=1, le=99)
    cap: Yuan | None = None
    gift_name: str = Field(default="", max_length=64)
    valid_days: int | None = Field(default=None, ge=1, le=3660)
    valid_from: str = Field(default="", max_length=10)
    valid_until: str = Field(default="", max_length=10)
    stock: int = Field(default=0, ge=0, le=100_000_000)
    per_member_limit: int = Field(default=1, ge=1, le=100)
    mp_claimable: bool = False
    new_member_gift: bool = False
    oa_keyword: str = Field(default="", max_length=32)

    def to_create(self, tr: Translator) -> TemplateCreate:
        return self.build(
            TemplateCreate,
            tr,
            name=self.name,
            kind=self.kind,
            threshold=self.threshold,
            amount_off=self.amount_off,
            percent_off=self.percent_off,
            cap=self.cap,
            gift_name=self.gift_name.strip() or None,
            valid_days=self.valid_days,
            valid_from=_day_start(self.valid_from),
            valid_until=_day_start(self.valid_until, next_day=True),
            stock=self.stock,
            per_member_limit=self.per_member_limit,
            mp_claimable=self.mp_claimable,
            new_member_gift=self.new_member_gift,
            oa_keyword=self.oa_keyword.strip() or None,
        )


def _day_start(day: str, *, next_day: bool = False) -> str | None:
    """A Beijing date's midnight (the next one's, for a last day), as the schema reads it."""
    if not day:
        return None
    try:
        start = datetime.combine(datetime.fromisoformat(day).date(), time(), BEIJING)
    except ValueError:
        return day  # the schema names the problem
    return (start + timedelta(days=1 if next_day else 0)).isoformat()


@router.post("/benefits/coupons")
def create_template(
    request: Request, principal: CouponManager, db: DatabaseDep, posted: Posted
) -> Response:
    tr = translator(request)
    try:
        body = parse_form(posted, TemplateForm, tr).to_create(tr)
        with db.session_scope() as session:
            members.create_template(session, principal.workspace_id, body, actor=principal)
    except SiyuError as exc:
        return error_response(request, exc, target="#template-msg")
    return RedirectResponse("/benefits/coupons", status_code=303)


@router.post("/benefits/coupons/{template_id}/status")
def set_status(
    request: Request,
    template_id: Id,
    principal: CouponManager,
    db: DatabaseDep,
    status: Annotated[TemplateStatus, Form()],
) -> Response:
    try:
        with db.session_scope() as session:
            members.set_template_status(
                session, principal.workspace_id, template_id, status, actor=principal
            )
    except SiyuError as exc:
        return error_response(request, exc)
    return RedirectResponse("/benefits/coupons", status_code=303)


# --- the points mall -----------------------------------------------------------------------

MallManager = Annotated[Principal, require(Permission.mall_manage)]


def _mall_context(db: Database, principal: Principal) -> dict[str, Any]:
    with db.session_scope() as session:
        ws = principal.workspace_id
        templates = members.list_templates(session, ws)
        return {
            "active": "benefits",
            "items": members.list_items(session, ws),
            "templates": templates,
            "template_names": {t.id: t.name for t in templates},
            # Addresses are shown to those who ship (mall.manage) only.
            "fulfilments": (
                members.list_fulfilments(session, ws)
                if security.allows(principal.role, Permission.mall_manage)
                else []
            ),
        }


@router.get("/benefits/mall")
def mall_page(request: Request, principal: CouponReader, db: DatabaseDep) -> Response:
    return render(request, "benefits_mall.html", _mall_context(db, principal))


class ItemForm(ConsoleForm):
    labels: ClassVar[Mapping[str, str]] = {
        "name": "benefits.field.item_name",
        "kind": "benefits.field.kind",
        "template_id": "benefits.field.template",
        "points_price": "benefits.field.points_price",
        "stock": "benefits.field.stock",
    }
    refused_as: ClassVar[ErrorCode] = members_errors.INVALID_ITEM

    name: str = Field(default="", max_length=64)
    kind: str = Field(default="gift", max_length=16)
    template_id: int = Field(default=0, ge=0, le=2**62)
    points_price: int = Field(default=0, ge=0, le=100_000_000)
    stock: int = Field(default=0, ge=0, le=100_000_000)

    def to_create(self, tr: Translator) -> ItemCreate:
        return self.build(
            ItemCreate,
            tr,
            name=self.name,
            kind=self.kind,
            template_id=self.template_id or None,
            points_price=self.points_price,
            stock=self.stock,
        )


@router.post("/benefits/mall/items")
def create_item(
    request: Request, principal: MallManager, db: DatabaseDep, posted: Posted
) -> Response:
    tr = translator(request)
    try:
        body = parse_form(posted, ItemForm, tr).to_create(tr)
        with db.session_scope() as session:
            members.create_item(session, principal.workspace_id, body, actor=principal)
    except SiyuError as exc:
        return error_response(request, exc, target="#item-msg")
    return RedirectResponse("/benefits/mall", status_code=303)


@router.post("/benefits/mall/fulfilments/{fulfilment_id}/ship")
def ship(
    request: Request,
    fulfilment_id: Id,
    principal: MallManager,
    db: DatabaseDep,
    tracking: Annotated[str, Form(max_length=64)] = "",
) -> Response:
    try:
        with db.session_scope() as session:
            members.ship_fulfilment(
                session,
                principal.workspace_id,
                fulfilment_id,
                tracking.strip() or None,
                actor=principal,
            )
    except SiyuError as exc:
        return error_response(request, exc)
    return RedirectResponse("/benefits/mall", status_code=303)
