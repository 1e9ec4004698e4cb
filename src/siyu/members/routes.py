"""Members' HTTP surface: the staff API (points under /api/points) and the Mini Program's
member centre under /api/mp/{appid}/me (the member's own session)."""

from __future__ import annotations

import secrets
from typing import Annotated

from fastapi import APIRouter, Header, Query
from sqlalchemy.orm import Session

from siyu.core.http import DatabaseDep
from siyu.core.params import Id, Number, Offset
from siyu.identity import service as identity
from siyu.members import service
from siyu.members.coupons_routes import router as coupons_router
from siyu.members.enums import EntryKind
from siyu.members.schemas import (
    AdjustIn,
    BalanceRead,
    EntryRead,
    LevelIn,
    LevelRead,
    MyLevel,
    MyPoints,
    PolicyIn,
    PolicyRead,
    RuleIn,
    RuleRead,
    SigninCalendar,
    SigninRead,
)
from siyu.security.auth import require
from siyu.security.enums import Permission
from siyu.security.schemas import Principal
from siyu.wechat import service as wechat

router = APIRouter(prefix="/api", tags=["members and growth"])

PointsReader = Annotated[Principal, require(Permission.points_read)]
PointsManager = Annotated[Principal, require(Permission.points_manage)]
PointsAdjuster = Annotated[Principal, require(Permission.points_adjust)]
Authorization = Annotated[str | None, Header()]
Limit = Annotated[int, Query(ge=1, le=200)]
Month = Annotated[str | None, Query(pattern=r"^20\d{2}-(0[1-9]|1[0-2])$")]


def _me(session: Session, appid: str, authorization: str | None) -> tuple[int, int]:
    """The workspace and the member (merges followed) of a Mini Program session."""
    principal = wechat.authenticate(session, appid, authorization)
    workspace_id = principal.app.workspace_id
    return workspace_id, identity.surviving_member_id(session, workspace_id, principal.member_id)


# --- the member centre (Mini Program session) --------------------------------------------------


@router.post("/mp/{appid}/me/signin")
def sign_in(appid: str, db: DatabaseDep, authorization: Authorization = None) -> SigninRead:
    """Today's sign-in (Beijing day): points, streak and its bonus. Twice a day: 409."""
    with db.session_scope() as session:
        workspace_id, member_id = _me(session, appid, authorization)
        return service.sign_in(session, workspace_id, member_id, "mp")


@router.get("/mp/{appid}/me/signin")
def signin_calendar(
    appid: str, db: DatabaseDep, month: Month = None, authorization: Authorization = None
) -> SigninCalendar:
    """The days of a month signed in, the streak, and what today gives."""
    with db.session_scope() as session:
        workspace_id, member_id = _me(session, appid, authorization)
        return service.signin_calendar(session, workspace_id, member_id, month)


@router.get("/mp/{appid}/me/points")
def my_points(
    appid: str,
    db: DatabaseDep,
    limit: Limit = 20,
    offset: Offset = 0,
    authorization: Authorization = None,
) -> MyPoints:
    """The balance, what expires soon, and the history (newest first)."""
    with db.session_scope() as session:
        workspace_id, member_id = _me(session, appid, authorization)
        return service.my_points(session, workspace_id, member_id, limit=limit, offset=offset)


@router.get("/mp/{appid}/me/level")
def my_level(appid: str, db: DatabaseDep, authorization: Authorization = None) -> MyLevel:
    """The level, its benefits, and the growth still needed for the next one."""
    with db.session_scope() as session:
        workspace_id, member_id = _me(session, appid, authorization)
        return service.my_level(session, workspace_id, member_id)


# --- staff: policy, rules, levels ------------------------------------------------------------


@router.get("/points/policy")
def get_policy(principal: PointsReader, db: DatabaseDep) -> PolicyRead:
    with db.session_scope() as session:
        return service.get_policy(session, principal.workspace_id)


