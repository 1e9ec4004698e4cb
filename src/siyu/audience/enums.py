"""Audience's enums that other domains may use."""

from __future__ import annotations

import enum


class SegmentKind(enum.StrEnum):
    dynamic = "dynamic"  # its membership follows the definition (a job refreshes it)
    static = "static"  # a snapshot, taken at creation and when an operator asks again
