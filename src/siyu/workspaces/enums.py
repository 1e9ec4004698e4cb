"""Workspaces' public enums: the kinds of apps and of the entities (主体) owning them."""

from __future__ import annotations

import enum


class EntityKind(enum.StrEnum):
    enterprise = "enterprise"
    individual_business = "individual_business"


class AppKind(enum.StrEnum):
    oa_service = "oa_service"
    oa_subscription = "oa_subscription"
    mp = "mp"
    h5 = "h5"
    external = "external"
