"""The entries enums other domains, the console and the CLI may name (models store them)."""

from __future__ import annotations

import enum


class LinkStatus(enum.StrEnum):
    pending = "pending"
    linked = "linked"
    refused = "refused"
    unlinked = "unlinked"  # the link was ended in WeChat (解除关联); linking again asks anew


class CodeKind(enum.StrEnum):
    oa_qr_temp = "oa_qr_temp"
    oa_qr_permanent = "oa_qr_permanent"
    mp_code = "mp_code"
    url_link = "url_link"


class ChannelStatus(enum.StrEnum):
    active = "active"
    archived = "archived"


class ArrivalKind(enum.StrEnum):
    subscribe = "subscribe"  # a follow through a parametric QR code
    scan = "scan"  # a follower's scan
    launch = "launch"  # a Mini Program opened with the channel's scene or query


class MenuStatus(enum.StrEnum):
    draft = "draft"
    published = "published"
    failed = "failed"
