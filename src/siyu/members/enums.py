"""Members' enums that other domains may use."""

from __future__ import annotations
