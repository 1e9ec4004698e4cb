"""Audience's pydantic models in and out."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from siyu.audience.enums import OaTagSource, OaTagSyncStatus, SkipReason

# The same 30 a WeChat tag name may take (fact sheet §2.7); bytes are checked by the service.
OA_TAG_NAME_MAX = 30


class OaTagSyncCreate(BaseModel):
    """Keep an OA tag equal to a siyu tag (`source`); the OA tag is named like it unless
    `oa_tag_name` says otherwise."""

    model_config = ConfigDict(extra="forbid")

    appid: str = Field(min_length=1, max_length=32)
    source_kind: OaTagSource = OaTagSource.tag
    source: str = Field(min_length=1, max_length=64)
    oa_tag_name: str | None = Field(default=None, min_length=1, max_length=OA_TAG_NAME_MAX)


class SkippedMember(BaseModel):
    member_id: int
    reason: SkipReason


class OaTagSyncReport(BaseModel):
    """What a sync did: members tagged and untagged on WeChat, and those skipped with why
    (counts by reason; the first examples by member)."""

    tagged: int = 0
    untagged: int = 0
    skipped: dict[SkipReason, int] = Field(default_factory=dict)
    examples: list[SkippedMember] = Field(default_factory=list)
    calls: int = 0
    error: str | None = None


class OaTagSyncRead(BaseModel):
    id: int
    appid: str
    source_kind: OaTagSource
    source: str
    oa_tag_name: str
    oa_tag_id: int | None
    status: OaTagSyncStatus
    members: int
    report: OaTagSyncReport
    started_at: datetime | None
    finished_at: datetime | None
    created_by: str
    created_at: datetime


class OaTagImport(BaseModel):
    model_config = ConfigDict(extra="forbid")

    appid: str = Field(min_length=1, max_length=32)


class OaTagImportReport(BaseModel):
    """An OA's tags brought in as siyu tags: how many tags, members tagged, and followers
    WeChat listed whom siyu does not know yet (they arrive with their next push)."""

    tags: list[str] = Field(default_factory=list)
    members_tagged: int = 0
    unknown_openids: int = 0


class OaTagBroadcastCreate(BaseModel):
    """A subscription account's broadcast (`sendall` with `tag_id`) to a synced OA tag."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=100)
    text: str = Field(min_length=1, max_length=2000)
    scheduled_at: datetime | None = None


def report_of(data: dict[str, Any]) -> OaTagSyncReport:
    return OaTagSyncReport.model_validate(data or {})
