"""What the entries domain accepts and returns."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from siyu.entries.enums import ArrivalKind, ChannelStatus, CodeKind, LinkStatus, MenuStatus

# A channel's slug is the scene its codes carry: it must fit an MP code's scene (≤32 visible
# characters, fact sheet §3) and an OA QR's scene_str (≤64), so the stricter rule holds.
SLUG = re.compile(r"^[A-Za-z0-9_-]{1,32}$")
MP_SCENE = re.compile(r"^[0-9A-Za-z!#$&'()*+,/:;=?@\-._~]{1,32}$")
MAX_TAGS = 20  # tags per user on WeChat (fact sheet §2.7)
MAX_LINK_DAYS = 30  # URL links and schemes since 2022-04-11 (fact sheet §3)
MAX_TEMP_QR_DAYS = 30  # temporary QR codes: expire_seconds ≤ 2,592,000 (fact sheet §2.3)


class AssociationCreate(BaseModel):
    oa_appid: str = Field(min_length=2, max_length=64)
    mp_appid: str = Field(min_length=2, max_length=64)
    notify_followers: bool = False


class AssociationRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    oa_appid: str
    mp_appid: str
    status: LinkStatus
    same_entity: bool
    followers_notified: bool
    created_at: datetime
    updated_at: datetime


class ChannelCreate(BaseModel):
    model_config = ConfigDict(str_strip_whitespace=True)

    name: str = Field(min_length=1, max_length=100)
    slug: str | None = Field(default=None, max_length=32)
    group: str = Field(default="", max_length=64)
    tags: list[str] = Field(default_factory=list, max_length=MAX_TAGS)
    welcome: str = Field(default="", max_length=600)
    target_page: str = Field(default="", max_length=256)

    @field_validator("slug")
    @classmethod
    def _slug(cls, value: str | None) -> str | None:
        if value is not None and not SLUG.match(value):
            raise ValueError("slug: 1–32 letters, digits, _ or - (it is the codes' scene)")
        return value

    @field_validator("tags")
    @classmethod
    def _tags(cls, value: list[str]) -> list[str]:
        cleaned = [t.strip() for t in value if t.strip()]
        if any(len(t) > 30 for t in cleaned):
            raise ValueError("tags are at most 30 characters")
        return list(dict.fromkeys(cleaned))


class CodeCreate(BaseModel):
    appid: str = Field(min_length=2, max_length=64)
    kind: CodeKind
    # Temporary QR codes and URL links: how long they live (WeChat allows 30 days at most).
    expire_days: int = Field(default=MAX_TEMP_QR_DAYS, ge=1, le=MAX_LINK_DAYS)
    page: str | None = Field(default=None, max_length=256)


class CodeRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    channel_id: int
    appid: str
    kind: CodeKind
    scene: str
    ticket: str | None
    url: str | None
    has_image: bool
    expires_at: datetime | None
    expired: bool
    created_at: datetime


class ChannelRead(BaseModel):
    id: int
    name: str
    slug: str
    group: str
    tags: list[str]
    welcome: str
    target_page: str
    status: ChannelStatus
    created_at: datetime
    archived_at: datetime | None
    codes: list[CodeRead] = Field(default_factory=list)


class CodeIssued(BaseModel):
    channel: ChannelRead
    code: CodeRead
    warning: str | None = None


class ArrivalRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    channel_id: int
    code_id: int | None
    member_id: int
    kind: ArrivalKind
    new_follower: bool
    new_member: bool
    at: datetime


class TouchRead(BaseModel):
    member_id: int
    first_channel: str
    first_at: datetime
    last_channel: str
    last_at: datetime


class MenuRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    appid: str
    version: int
    buttons: list[dict[str, Any]]
    published: list[dict[str, Any]]
    status: MenuStatus
    error: str | None
    created_by: str
    created_at: datetime
    published_at: datetime | None


class ChannelReportRow(BaseModel):
    channel_id: int
    name: str
    slug: str
    group: str
    status: ChannelStatus
    scans: int
    new_followers: int
    new_members: int
    unfollows_7d: int
    arrived_members: int
    conversions: int
    precision: float | None  # conversions / members who arrived; None before anyone arrived


class ChannelReport(BaseModel):
    conversion_event: str
    since: datetime | None
    until: datetime | None
    rows: list[ChannelReportRow]


class MenuButtonReportRow(BaseModel):
    button: str
    name: str
    type: str
    key: str
    clicks: int
    members: int
    conversions: int


class MenuReport(BaseModel):
    appid: str
    version: int | None
    conversion_event: str
    rows: list[MenuButtonReportRow]


# A Mini Program's web-view opens articles of a linked OA without a business domain; other
# pages need one (developers.weixin.qq.com/miniprogram/dev/component/web-view.html, `src`).
ARTICLE_URL = re.compile(r"^https://mp\.weixin\.qq\.com/[\x21-\x7e]{1,1000}$")


class ArticleCreate(BaseModel):
    model_config = ConfigDict(str_strip_whitespace=True, extra="forbid")

    oa_appid: str = Field(min_length=2, max_length=64)
    title: str = Field(min_length=1, max_length=64)
    url: str = Field(max_length=1024)

    @field_validator("url")
    @classmethod
    def _article_url(cls, value: str) -> str:
        if not ARTICLE_URL.match(value):
            raise ValueError("an OA article's link: https://mp.weixin.qq.com/…")
        return value


class ArticleRead(BaseModel):
    id: int
    oa_appid: str
    title: str
    url: str
    # What the Mini Program's page carries when it opens the article (attribution).
    query: str
    created_at: datetime


class ArticleOpenIn(BaseModel):
    """`open_id`: any unique string the client makes per open, so that a retry counts once."""

    open_id: str | None = Field(default=None, min_length=1, max_length=64)


class ArticleOpened(BaseModel):
    article_id: int
    url: str
    recorded: bool  # False: the same open again (a retry or a double tap)


class ArticleReportRow(BaseModel):
    article_id: int
    title: str
    opens: int
    members: int
    conversions: int


class FollowConversion(BaseModel):
    """Of the members who used the Mini Program in the period, how many followed the OA at or
    after their first visit: the MP → OA follow conversion."""

    mp_appid: str
    oa_appid: str
    mp_members: int
    followed_after: int
    rate: float | None


class ConditionalMenuCreate(BaseModel):
    """A conditional (个性化) menu for the followers carrying one OA tag (by its name on
    WeChat), with buttons in the custom menu's format (fact sheet §2.2)."""

    model_config = ConfigDict(extra="forbid")

    oa_tag: str = Field(min_length=1, max_length=30)
    button: list[dict[str, Any]] = Field(min_length=1, max_length=3)


class ConditionalMenuRead(BaseModel):
    id: int
    appid: str
    oa_tag_id: int
    oa_tag_name: str
    buttons: list[dict[str, Any]]
    menuid: str | None
    status: MenuStatus
    error: str | None
    created_by: str
    created_at: datetime
    published_at: datetime | None
    deleted_at: datetime | None


class MenuMatchRead(BaseModel):
    """The menu a member would see, as WeChat's trymatch answers it."""

    appid: str
    number: int
    button: list[dict[str, Any]]
