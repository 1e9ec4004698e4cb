"""Members' pydantic models in and out."""

from __future__ import annotations

# --- points ------------------------------------------------------------------------------------
import re
from datetime import UTC, date, datetime
from typing import Annotated, Self

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator, model_validator

from siyu.core.params import Id, Number
from siyu.members.enums import (
    CouponKind,
    CouponSource,
    CouponState,
    EarnTrigger,
    EntryKind,
    ExpiryMode,
    FulfilmentStatus,
    MallItemKind,
    TemplateStatus,
)

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


MAX_FEN = 1_000_000_000  # ¥10,000,000 (an INTEGER column): more than any order a coupon meets
STOCK_MAX = 100_000_000
EARLIEST, LATEST = datetime(2000, 1, 1, tzinfo=UTC), datetime(2100, 1, 1, tzinfo=UTC)
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def _one_line(value: str) -> str:
    if _CONTROL.search(value):
        raise ValueError("one line of text without control characters")
    if not value.strip():
        raise ValueError("must not be blank")
    return value.strip()


Line = Annotated[str, AfterValidator(_one_line)]
"""A name, a keyword, an address: one line, no control characters (PostgreSQL refuses NUL)."""
ORDER_ID = r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$"
COUPON_CODE = r"^[A-Za-z0-9]{1,24}$"


class TemplateFields(BaseModel):
    """What a coupon is worth, how long it lives and how many exist (API, console, CLI file)."""

    name: Line = Field(min_length=1, max_length=64)
    kind: CouponKind
    threshold: int = Field(default=0, ge=0, le=MAX_FEN)
    amount_off: int | None = Field(default=None, ge=1, le=MAX_FEN)
    percent_off: int | None = Field(default=None, ge=1, le=99)
    cap: int | None = Field(default=None, ge=1, le=MAX_FEN)
    gift_name: Line | None = Field(default=None, min_length=1, max_length=64)
    valid_from: datetime | None = None
    valid_until: datetime | None = None
    valid_days: int | None = Field(default=None, ge=1, le=3660)
    stock: int = Field(ge=0, le=STOCK_MAX)
    per_member_limit: int = Field(default=1, ge=1, le=100)
    mp_claimable: bool = True
    oa_keyword: Line | None = Field(default=None, min_length=1, max_length=32)
    new_member_gift: bool = False
    status: TemplateStatus = TemplateStatus.active

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        problem = template_problem(self)
        if problem:
            raise ValueError(problem)
        return self


def template_problem(t: TemplateFields) -> str | None:
    """Why a template cannot exist as written (None when it can)."""
    if t.kind is CouponKind.amount_off:
        if t.amount_off is None:
            return "a 满减 coupon needs amount_off"
        if t.threshold and t.amount_off > t.threshold:
            return "amount_off exceeds the threshold"
    if t.kind is CouponKind.percent_off and t.percent_off is None:
        return "a percent_off coupon needs percent_off"
    if t.kind is CouponKind.gift and not t.gift_name:
        return "a gift coupon needs gift_name"
    has_window = t.valid_until is not None
    if has_window == (t.valid_days is not None):
        return "give either valid_until (with valid_from) or valid_days"
    if t.valid_from is not None and t.valid_from.tzinfo is None:
        return "valid_from needs a timezone"
    if t.valid_until is not None and t.valid_until.tzinfo is None:
        return "valid_until needs a timezone"
    for moment in (t.valid_from, t.valid_until):
        if moment is not None and not EARLIEST <= moment < LATEST:
            return "dates lie between 2000 and 2100"
    if t.valid_from and t.valid_until and t.valid_from >= t.valid_until:
        return "valid_from must come before valid_until"
    return None


class TemplateCreate(TemplateFields):
    pass


class TemplateStatusIn(BaseModel):
    status: TemplateStatus


class TemplateRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    name: str
    kind: CouponKind
    threshold: int
    amount_off: int | None
    percent_off: int | None
    cap: int | None
    gift_name: str | None
    valid_from: datetime | None
    valid_until: datetime | None
    valid_days: int | None
    stock: int
    issued: int = 0  # summed from the stock buckets
    per_member_limit: int
    mp_claimable: bool
    oa_keyword: str | None
    new_member_gift: bool
    status: TemplateStatus

    @property
    def left(self) -> int:
        return max(0, self.stock - self.issued)


class CouponRead(BaseModel):
    id: int
    template_id: int
    name: str
    kind: CouponKind
    code: str
    state: CouponState
    source: CouponSource
    threshold: int
    amount_off: int | None
    percent_off: int | None
    cap: int | None
    gift_name: str | None
    claimed_at: datetime
    valid_from: datetime
    valid_until: datetime
    redeemed_at: datetime | None


class MyCoupons(BaseModel):
    usable: list[CouponRead]
    used: list[CouponRead]
    expired: list[CouponRead]


class ClaimIn(BaseModel):
    template_id: Id


class IssueIn(BaseModel):
    member_numbers: list[Number] = Field(min_length=1, max_length=1000)


class IssueRefusal(BaseModel):
    member_number: int
    code: str


class IssueResult(BaseModel):
    issued: list[CouponRead]
    refused: list[IssueRefusal]


class RedeemIn(BaseModel):
    code: str = Field(pattern=COUPON_CODE)
    member: Number
    order_id: str = Field(pattern=ORDER_ID)
    amount_fen: int = Field(ge=1, le=MAX_FEN)


class RefundIn(BaseModel):
    order_id: str = Field(pattern=ORDER_ID)


class RedemptionRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    coupon_id: int
    template_id: int
    code: str
    order_id: str
    amount: int
    discount: int
    payable: int
    gift_name: str | None
    redeemed_at: datetime
    refunded_at: datetime | None
    coupon_returned: bool


class TemplateReport(BaseModel):
    template_id: int
    name: str
    kind: CouponKind
    stock: int
    issued: int
    claimed: int  # by the member themselves (MP, OA)
    by_source: dict[str, int]
    redeemed: int
    expired: int
    usable: int
    redemption_rate: float  # redeemed / issued
    discounted: int  # fen taken off the orders that used them (refunded orders excluded)


# --- the points mall -----------------------------------------------------------------------


class ItemCreate(BaseModel):
    name: Line = Field(min_length=1, max_length=64)
    kind: MallItemKind
    template_id: Id | None = None
    points_price: int = Field(ge=1, le=100_000_000)
    stock: int = Field(ge=0, le=STOCK_MAX)

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        if (self.kind is MallItemKind.coupon) != (self.template_id is not None):
            raise ValueError("a coupon item names its template_id; a gift names none")
        return self


class ItemRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    name: str
    kind: MallItemKind
    template_id: int | None
    points_price: int
    stock: int
    exchanged: int
    active: bool


class Address(BaseModel):
    recipient: Line = Field(min_length=1, max_length=32)
    phone: str = Field(pattern=r"^\+?[0-9][0-9 -]{5,19}$")
    address: Line = Field(min_length=4, max_length=200)


class ExchangeIn(BaseModel):
    item_id: Id
    request_key: str = Field(pattern=r"^[A-Za-z0-9_-]{8,64}$")
    address: Address | None = None


class ExchangeRead(BaseModel):
    id: int
    item_id: int
    points: int
    coupon: CouponRead | None
    fulfilment_id: int | None


class FulfilmentRead(BaseModel):
    id: int
    exchange_id: int
    member_id: int
    item_name: str
    recipient: str | None
    phone: str | None
    address: str | None
    status: FulfilmentStatus
    tracking: str | None
    created_at: datetime
    shipped_at: datetime | None


class ShipIn(BaseModel):
    tracking: Line | None = Field(default=None, max_length=64)
