"""Coupons' and the points mall's HTTP surface, under members' `/api` router: the staff API
(coupon templates, issue, reports; redemption for the brand's mall or till) and the Mini
Program's member centre (`/api/mp/{appid}/me/…`)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Header

from siyu.core.http import DatabaseDep
from siyu.core.params import Id
from siyu.members import service
from siyu.members.enums import FulfilmentStatus
from siyu.members.schemas import (
    ClaimIn,
    CouponRead,
    ExchangeIn,
    ExchangeRead,
    FulfilmentRead,
    IssueIn,
    IssueResult,
    ItemCreate,
    ItemRead,
    MyCoupons,
    RedeemIn,
    RedemptionRead,
    RefundIn,
    ShipIn,
    TemplateCreate,
    TemplateRead,
    TemplateReport,
    TemplateStatusIn,
)
from siyu.security.auth import require
from siyu.security.enums import Permission
from siyu.security.schemas import Principal
from siyu.wechat import service as wechat

router = APIRouter(tags=["members and growth"])  # included by members.routes, under /api

CouponReader = Annotated[Principal, require(Permission.coupons_read)]
CouponManager = Annotated[Principal, require(Permission.coupons_manage)]
Redeemer = Annotated[Principal, require(Permission.coupons_redeem)]
MallManager = Annotated[Principal, require(Permission.mall_manage)]
Authorization = Annotated[str | None, Header()]


# --- coupon templates (staff) --------------------------------------------------------------


@router.post("/coupons/templates", status_code=201)
def create_template(
    body: TemplateCreate, principal: CouponManager, db: DatabaseDep
) -> TemplateRead:
    with db.session_scope() as session:
        return service.create_template(session, principal.workspace_id, body, actor=principal)


@router.get("/coupons/templates")
def list_templates(principal: CouponReader, db: DatabaseDep) -> list[TemplateRead]:
    with db.session_scope() as session:
        return service.list_templates(session, principal.workspace_id)


@router.get("/coupons/templates/{template_id}")
def get_template(template_id: Id, principal: CouponReader, db: DatabaseDep) -> TemplateRead:
    with db.session_scope() as session:
        return service.get_template(session, principal.workspace_id, template_id)


@router.post("/coupons/templates/{template_id}/status")
def set_template_status(
    template_id: Id, body: TemplateStatusIn, principal: CouponManager, db: DatabaseDep
) -> TemplateRead:
    with db.session_scope() as session:
        return service.set_template_status(
            session, principal.workspace_id, template_id, body.status, actor=principal
        )


@router.post("/coupons/templates/{template_id}/issue")
def issue(template_id: Id, body: IssueIn, principal: CouponManager, db: DatabaseDep) -> IssueResult:
    """One coupon to each member named by number; refusals are listed with their codes."""
    with db.session_scope() as session:
        return service.issue_by_staff(
            session, principal.workspace_id, template_id, body.member_numbers, actor=principal
        )


@router.get("/coupons/templates/{template_id}/report")
def template_report(template_id: Id, principal: CouponReader, db: DatabaseDep) -> TemplateReport:
    with db.session_scope() as session:
        return service.template_reports(session, principal.workspace_id, template_id)[0]


@router.get("/coupons/report")
def report(principal: CouponReader, db: DatabaseDep) -> list[TemplateReport]:
    with db.session_scope() as session:
        return service.template_reports(session, principal.workspace_id)


# --- redemption (the brand's mall or till) -------------------------------------------------


@router.post("/coupons/redeem")
def redeem(body: RedeemIn, principal: Redeemer, db: DatabaseDep) -> RedemptionRead:
    """Use a coupon on an order; the same order asked again gets the same answer."""
    with db.session_scope() as session:
        return service.redeem(session, principal.workspace_id, body, actor=principal)


@router.post("/coupons/refund")
def refund(body: RefundIn, principal: Redeemer, db: DatabaseDep) -> RedemptionRead:
    """The order was refunded: its coupon returns to the member (usable if still valid)."""
    with db.session_scope() as session:
        return service.refund_order(session, principal.workspace_id, body.order_id, actor=principal)


# --- the member centre (Mini Program) ------------------------------------------------------


@router.get("/mp/{appid}/me/coupons")
def my_coupons(appid: str, db: DatabaseDep, authorization: Authorization = None) -> MyCoupons:
    with db.session_scope() as session:
        principal = wechat.authenticate(session, appid, authorization)
        return service.my_coupons(session, principal.app.workspace_id, principal.member_id)


@router.get("/mp/{appid}/coupons/claimable")
def claimable(
    appid: str, db: DatabaseDep, authorization: Authorization = None
) -> list[TemplateRead]:
    with db.session_scope() as session:
        principal = wechat.authenticate(session, appid, authorization)
        return service.claimable_templates(session, principal.app.workspace_id)


@router.post("/mp/{appid}/me/coupons/claim", status_code=201)
def claim(
    appid: str, body: ClaimIn, db: DatabaseDep, authorization: Authorization = None
) -> CouponRead:
    with db.session_scope() as session:
        principal = wechat.authenticate(session, appid, authorization)
        return service.claim_in_mp(
            session, principal.app.workspace_id, principal.member_id, body.template_id
        )


# --- the points mall -----------------------------------------------------------------------


@router.post("/mall/items", status_code=201)
def create_item(body: ItemCreate, principal: MallManager, db: DatabaseDep) -> ItemRead:
    with db.session_scope() as session:
        return service.create_item(session, principal.workspace_id, body, actor=principal)


@router.get("/mall/items")
def list_items(principal: CouponReader, db: DatabaseDep) -> list[ItemRead]:
    with db.session_scope() as session:
        return service.list_items(session, principal.workspace_id)


@router.get("/mall/fulfilments")
def list_fulfilments(
    principal: MallManager, db: DatabaseDep, status: FulfilmentStatus | None = None
) -> list[FulfilmentRead]:
    """Gifts to send, with the recipient's address (decrypted for staff who ship)."""
    with db.session_scope() as session:
        return service.list_fulfilments(session, principal.workspace_id, status=status)


@router.post("/mall/fulfilments/{fulfilment_id}/ship")
def ship(
    fulfilment_id: Id, body: ShipIn, principal: MallManager, db: DatabaseDep
) -> FulfilmentRead:
    with db.session_scope() as session:
        return service.ship_fulfilment(
            session, principal.workspace_id, fulfilment_id, body.tracking, actor=principal
        )


@router.get("/mp/{appid}/mall/items")
def mall_items(appid: str, db: DatabaseDep, authorization: Authorization = None) -> list[ItemRead]:
    with db.session_scope() as session:
        principal = wechat.authenticate(session, appid, authorization)
        return service.list_items(session, principal.app.workspace_id, offered=True)


@router.post("/mp/{appid}/me/mall/exchanges", status_code=201)
def exchange(
    appid: str, body: ExchangeIn, db: DatabaseDep, authorization: Authorization = None
) -> ExchangeRead:
    """Exchange points for an item; the same `request_key` again answers the same."""
    with db.session_scope() as session:
        principal = wechat.authenticate(session, appid, authorization)
        return service.exchange(session, principal.app.workspace_id, principal.member_id, body)
