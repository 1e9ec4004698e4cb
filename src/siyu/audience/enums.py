"""Audience's enums that other domains may use."""

from __future__ import annotations

import enum


class OaTagSource(enum.StrEnum):
    """What an OA tag is kept equal to: a siyu tag now; a segment once segments exist."""

    tag = "tag"


class OaTagSyncStatus(enum.StrEnum):
    idle = "idle"
    running = "running"
    done = "done"
    failed = "failed"


class SkipReason(enum.StrEnum):
    """Why a member of the audience is not on the OA tag after a sync."""

    not_following = "not_following"  # no openid of this OA, or unfollowed
    user_tag_limit = "user_tag_limit"  # already carries 20 OA tags (fact sheet §2.7)
