"""The community pages' forms as the console reads them: the matrix's theme, series and activity
editor (money in yuan, refund steps typed as "7:30, 14:60"), and the changes to an activity.
Each rule over several fields is checked at the field that shows it, so that its problem is
that field's; the service's input (`community.schemas`) then checks the rest."""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import date
from typing import Annotated, Any, ClassVar, TypeVar

from pydantic import BeforeValidator, ConfigDict, Field, ValidationInfo, field_validator

from siyu.community import errors
from siyu.community.enums import ActivityStatus, Evidence, RefundRule
from siyu.community.schemas import (
    HHMM,
    ActivityCreate,
    ActivityUpdate,
    SeriesCreate,
    ThemeCreate,
    checkin_days_problem,
    deposit_problem,
    period_problem,
    refund_rule_problem,
    window_problem,
)
from siyu.console.forms import ConsoleForm, Yuan
from siyu.console.i18n import Translator
from siyu.core.errors import REQUEST_INVALID, ErrorCode
from siyu.core.params import Id

T = TypeVar("T")


def _unless(problem: str | bool | None, value: T) -> T:
    """The value, or the problem a rule of `community.schemas` found, at this field."""
    if isinstance(problem, str):
        raise ValueError(problem)
    return value


def refund_steps(text: str) -> list[dict[str, int]]:
    """ "7:30, 14:60, 21:100" (check-ins:percent, full-width punctuation too) → the steps."""
    steps = []
    for part in re.split(r"[,，;；\s]+", text.strip()):
        if not part:
            continue
        days, _, percent = part.replace("：", ":").partition(":")
        steps.append({"min_days": int(days), "percent": int(percent)})
    return steps


def _steps(value: object) -> object:
    return refund_steps(value) if isinstance(value, str) else value


RefundSteps = Annotated[list[dict[str, int]], BeforeValidator(_steps)]


class _CommunityForm(ConsoleForm):
    model_config = ConfigDict(str_strip_whitespace=True)
    messages: ClassVar[str | None] = "community.invalid"
    labels: ClassVar[Mapping[str, str]] = {
        "title": "community.field.title",
        "status": "community.col.status",
        "capacity": "community.field.capacity",
        "window_start": "community.field.window_start",
        "window_end": "community.field.window_end",
    }


class _MatrixForm(_CommunityForm):
    """A form of the matrix page, shown again with its problems by field."""

    summary: ClassVar[str] = "community.form_invalid"
    refused_as: ClassVar[ErrorCode] = REQUEST_INVALID


class ThemeForm(_MatrixForm):
    fields_of: ClassVar[Mapping[str, str]] = {"name": "theme_name"}

    theme_name: str = Field(default="", validation_alias="name")

    def to_create(self, tr: Translator) -> ThemeCreate:
        return self.build(ThemeCreate, tr, name=self.theme_name)


class SeriesForm(_MatrixForm):
    fields_of: ClassVar[Mapping[str, str]] = {"name": "series_name"}

    theme_id: Id
    series_name: str = Field(default="", validation_alias="name")

    def to_create(self, tr: Translator) -> SeriesCreate:
        return self.build(SeriesCreate, tr, theme_id=self.theme_id, name=self.series_name)


class ActivityForm(_MatrixForm):
    """The activity editor. A field that a rule compares with others comes after them."""

    shown_at: ClassVar[Mapping[str, str]] = {
        errors.ACTIVITY_EXISTS.code: "code",
        errors.DEPOSIT_NOT_REFUNDABLE.code: "deposit",
    }

    series_id: Id
    code: str
    title: str
    status: ActivityStatus = ActivityStatus.draft
    starts_on: date
    ends_on: date
    checkin_days_required: int
    capacity: int | None = None
    window_start: str = Field(default="00:00", pattern=HHMM)
    # A rule compares these with other fields even when left blank (their defaults).
    window_end: str = Field(default="24:00", pattern=HHMM, validate_default=True)
    evidence: Evidence = Evidence.either
    refund_table: RefundSteps = Field(default_factory=list)
    refund_rule: RefundRule = Field(default=RefundRule.none, validate_default=True)
    refund_n: int | None = None
    fee: Yuan = 0
    deposit: Yuan = Field(default=0, validate_default=True)

    @field_validator("status")
    @classmethod
    def _not_settled(cls, value: ActivityStatus) -> ActivityStatus:
        if value == ActivityStatus.settled:
            raise ValueError("an activity is settled by its settlement")
        return value

    @field_validator("ends_on")
    @classmethod
    def _period(cls, value: date, info: ValidationInfo) -> date:
        starts = info.data.get("starts_on")
        return _unless(starts is not None and period_problem(starts, value), value)

    @field_validator("checkin_days_required")
    @classmethod
    def _within_period(cls, value: int, info: ValidationInfo) -> int:
        starts, ends = info.data.get("starts_on"), info.data.get("ends_on")
        if starts is None or ends is None:
            return value
        return _unless(checkin_days_problem(starts, ends, value), value)

    @field_validator("window_end")
    @classmethod
    def _after_opening(cls, value: str, info: ValidationInfo) -> str:
        opens = info.data.get("window_start")
        return _unless(opens is not None and window_problem(opens, value), value)

    @field_validator("refund_rule")
    @classmethod
    def _steps_given(cls, value: RefundRule, info: ValidationInfo) -> RefundRule:
        return _unless(refund_rule_problem(value, info.data.get("refund_table") or []), value)

    @field_validator("deposit")
    @classmethod
    def _something_to_refund(cls, value: int, info: ValidationInfo) -> int:
        rule = info.data.get("refund_rule")
        return _unless(rule is not None and deposit_problem(rule, value), value)

    def to_create(self, tr: Translator) -> ActivityCreate:
        return self.build(ActivityCreate, tr, **self.model_dump())


class ActivityChangeForm(_CommunityForm):
    """What may change once people enrolled; its problems are said in the page's message box."""

    title: str | None = None
    status: str | None = None
    capacity: str | None = None
    window_start: str | None = None
    window_end: str | None = None

    def to_update(self, tr: Translator) -> ActivityUpdate:
        sent: dict[str, Any] = {k: v for k, v in self.model_dump().items() if v}
        return self.build(ActivityUpdate, tr, **sent)
