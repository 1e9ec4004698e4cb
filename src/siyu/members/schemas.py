"""Members' pydantic models in and out: coupon templates, coupons, redemptions, reports, the
points mall and its fulfilment."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Annotated, Self

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator

from siyu.core.params import Id, Number
from siyu.members.enums import (
    CouponKind,
    CouponSource,
    CouponState,
    FulfilmentStatus,
    MallItemKind,
    TemplateStatus,
)

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
