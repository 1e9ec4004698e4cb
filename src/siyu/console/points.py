"""Console pages of 会员权益: 积分 (the policy, the earning rules, the ledger search and the
staff adjustment form) and 等级 (the levels, how many members hold each, and the level form).
A member's profile shows their points and level (`common.points_context`)."""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from typing import Annotated, Any, ClassVar

from fastapi import APIRouter, Query, Request
from fastapi.responses import RedirectResponse
from pydantic import Field
from starlette.responses import Response

from siyu.console.forms import ConsoleForm, Posted, parse_form
from siyu.console.web import ConsoleRoute, error_response, render, translator
from siyu.core.db import Database
from siyu.core.errors import SiyuError
from siyu.core.http import DatabaseDep
from siyu.core.params import MAX_NUMBER, Id
from siyu.identity import service as identity
from siyu.members import service as members
from siyu.members.enums import EarnTrigger, EntryKind
from siyu.members.schemas import AdjustIn, LevelIn, RuleIn
from siyu.security.auth import require
from siyu.security.enums import Permission
from siyu.security.schemas import Principal

router = APIRouter(include_in_schema=False, route_class=ConsoleRoute)
Reader = Annotated[Principal, require(Permission.points_read)]
Manager = Annotated[Principal, require(Permission.points_manage)]
Adjuster = Annotated[Principal, require(Permission.points_adjust)]


def _points_page(
    db: Database, principal: Principal, number: int | None, kind: str | None, source: str | None
) -> dict[str, Any]:
    with db.session_scope() as session:
        ws = principal.workspace_id
        member_id = None
        if number is not None:
            member_id = identity.get_member_by_number(session, ws, number).id
            identity.ensure_member_visible(session, principal, member_id)
        entries = members.ledger(
            session,
            ws,
            member_id=member_id,
            kind=EntryKind(kind) if kind else None,
            source=source or None,
            limit=100,
        )
        numbers = identity.numbers_of(session, ws, {e.member_id for e in entries})
        return {
            "active": "points",
            "policy": members.get_policy(session, ws),
            "rules": members.list_rules(session, ws),
            "triggers": list(EarnTrigger),
            "kinds": list(EntryKind),
            "entries": entries,
            "numbers": numbers,
            "search": {"member": number or "", "kind": kind or "", "source": source or ""},
        }


@router.get("/loyalty/points")
def points_page(
    request: Request,
    *,
    principal: Reader,
    db: DatabaseDep,
    member: Annotated[int | None, Query(ge=1, le=MAX_NUMBER)] = None,
    kind: Annotated[EntryKind | None, Query()] = None,
    source: Annotated[str | None, Query(max_length=128)] = None,
) -> Response:
    try:
        context = _points_page(db, principal, member, kind, source)
    except SiyuError as exc:
        return error_response(request, exc)
    return render(request, "loyalty_points.html", context)


class RuleForm(ConsoleForm):
    labels: ClassVar[Mapping[str, str]] = {
        "trigger": "points.col.trigger",
        "points": "points.col.points",
        "growth": "points.col.growth",
        "daily_cap": "points.col.daily_cap",
        "member_cap": "points.col.member_cap",
    }

    trigger: str = Field(default="", max_length=32)
    points: int = Field(default=0, ge=0, le=1_000_000)
    growth: int = Field(default=0, ge=0, le=1_000_000)
    daily_cap: int | None = Field(default=None, ge=0, le=100_000_000)
    member_cap: int | None = Field(default=None, ge=0, le=100_000_000)


@router.post("/loyalty/points/rules")
def add_rule(request: Request, principal: Manager, db: DatabaseDep, posted: Posted) -> Response:
    tr = translator(request)
    try:
        form = parse_form(posted, RuleForm, tr)
        body = form.build(RuleIn, tr, **form.model_dump())
        with db.session_scope() as session:
            members.create_rule(session, principal, body)
    except SiyuError as exc:
        return error_response(request, exc, target="#rule-msg")
    return RedirectResponse("/loyalty/points", status_code=303)


