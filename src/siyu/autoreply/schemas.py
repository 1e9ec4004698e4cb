"""Auto-reply's public shapes: a rule as the API, the console and the CLI write and read it."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from siyu.autoreply.enums import MatchKind, RuleKind


class ReplyIn(BaseModel):
    """What a rule answers: text, image, news, an MP card, a link, or the MP → OA hand-off (a
    link card to the OA QR code of an entries channel, `channel_id`)."""

    model_config = ConfigDict(extra="forbid")

    type: Literal["text", "image", "news", "mp_card", "link", "handoff"]
    content: str | None = Field(default=None, max_length=2000)
    media_id: str | None = Field(default=None, max_length=128)
    articles: list[dict[str, str]] | None = Field(default=None, max_length=8)
    title: str | None = Field(default=None, max_length=64)
    description: str | None = Field(default=None, max_length=200)
    url: str | None = Field(default=None, max_length=1024)
    pic_url: str | None = Field(default=None, max_length=1024)
    appid: str | None = Field(default=None, max_length=32)
    pagepath: str | None = Field(default=None, max_length=255)
    thumb_media_id: str | None = Field(default=None, max_length=128)
    channel_id: int | None = Field(default=None, ge=1, le=2**62)


class RuleCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    appid: str = Field(min_length=1, max_length=32)
    name: str = Field(default="", max_length=100)
    kind: RuleKind = RuleKind.keyword
    match: MatchKind = MatchKind.exact
    keywords: list[str] = Field(default_factory=list, max_length=50)
    priority: int = Field(default=100, ge=0, le=10_000)
    active_from: datetime | None = None
    active_until: datetime | None = None
    reply: ReplyIn
    tag: str | None = Field(default=None, min_length=1, max_length=30)


class RuleRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    app_id: int
    name: str
    kind: RuleKind
    match: MatchKind
    keywords: list[str]
    priority: int
    active_from: datetime | None
    active_until: datetime | None
    reply: dict[str, Any]
    tag: str | None
    enabled: bool


class RuleTest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    appid: str = Field(min_length=1, max_length=32)
    message: str = Field(max_length=2048)


class RuleTestResult(BaseModel):
    rule: RuleRead | None
    reply: dict[str, Any] | None
