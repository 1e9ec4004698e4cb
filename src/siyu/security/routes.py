"""API for the acting operator: who am I, and API tokens for scripts."""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import BaseModel, Field

from siyu.core.http import DatabaseDep
from siyu.security import service
from siyu.security.auth import Authenticated
from siyu.security.schemas import NewApiToken, Principal

router = APIRouter(prefix="/api", tags=["operators"])


class TokenCreate(BaseModel):
    name: str = Field(min_length=1, max_length=100)


@router.get("/me")
def me(principal: Authenticated) -> Principal:
    return principal.model_copy(update={"csrf_token": None})


@router.post("/tokens", status_code=201)
def create_token(body: TokenCreate, principal: Authenticated, db: DatabaseDep) -> NewApiToken:
    with db.session_scope() as session:
        return service.create_api_token(session, principal.operator_id, body.name)
