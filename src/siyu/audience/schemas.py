"""Audience's pydantic models in and out."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from siyu.audience.enums import SegmentKind
from siyu.reach.schemas import KEY_PATTERN

NAME_MAX = 64


class SegmentPreviewIn(BaseModel):
    """A definition to count while editing (the tree is checked by the service, with paths)."""

    model_config = ConfigDict(extra="forbid")
    definition: dict[str, Any]


class SegmentCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=NAME_MAX)
    description: str = Field(default="", max_length=200)
    kind: SegmentKind = SegmentKind.dynamic
    definition: dict[str, Any]
    # A tag kept equal to the segment: members get it on entering and lose it on leaving.
    rule_tag: str | None = Field(default=None, min_length=1, max_length=NAME_MAX)


class SegmentUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str | None = Field(default=None, min_length=1, max_length=NAME_MAX)
    description: str | None = Field(default=None, max_length=200)
    definition: dict[str, Any] | None = None


class SegmentRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: int
    name: str
    description: str
    kind: SegmentKind
    definition: dict[str, Any]
    rule_tag: str | None
    member_count: int
    refreshed_at: datetime | None
    created_by: str
    created_at: datetime
    updated_at: datetime


class SegmentPreview(BaseModel):
    count: int
    members: list[int]  # member numbers, the first ones


class SegmentMemberRow(BaseModel):
    member_id: int
    number: int
    entered_at: datetime


class SegmentMembersPage(BaseModel):
    items: list[SegmentMemberRow]
    total: int
    offset: int
    more: bool


class RefreshResult(BaseModel):
    segment_id: int
    entered: int
    left: int
    count: int
    tagged: int = 0
    untagged: int = 0


class SegmentNotice(BaseModel):
    """A notice (a reach template by intent) or an OA mass text to the segment's members."""

    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=100)
    template_key: str | None = Field(default=None, pattern=KEY_PATTERN)
    mass_appid: str | None = Field(default=None, max_length=32)
    mass_text: str | None = Field(default=None, min_length=1, max_length=2000)
    data: dict[str, str] = Field(default_factory=dict, max_length=30)
    category: str = Field(default="activity", max_length=32)
    urgency: Literal["urgent", "normal", "low"] = "normal"
    scheduled_at: datetime | None = None
    per_minute: int = Field(default=600, ge=1, le=100_000)


class TagGroupIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=NAME_MAX)
    tags: list[str] = Field(default_factory=list, max_length=200)


class TagGroupRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: int
    name: str
    tags: list[str]
    counts: dict[str, int] = Field(default_factory=dict)
