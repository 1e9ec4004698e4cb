"""Analytics's pydantic models in and out."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

EventKey = Annotated[str, StringConstraints(min_length=1, max_length=64)]
PropKey = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_]{1,32}$")]
PropValue = Annotated[str, StringConstraints(max_length=128)]

MAX_STEPS = 20
MAX_WINDOW_DAYS = 90
MAX_SPAN_DAYS = 366


class SyncResult(BaseModel):
    events: int
    refreshed_members: int
    compacted: bool
    watermark: int


class MetricDefinition(BaseModel):
    key: str
    label: str
    how: str


class IndexDay(BaseModel):
    date: date
    new: int | None
    dau: int | None
    dau_oa: int | None
    dau_mp: int | None
    dau_both: int | None
    wau: int | None
    mau: int | None
    dau_mau: float | None
    dwell_s_per_mp_visitor: float | None
    menu_clicks_per_oa_active: float | None
    article_opens: int | None


class HeatCell(BaseModel):
    weekday: int  # 1 = Monday
    hour: int
    events: int | None


class PeriodBucket(BaseModel):
    bucket: str
    members: int | None


class Ratio(BaseModel):
    numerator: int | None
    denominator: int | None
    rate: float | None


class IndexReport(BaseModel):
    start: date
    end: date
    days: list[IndexDay]
    active_hours: list[HeatCell]
    active_periods: list[PeriodBucket]
    mp_to_oa_follow: Ratio
    repurchase_30d: Ratio
    mp_follower_retention_30d: Ratio
    suppressed_below: int | None = None
    definitions: list[MetricDefinition]


class FunnelStep(BaseModel):
    model_config = ConfigDict(extra="forbid")

    event: EventKey
    filters: dict[PropKey, PropValue] = Field(default_factory=dict, max_length=5)


class FunnelQuery(BaseModel):
    """A funnel: its steps in order, the window from step 1 in which the others count."""

    model_config = ConfigDict(extra="forbid")

    steps: list[FunnelStep] = Field(min_length=1, max_length=50)
    window_s: int = Field(default=7 * 86400, ge=0, le=10 * 365 * 86400)
    order: Literal["ordered", "any"] = "ordered"
    breakdown: Literal["none", "channel", "app"] = "none"
    start: date
    end: date
    # 1-based: list the members who reached the step before this one and not this one.
    dropped_at: int | None = Field(default=None, ge=1, le=50)


class FunnelStepResult(BaseModel):
    event: str
    members: int | None
    conversion: float | None
    avg_seconds_from_previous: float | None


class FunnelGroup(BaseModel):
    group: str
    steps: list[FunnelStepResult]


class FunnelReport(BaseModel):
    steps: list[FunnelStepResult]
    groups: list[FunnelGroup]
    dropped_member_ids: list[int] | None = None
    suppressed_below: int | None = None


class RetentionQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")

    cohort_event: EventKey
    return_event: EventKey
    period: Literal["day", "week", "month"] = "week"
    periods: int = Field(default=8, ge=1, le=36)
    cohort_by: Literal["start", "channel"] = "start"
    start: date
    end: date


class RetentionCohort(BaseModel):
    start: str  # the cohort's first day (YYYY-MM-DD), or its arrival channel
    size: int | None
    returned: list[int | None]


class RetentionReport(BaseModel):
    period: str
    cohorts: list[RetentionCohort]
    suppressed_below: int | None = None
