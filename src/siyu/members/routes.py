"""Members' staff API."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(prefix="/api", tags=["members and growth"])
