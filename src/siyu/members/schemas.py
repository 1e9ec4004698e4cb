"""Members' pydantic models in and out."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, field_validator

from siyu.core.params import Number
from siyu.members.enums import EarnTrigger, EntryKind, ExpiryMode

# --- points ------------------------------------------------------------------------------------

Points = Annotated[int, Field(ge=1, le=100_000_000)]
SourceKey = Annotated[str, Field(min_length=1, max_length=128)]


class EntryRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    member_id: int
    kind: EntryKind
    amount: int
    growth: int
    trigger: str | None
    source_key: str
    related_key: str | None
    shortfall: int
    reason: str | None
    actor: str
    created_at: datetime


class BalanceRead(BaseModel):
    member_id: int
    member_number: int | None = None
    balance: int
    earned: int
    growth: int
    period_growth: int
    level_rank: int
    level_name: str | None
    expiring_soon: int = 0  # points of lots expiring within the reminder window
    expiring_at: datetime | None = None


class AdjustIn(BaseModel):
    """A staff adjustment: positive grants, negative deducts; a reason is required."""

    member_number: Number
    amount: int = Field(ge=-100_000_000, le=100_000_000)
    reason: str = Field(min_length=1, max_length=200)

    @field_validator("reason")
    @classmethod
    def _reason_not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("the reason must not be blank")
        return value.strip()


class RuleIn(BaseModel):
    trigger: EarnTrigger
    points: int = Field(ge=0, le=1_000_000)
    growth: int = Field(default=0, ge=0, le=1_000_000)
    daily_cap: int | None = Field(default=None, ge=0, le=100_000_000)
    member_cap: int | None = Field(default=None, ge=0, le=100_000_000)
    active: bool = True


class RuleRead(RuleIn):
    model_config = ConfigDict(from_attributes=True)

    id: int
    created_at: datetime
    updated_at: datetime


class PolicyIn(BaseModel):
    """The whole policy (a PUT replaces it): `expiry_mode` is required, the rest default."""

    expiry_mode: ExpiryMode
    expiry_months: int = Field(default=12, ge=1, le=120)
    expiry_fixed_day: str | None = Field(default=None, pattern=r"^\d{2}-\d{2}$")
    reminder_days: int = Field(default=7, ge=0, le=90)
    reminder_template: str | None = Field(default=None, min_length=1, max_length=64)
    signin_points: int = Field(default=5, ge=0, le=100_000)
    streak_bonuses: dict[
        Annotated[int, Field(ge=1, le=366)], Annotated[int, Field(ge=0, le=100_000)]
    ] = Field(default_factory=lambda: {7: 20}, max_length=31)
    level_period_months: int = Field(default=12, ge=1, le=12)
    level_notice_days: int = Field(default=15, ge=0, le=90)
    level_notice_template: str | None = Field(default=None, min_length=1, max_length=64)

    @field_validator("level_period_months")
    @classmethod
    def _period(cls, value: int) -> int:
        if value not in (1, 2, 3, 4, 6, 12):
            raise ValueError("a level period is 1, 2, 3, 4, 6 or 12 months")
        return value


class PolicyRead(PolicyIn):
    expiry_mode: ExpiryMode = ExpiryMode.rolling
    updated_at: datetime | None = None


# --- levels ------------------------------------------------------------------------------------


class LevelIn(BaseModel):
    rank: int = Field(ge=1, le=100)
    name: str = Field(min_length=1, max_length=32)
    threshold: int = Field(ge=0, le=1_000_000_000)
    multiplier: int = Field(default=100, ge=100, le=1000)  # percent of the rules' points
    member_only: bool = False
    coupon_pack: str | None = Field(default=None, min_length=1, max_length=64)


class LevelRead(LevelIn):
    model_config = ConfigDict(from_attributes=True)

    id: int


class MyLevel(BaseModel):
    rank: int
    name: str | None
    multiplier: int
    member_only: bool
    period_growth: int
    period_start: date
    period_end: date
    next_rank: int | None
    next_name: str | None
    next_threshold: int | None
    to_next: int | None  # growth still needed for the next level
    keep_threshold: int | None  # growth this period needs to keep the current level


class MyPoints(BaseModel):
    balance: int
    expiring_soon: int
    expiring_at: datetime | None
    history: list[EntryRead]
    total: int


# --- sign-in -----------------------------------------------------------------------------------


class SigninRead(BaseModel):
    day: date
    streak: int
    points: int
    bonus: int
    balance: int


class SigninCalendar(BaseModel):
    month: str  # YYYY-MM, Beijing
    days: list[date]
    signed_today: bool
    streak: int  # the current streak (0 when yesterday and today were missed)
    today_points: int  # what signing in today gives (or gave)
