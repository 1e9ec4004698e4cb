"""Reach's public shapes: what other domains, the API and the console exchange with it."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from siyu.core.params import Id
from siyu.reach.enums import BroadcastStatus, SendStatus, TemplateKind
from siyu.reach.policy import LegacyTally

KEY_PATTERN = r"^[a-z0-9][a-z0-9_.-]{0,63}$"


class TemplateCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    key: str = Field(pattern=KEY_PATTERN)
    kind: TemplateKind
    appid: str = Field(min_length=1, max_length=32)
    template_id: str = Field(default="", max_length=64)
    title: str = Field(min_length=1, max_length=64)
    fields: dict[str, str] = Field(default_factory=dict, max_length=20)
    body: str = Field(default="", max_length=600)
    page: str | None = Field(default=None, max_length=255)
    url: str | None = Field(default=None, max_length=1024)


class TemplateUpdate(BaseModel):
    """What may change in a registered form of a notice (its key, kind and app stay)."""

    model_config = ConfigDict(extra="forbid")

    template_id: str = Field(default="", max_length=64)
    title: str = Field(min_length=1, max_length=64)
    fields: dict[str, str] = Field(default_factory=dict, max_length=20)
    body: str = Field(default="", max_length=600)
    page: str | None = Field(default=None, max_length=255)
    url: str | None = Field(default=None, max_length=1024)


class TemplateRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    key: str
    kind: TemplateKind
    app_id: int
    template_id: str
    title: str
    fields: dict[str, str]
    body: str
    page: str | None
    url: str | None


class NotifyIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    member_id: Id
    template_key: str = Field(pattern=KEY_PATTERN)
    data: dict[str, str] = Field(default_factory=dict, max_length=30)
    category: str = Field(default="service", max_length=32)
    urgency: Literal["urgent", "normal", "low"] = "normal"
    dedupe_key: str | None = Field(default=None, min_length=1, max_length=100)


class SendRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    member_id: int
    dedupe_key: str
    template_key: str
    category: str
    urgency: str
    status: SendStatus
    channel: str | None
    app_id: int | None
    reason: str | None
    errcode: int | None
    attempts: int
    broadcast_id: int | None
    hold_until: datetime | None
    created_at: datetime
    sent_at: datetime | None
    finished_at: datetime | None


class PreferencesIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    muted: list[str] = Field(default_factory=list, max_length=20)
    do_not_contact: bool = False


class PreferencesRead(PreferencesIn):
    member_id: int


class LedgerRow(BaseModel):
    app_id: int
    following: bool | None
    window_open_until: datetime | None
    window_left: int
    mass_this_month: int


class CreditRow(BaseModel):
    app_id: int
    template_id: str
    left: int


class LedgerRead(BaseModel):
    member_id: int
    apps: list[LedgerRow]
    credits: list[CreditRow]


class BroadcastCreate(BaseModel):
    """A notice by intent to each member of the audience (`template_key`), or an OA mass
    broadcast (`mass_appid` and `mass_text`) to the audience's followers of that account."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=100)
    template_key: str | None = Field(default=None, pattern=KEY_PATTERN)
    mass_appid: str | None = Field(default=None, max_length=32)
    mass_text: str | None = Field(default=None, min_length=1, max_length=2000)
    # A subscription account's broadcast to one of its OA tags (sendall with filter.tag_id;
    # 0/1 are WeChat's reserved ids, 2 its 星标组): `member_ids` are the tag's members as siyu
    # knows them, whose sends record it.
    mass_tag_id: int | None = Field(default=None, ge=2, le=2**31 - 1)
    data: dict[str, str] = Field(default_factory=dict, max_length=30)
    category: str = Field(default="activity", max_length=32)
    urgency: Literal["urgent", "normal", "low"] = "normal"
    tag: str | None = Field(default=None, min_length=1, max_length=30)
    following_appid: str | None = Field(default=None, max_length=32)
    member_ids: list[Id] | None = Field(default=None, max_length=200_000)
    scheduled_at: datetime | None = None
    per_minute: int = Field(default=600, ge=1, le=100_000)


class BroadcastRead(BaseModel):
    id: int
    name: str
    template_key: str
    category: str
    status: BroadcastStatus
    audience: dict[str, Any]
    total: int
    done: int
    per_minute: int
    scheduled_at: datetime
    created_at: datetime
    finished_at: datetime | None
    outcomes: dict[str, int] = Field(default_factory=dict)


class LegacyReport(BaseModel):
    """The pre-2020 Mini Program template-message rules over a period's history: a form
    submit allowed 1 message within 7 days, a payment 3."""

    appid: str
    since: datetime
    until: datetime
    members: int
    totals: LegacyTally


class NoticeBacklog(BaseModel):
    """Sends waiting for their delivery job, the oldest one's age, and those sent lately."""

    waiting: int
    oldest_age_seconds: float | None
    sent_last_minutes: int
    minutes: int
