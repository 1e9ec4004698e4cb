"""Members' operations; each topic is a module, re-exported here."""

from __future__ import annotations

__all__: list[str] = []
