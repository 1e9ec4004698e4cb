"""Audience's refusals: each code, its HTTP status and what an operator reads."""

from __future__ import annotations

from siyu.core.errors import ErrorCatalog

_codes = ErrorCatalog("audience")

# --- lifecycle tiers and RFM ------------------------------------------------------------------
INVALID_TIER_POLICY = _codes.add("invalid_tier_policy", 422, "分层策略没有保存：{reason}")
