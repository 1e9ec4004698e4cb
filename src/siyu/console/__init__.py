"""The operator console: server-rendered pages (Jinja2 + htmx + ECharts), zh-CN first.

One module per area, each with its own `router`; `routers` lists them in the order the app
includes them (routes are matched in order)."""

from __future__ import annotations

from fastapi import APIRouter

from siyu.console import (
    account,
    analytics,
    apps,
    audit,
    autoreply,
    benefits,
    community,
    entries,
    imports,
    leads,
    members,
    menus,
    operators,
    overview,
    payments,
    points,
    reach,
    reach_templates,
    review,
    segments,
    simulator,
    tiers,
    tokens,
)
from siyu.console.common import static_files

__all__ = ["routers", "static_files"]

routers: tuple[APIRouter, ...] = (
    account.router,
    overview.router,
    analytics.router,
    members.router,
    segments.router,
    payments.router,
    review.router,
    imports.router,
    apps.router,
    audit.router,
    operators.router,
    tokens.router,
    community.router,
    reach.router,
    reach_templates.router,
    autoreply.router,
    points.router,
    benefits.router,
    entries.router,
    menus.router,
    leads.router,
    simulator.router,
    tiers.router,
)
