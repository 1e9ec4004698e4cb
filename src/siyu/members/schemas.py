"""Members' pydantic models in and out."""

from __future__ import annotations
