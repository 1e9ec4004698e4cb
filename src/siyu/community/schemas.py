"""Community API shapes: the matrix, enrollments, check-ins, settlements, groups, the review."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from pydantic.json_schema import SkipJsonSchema

from siyu.community.enums import (
    ActivityStatus,
    CheckinStatus,
    EnrollmentStatus,
    Evidence,
    GroupState,
    LineStatus,
    RefundRule,
    SettlementStatus,
)
from siyu.core.params import Id
from siyu.wechat.pay.schemas import PaymentParams

CODE = r"^[A-Za-z0-9][A-Za-z0-9_-]{0,31}$"
HHMM = r"^([01][0-9]|2[0-3]):[0-5][0-9]$|^24:00$"


class ThemeCreate(BaseModel):
    name: str = Field(min_length=1, max_length=64)


class ThemeRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    name: str


class SeriesCreate(BaseModel):
    theme_id: Id
    name: str = Field(min_length=1, max_length=64)


class SeriesRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    theme_id: int
    name: str


class RefundStep(BaseModel):
    min_days: int = Field(ge=0, le=366)
    percent: int = Field(ge=0, le=100)


class ActivityFields(BaseModel):
    """An activity's definition (the editor, the API and the history import share it)."""

    model_config = ConfigDict(extra="forbid")

    title: str = Field(min_length=1, max_length=100)
    starts_on: date
    ends_on: date
    capacity: int | None = Field(default=None, ge=1, le=1_000_000)
    fee: int = Field(default=0, ge=0, le=10_000_000)  # fen
    deposit: int = Field(default=0, ge=0, le=10_000_000)  # fen
    checkin_days_required: int = Field(ge=1, le=366)
    window_start: str = Field(default="00:00", pattern=HHMM)
    window_end: str = Field(default="24:00", pattern=HHMM)
    evidence: Evidence = Evidence.either
    refund_rule: RefundRule = RefundRule.none
    refund_n: int | None = Field(default=None, ge=1, le=366)
    refund_table: list[RefundStep] = Field(default_factory=list, max_length=20)

    @model_validator(mode="after")
    def _coherent(self) -> ActivityFields:
        problem = (
            period_problem(self.starts_on, self.ends_on)
            or checkin_days_problem(self.starts_on, self.ends_on, self.checkin_days_required)
            or window_problem(self.window_start, self.window_end)
            or refund_rule_problem(self.refund_rule, self.refund_table)
            or deposit_problem(self.refund_rule, self.deposit)
        )
        if problem is not None:
            raise ValueError(problem)
        return self


# The rules an activity's fields obey together, one function each: the model above checks them
# all, and the console's editor checks each at the field that shows it.
LONGEST_DAYS = 366


def period_problem(starts_on: date, ends_on: date) -> str | None:
    if ends_on < starts_on:
        return "ends_on is before starts_on"
    if (ends_on - starts_on).days + 1 > LONGEST_DAYS:
        return f"an activity lasts at most {LONGEST_DAYS} days"
    return None


def checkin_days_problem(starts_on: date, ends_on: date, required: int) -> str | None:
    if required > (ends_on - starts_on).days + 1:
        return "more check-in days required than the activity has days"
    return None


def window_problem(window_start: str, window_end: str) -> str | None:
    if minutes(window_end) <= minutes(window_start):
        return "the daily window ends before it starts"
    return None


def refund_rule_problem(rule: RefundRule, table: Sequence[object]) -> str | None:
    if rule == RefundRule.table and not table:
        return "a table refund rule needs its steps"
    return None


def deposit_problem(rule: RefundRule, deposit: int) -> str | None:
    if rule != RefundRule.none and deposit == 0:
        return "a refund rule needs a deposit to refund"
    return None


def minutes(hhmm: str) -> int:
    hours, mins = hhmm.split(":")
    return int(hours) * 60 + int(mins)


def hhmm(total: int) -> str:
    return f"{total // 60:02d}:{total % 60:02d}"


class ActivityCreate(ActivityFields):
    series_id: Id
    code: str = Field(pattern=CODE)
    status: ActivityStatus = ActivityStatus.draft


class ActivityUpdate(BaseModel):
    """Fields staff may change; the period and money are fixed once anyone enrolled."""

    model_config = ConfigDict(extra="forbid")

    title: str | None = Field(default=None, min_length=1, max_length=100)
    # Left out, the status stays; it has no "none" to be set to (capacity's null is "no cap").
    status: SkipJsonSchema[None] | ActivityStatus = None
    capacity: int | None = Field(default=None, ge=1, le=1_000_000)
    window_start: str | None = Field(default=None, pattern=HHMM)
    window_end: str | None = Field(default=None, pattern=HHMM)

    @field_validator("status", mode="before")
    @classmethod
    def _status_given(cls, value: object) -> object:
        if value is None:
            raise ValueError("status cannot be null: leave it out to keep the current one")
        return value


class ActivityRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    series_id: int
    code: str
    title: str
    status: ActivityStatus
    starts_on: date
    ends_on: date
    capacity: int | None
    fee: int
    deposit: int
    checkin_days_required: int
    window_start: int
    window_end: int
    evidence: Evidence
    refund_rule: RefundRule
    refund_n: int | None
    refund_table: list[dict[str, Any]]
    imported: bool

    @property
    def window(self) -> str:
        return f"{hhmm(self.window_start)}–{hhmm(self.window_end)}"


