"""The operator console: server-rendered pages (Jinja2 + htmx + ECharts), zh-CN first.

One module per area, each with its own `router`; `routers` lists them in the order the app
includes them (routes are matched in order)."""

from __future__ import annotations

from fastapi import APIRouter

from siyu.console import (
    account,
    apps,
    audit,
    autoreply,
    benefits,
    community,
    entries,
    imports,
    members,
    menus,
    operators,
    overview,
    payments,
    reach,
    reach_templates,
    review,
    simulator,
    tokens,
)
from siyu.console.common import static_files

__all__ = ["routers", "static_files"]

routers: tuple[APIRouter, ...] = (
    account.router,
    overview.router,
    members.router,
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
    benefits.router,
    entries.router,
    menus.router,
    simulator.router,
)
