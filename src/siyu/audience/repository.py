"""Audience's queries."""

from __future__ import annotations