@router.put("/points/policy")
def set_policy(body: PolicyIn, principal: PointsManager, db: DatabaseDep) -> PolicyRead:
    """Expiry (rolling months or a fixed day), reminders, sign-in points, level periods."""
    with db.session_scope() as session:
        return service.set_policy(session, principal, body)


@router.get("/points/rules")
def list_rules(principal: PointsReader, db: DatabaseDep) -> list[RuleRead]:
    with db.session_scope() as session:
        return service.list_rules(session, principal.workspace_id)


@router.post("/points/rules", status_code=201)
def create_rule(body: RuleIn, principal: PointsManager, db: DatabaseDep) -> RuleRead:
    with db.session_scope() as session:
        return service.create_rule(session, principal, body)


@router.put("/points/rules/{rule_id}")
def update_rule(rule_id: Id, body: RuleIn, principal: PointsManager, db: DatabaseDep) -> RuleRead:
    with db.session_scope() as session:
        return service.update_rule(session, principal, rule_id, body)


@router.delete("/points/rules/{rule_id}", status_code=204)
def delete_rule(rule_id: Id, principal: PointsManager, db: DatabaseDep) -> None:
    with db.session_scope() as session:
        service.delete_rule(session, principal, rule_id)


@router.get("/points/levels")
def list_levels(principal: PointsReader, db: DatabaseDep) -> list[LevelRead]:
    with db.session_scope() as session:
        return service.list_levels(session, principal.workspace_id)


@router.post("/points/levels", status_code=201)
def create_level(body: LevelIn, principal: PointsManager, db: DatabaseDep) -> LevelRead:
    with db.session_scope() as session:
        return service.create_level(session, principal, body)


@router.put("/points/levels/{level_id}")
def update_level(
    level_id: Id, body: LevelIn, principal: PointsManager, db: DatabaseDep
) -> LevelRead:
    with db.session_scope() as session:
        return service.update_level(session, principal, level_id, body)


@router.delete("/points/levels/{level_id}", status_code=204)
def delete_level(level_id: Id, principal: PointsManager, db: DatabaseDep) -> None:
    with db.session_scope() as session:
        service.delete_level(session, principal, level_id)


# --- staff: balances, ledger, adjustments ----------------------------------------------------


@router.get("/points/members/{number}")
def member_balance(number: Number, principal: PointsReader, db: DatabaseDep) -> BalanceRead:
    """A member's balance, growth and level, by member number."""
    with db.session_scope() as session:
        member = identity.get_member_by_number(session, principal.workspace_id, number)
        identity.ensure_member_visible(session, principal, member.id)
        read = service.balance_of(session, principal.workspace_id, member.id)
        return read.model_copy(update={"member_number": number})


@router.get("/points/ledger")
def ledger(
    principal: PointsReader,
    db: DatabaseDep,
    member: Number | None = None,
    kind: EntryKind | None = None,
    source: Annotated[str | None, Query(max_length=128)] = None,
    limit: Limit = 50,
    offset: Offset = 0,
) -> list[EntryRead]:
    """Ledger entries, newest first: by member number, kind, or source key prefix."""
    with db.session_scope() as session:
        member_id = None
        if member is not None:
            found = identity.get_member_by_number(session, principal.workspace_id, member)
            identity.ensure_member_visible(session, principal, found.id)
            member_id = found.id
        return service.ledger(
            session,
            principal.workspace_id,
            member_id=member_id,
            kind=kind,
            source=source,
            limit=limit,
            offset=offset,
        )


@router.post("/points/adjust", status_code=201)
def adjust(
    body: AdjustIn,
    principal: PointsAdjuster,
    db: DatabaseDep,
    idempotency_key: Annotated[str | None, Header(min_length=1, max_length=64)] = None,
) -> EntryRead:
    """Grant (positive) or deduct (negative) with a reason, audited; an `Idempotency-Key`
    header makes a retried request one adjustment."""
    key = idempotency_key or secrets.token_hex(12)
    with db.session_scope() as session:
        return service.adjust_by_number(session, principal, body, key)


router.include_router(coupons_router)