@router.post("/loyalty/points/rules/{rule_id}/delete")
def delete_rule(request: Request, rule_id: Id, principal: Manager, db: DatabaseDep) -> Response:
    try:
        with db.session_scope() as session:
            members.delete_rule(session, principal, rule_id)
    except SiyuError as exc:
        return error_response(request, exc)
    return RedirectResponse("/loyalty/points", status_code=303)


class AdjustForm(ConsoleForm):
    labels: ClassVar[Mapping[str, str]] = {
        "member_number": "points.field.member",
        "amount": "points.field.amount",
        "reason": "points.field.reason",
    }

    member_number: int = Field(default=0, ge=0, le=MAX_NUMBER)
    amount: int = Field(default=0, ge=-100_000_000, le=100_000_000)
    reason: str = Field(default="", max_length=200)
    key: str = Field(default="", max_length=64)


@router.post("/loyalty/points/adjust")
def adjust(request: Request, principal: Adjuster, db: DatabaseDep, posted: Posted) -> Response:
    """A grant or deduction with its reason (audited); the form's key makes a double submit
    one adjustment."""
    tr = translator(request)
    try:
        form = parse_form(posted, AdjustForm, tr)
        body = form.build(
            AdjustIn, tr, member_number=form.member_number, amount=form.amount, reason=form.reason
        )
        with db.session_scope() as session:
            members.adjust_by_number(session, principal, body, form.key or secrets.token_hex(12))
    except SiyuError as exc:
        return error_response(request, exc, target="#adjust-msg")
    return RedirectResponse(f"/loyalty/points?member={body.member_number}", status_code=303)


# --- levels ----------------------------------------------------------------------------------


@router.get("/loyalty/levels")
def levels_page(request: Request, principal: Reader, db: DatabaseDep) -> Response:
    tr = translator(request)
    with db.session_scope() as session:
        ws = principal.workspace_id
        levels = members.list_levels(session, ws)
        counts = members.members_by_level(session, ws)
        policy = members.get_policy(session, ws)
    names = [tr("levels.none"), *(lv.name for lv in levels)]
    values = [counts.get(0, 0), *(counts.get(lv.rank, 0) for lv in levels)]
    chart = {
        "tooltip": {},
        "xAxis": {"type": "category", "data": names},
        "yAxis": {"type": "value", "name": tr("levels.col.members"), "minInterval": 1},
        "series": [{"type": "bar", "name": tr("levels.col.members"), "data": values}],
    }
    context = {
        "active": "levels",
        "levels": levels,
        "counts": counts,
        "policy": policy,
        "chart": chart,
    }
    return render(request, "loyalty_levels.html", context)


class LevelForm(ConsoleForm):
    labels: ClassVar[Mapping[str, str]] = {
        "rank": "levels.col.rank",
        "name": "levels.col.name",
        "threshold": "levels.col.threshold",
        "multiplier": "levels.col.multiplier",
        "coupon_pack": "levels.col.coupon_pack",
    }

    rank: int = Field(default=1, ge=1, le=100)
    name: str = Field(default="", max_length=32)
    threshold: int = Field(default=0, ge=0, le=1_000_000_000)
    multiplier: int = Field(default=100, ge=100, le=1000)
    member_only: bool = False
    coupon_pack: str = Field(default="", max_length=64)


@router.post("/loyalty/levels")
def add_level(request: Request, principal: Manager, db: DatabaseDep, posted: Posted) -> Response:
    tr = translator(request)
    try:
        form = parse_form(posted, LevelForm, tr)
        body = form.build(
            LevelIn,
            tr,
            **{**form.model_dump(), "coupon_pack": form.coupon_pack.strip() or None},
        )
        with db.session_scope() as session:
            members.create_level(session, principal, body)
    except SiyuError as exc:
        return error_response(request, exc, target="#level-msg")
    return RedirectResponse("/loyalty/levels", status_code=303)


@router.post("/loyalty/levels/{level_id}/delete")
def delete_level(request: Request, level_id: Id, principal: Manager, db: DatabaseDep) -> Response:
    try:
        with db.session_scope() as session:
            members.delete_level(session, principal, level_id)
    except SiyuError as exc:
        return error_response(request, exc)
    return RedirectResponse("/loyalty/levels", status_code=303)
