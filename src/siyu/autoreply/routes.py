"""Auto-reply's staff API: the rules of each app, and the tester that names the rule a
message hits."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter

from siyu.autoreply import service
from siyu.autoreply.schemas import RuleCreate, RuleRead, RuleTest, RuleTestResult
from siyu.core.http import DatabaseDep
from siyu.core.params import Id
from siyu.security.auth import require
from siyu.security.enums import Permission
from siyu.security.schemas import Principal

router = APIRouter(prefix="/api/autoreply", tags=["auto-replies"])

RuleManager = Annotated[Principal, require(Permission.autoreply_manage)]


@router.get("/rules")
def list_rules(principal: RuleManager, db: DatabaseDep) -> list[RuleRead]:
    with db.session_scope() as session:
        return service.list_rules(session, principal.workspace_id)


@router.post("/rules", status_code=201)
def add_rule(body: RuleCreate, principal: RuleManager, db: DatabaseDep) -> RuleRead:
    with db.session_scope() as session:
        return service.add_rule(session, principal.workspace_id, body, principal)


@router.delete("/rules/{rule_id}", status_code=204)
def delete_rule(rule_id: Id, principal: RuleManager, db: DatabaseDep) -> None:
    with db.session_scope() as session:
        service.delete_rule(session, principal.workspace_id, rule_id, principal)


@router.post("/test")
def try_rules(body: RuleTest, principal: RuleManager, db: DatabaseDep) -> RuleTestResult:
    """Which rule a message hits, and the reply it gets (nothing is sent)."""
    with db.session_scope() as session:
        return service.explain_message(session, principal.workspace_id, body.appid, body.message)
