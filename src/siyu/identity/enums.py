"""Identity's public enums: member and identity kinds, review and import states, consents."""

from __future__ import annotations

import enum


class MemberStatus(enum.StrEnum):
    active = "active"
    merged = "merged"


class IdentityKind(enum.StrEnum):
    unionid = "unionid"
    openid = "openid"
    phone = "phone"
    external = "external"


class ConflictStatus(enum.StrEnum):
    open = "open"
    merged = "merged"
    dismissed = "dismissed"


class ImportStatus(enum.StrEnum):
    queued = "queued"
    running = "running"
    done = "done"
    failed = "failed"


class ConsentPurpose(enum.StrEnum):
    phone = "phone"
    subscription = "subscription"
    marketing = "marketing"