class EnrollIn(BaseModel):
    channel: str | None = Field(default=None, max_length=64)


class EnrollmentRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    activity_id: int
    member_id: int
    status: EnrollmentStatus
    channel: str | None
    amount: int
    paid: int
    checkins: int
    streak: int
    best_streak: int
    last_checkin_on: date | None
    enrolled_at: datetime | None
    created_at: datetime


class EnrollmentAnswer(BaseModel):
    """The member's enrollment, and wx.requestPayment's parameters while payment is due."""

    enrollment: EnrollmentRead
    payment: PaymentParams | None = None


class CheckinRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    activity_id: int
    enrollment_id: int
    member_id: int
    day: date
    text: str | None
    image_key: str | None
    status: CheckinStatus
    reject_reason: str | None
    submitted_at: datetime


class CheckinAnswer(BaseModel):
    checkin: CheckinRead
    checkins: int
    streak: int
    best_streak: int


class RejectIn(BaseModel):
    reason: str = Field(min_length=1, max_length=200)


class SettlementLineRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    enrollment_id: int
    member_id: int
    checkins: int
    paid: int
    refund: int
    reason: str
    status: LineStatus
    refund_id: int | None
    refund_status: str | None = None  # Pay's state of the refund
    refund_error: str | None = None


class SettlementRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    activity_id: int
    status: SettlementStatus
    computed_at: datetime
    confirmed_at: datetime | None
    members: int
    total_paid: int
    total_refund: int
    lines: list[SettlementLineRead] = Field(default_factory=list)
    outcome: dict[str, int] = Field(default_factory=dict)  # Pay refund states → counts


class GroupCreate(BaseModel):
    name: str = Field(min_length=1, max_length=64)
    activity_id: Id | None = None
    series_id: Id | None = None
    open_gid: str | None = Field(default=None, min_length=6, max_length=64)

    @model_validator(mode="after")
    def _one_parent(self) -> GroupCreate:
        if (self.activity_id is None) == (self.series_id is None):
            raise ValueError("a group belongs to one activity or to one series")
        return self


class GroupRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    activity_id: int | None
    series_id: int | None
    name: str
    open_gid: str | None
    state: GroupState
    members: int = 0


class GroupStateIn(BaseModel):
    state: GroupState


class GroupMemberIn(BaseModel):
    member_id: Id


class GroupPostIn(BaseModel):
    kind: str = Field(default="text", pattern=r"^(text|image|link|notice)$")
    content: str = Field(min_length=1, max_length=4000)


class GroupPostRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    group_id: int
    operator_id: int | None
    kind: str
    content: str
    posted_at: datetime


class ShareTicketIn(BaseModel):
    """wx.getShareInfo's answer: openGId sealed with the member's session_key."""

    encrypted_data: str = Field(min_length=16, max_length=4096)
    iv: str = Field(min_length=16, max_length=32)


class ServiceRecordIn(BaseModel):
    kind: str = Field(default="note", pattern=r"^(note|call|visit|complaint)$")
    text: str = Field(min_length=1, max_length=2000)

    @field_validator("text")
    @classmethod
    def _stripped(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("empty note")
        return value.strip()


class ServiceRecordRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    member_id: int
    operator_id: int
    kind: str
    text: str
    created_at: datetime


class ActivityImport(BaseModel):
    """One activity of `siyu import activities FILE.json` (past or future)."""

    model_config = ConfigDict(extra="forbid")

    code: str = Field(pattern=CODE)
    title: str = Field(min_length=1, max_length=100)
    theme: str = Field(min_length=1, max_length=64)
    series: str = Field(min_length=1, max_length=64)
    start: date
    end: date
    fee: int = Field(ge=0, le=10_000_000)
    deposit: int = Field(ge=0, le=10_000_000)
    checkin_days_required: int = Field(ge=1, le=366)
    refund_rule: RefundRule
    refund_n: int | None = Field(default=None, ge=1, le=366)
    refund_table: list[RefundStep] = Field(default_factory=list)
    capacity: int | None = Field(default=None, ge=1)
    window_start: str = Field(default="00:00", pattern=HHMM)
    window_end: str = Field(default="24:00", pattern=HHMM)
    evidence: Evidence = Evidence.either
    status: ActivityStatus = ActivityStatus.settled
    group: str | None = Field(default=None, max_length=64)  # its group's name, if any


class ImportReport(BaseModel):
    created: int = 0
    updated: int = 0
    themes: int = 0
    series: int = 0
    groups: int = 0


class DayRate(BaseModel):
    day: date
    members: int
    rate: float


class Retention(BaseModel):
    """From the previous activity A into this one (B)."""

    previous: str
    previous_members: int
    re_enrolled: int
    re_enrollment_rate: float
    stayed: int  # in A's group or active in the MP after A, without enrolling in B
    stayed_in_group: int
    lost: int


class ActivityReview(BaseModel):
    code: str
    title: str
    starts_on: date
    ends_on: date
    enrollments: int
    by_channel: dict[str, int]
    paid_total: int
    refunded_total: int
    checkin_rate_by_day: list[DayRate]
    completed: int
    completion_rate: float
    active_after_days: int
    active_after: int
    group_members: int
    retention: Retention | None


class SeriesReview(BaseModel):
    series_id: int
    name: str
    activities: list[ActivityReview]
