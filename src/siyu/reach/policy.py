"""The sending policy as data: channel order by urgency, holds, quiet hours, frequency caps.

Operators edit it in the console as JSON; `Policy` refuses a policy that would not work.
"""

from __future__ import annotations

from datetime import datetime, time, timedelta
from typing import Any, Literal
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ConfigDict, Field, field_validator

Channel = Literal["mp_subscribe", "oa_template", "customer_service"]
URGENCIES = ("urgent", "normal", "low")
CATEGORIES = ("transaction", "service", "activity", "marketing", "prompt")

# The customer-service window (fact sheet §2.5 and §3): a user's message opens 48 hours with 5
# messages. We stop using a window a little before WeChat closes it: the push reaches us after
# the user wrote, and the send reaches WeChat after we decided.
WINDOW = timedelta(hours=48)
WINDOW_QUOTA = 5
WINDOW_MARGIN = timedelta(minutes=10)
# Broadcasts: a service account's follower receives at most 4 a calendar month (fact sheet §2.6).
MASS_PER_MONTH = 4
# The Mini Program's template messages before 2020-01-10 (fact sheet §3, template-message.html):
# a form submit allowed 1 message within 7 days, a payment (prepay_id) 3 within 7 days.
LEGACY_WINDOW = timedelta(days=7)
LEGACY_PER_FORM = 1
LEGACY_PER_PAYMENT = 3


class Cap(BaseModel):
    model_config = ConfigDict(extra="forbid")

    count: int = Field(ge=1, le=1000)
    hours: int = Field(ge=1, le=24 * 31)


class QuietHours(BaseModel):
    model_config = ConfigDict(extra="forbid")

    start: time
    end: time
    tz: str = "Asia/Shanghai"

    @field_validator("tz")
    @classmethod
    def _zone(cls, value: str) -> str:
        ZoneInfo(value)  # raises for an unknown zone
        return value

    def holds(self, at: datetime) -> datetime | None:
        """When quiet hours that cover `at` end, or None when `at` is outside them."""
        local = at.astimezone(ZoneInfo(self.tz))
        now, start, end = local.time(), self.start, self.end
        inside = start <= now < end if start <= end else (now >= start or now < end)
        if not inside:
            return None
        ending = local.replace(hour=end.hour, minute=end.minute, second=0, microsecond=0)
        if ending <= local:
            ending += timedelta(days=1)
        return ending


class Policy(BaseModel):
    """What the console edits. Channels are tried in order; the first the ledger allows wins."""

    model_config = ConfigDict(extra="forbid")

    # Urgent, short-lived notices prefer the MP service notification; long-lived ones the OA.
    order: dict[str, list[Channel]] = Field(
        default_factory=lambda: {  # type: ignore[arg-type]  # literals inferred as str
            "urgent": ["mp_subscribe", "customer_service", "oa_template"],
            "normal": ["oa_template", "mp_subscribe", "customer_service"],
            "low": ["oa_template", "customer_service", "mp_subscribe"],
        }
    )
    # How long a notice waits for a channel before it is dropped ("hold_expired").
    hold_hours: dict[str, int] = Field(
        default_factory=lambda: {"urgent": 2, "normal": 72, "low": 168}
    )
    quiet_hours: QuietHours | None = Field(
        default_factory=lambda: QuietHours(start=time(22, 0), end=time(8, 0))
    )
    caps: dict[str, Cap] = Field(
        default_factory=lambda: {
            "prompt": Cap(count=1, hours=24),
            "marketing": Cap(count=2, hours=24 * 7),
        }
    )
    consent_required: list[str] = Field(default_factory=lambda: ["marketing"])
    # Mini Programs whose history is read under the pre-2020 template-message rules. WeChat
    # retired those sends on 2020-01-10, so notify never picks them: they are reported only.
    legacy_template_apps: list[str] = Field(default_factory=list, max_length=50)
    categories: list[str] = Field(default_factory=lambda: list(CATEGORIES))

    @field_validator("order")
    @classmethod
    def _order(cls, value: dict[str, list[str]]) -> dict[str, list[str]]:
        if set(value) - set(URGENCIES):
            raise ValueError(f"urgencies are {', '.join(URGENCIES)}")
        for urgency, channels in value.items():
            if not channels or len(set(channels)) != len(channels):
                raise ValueError(f"{urgency}: name each channel once, at least one")
        return value

    @field_validator("hold_hours")
    @classmethod
    def _hold(cls, value: dict[str, int]) -> dict[str, int]:
        if any(not 0 <= hours <= 24 * 30 for hours in value.values()):
            raise ValueError("holds last 0 to 720 hours")
        return value

    def channels(self, urgency: str) -> list[str]:
        return list(self.order.get(urgency, self.order.get("normal", [])))

    def hold_for(self, urgency: str) -> timedelta:
        return timedelta(hours=self.hold_hours.get(urgency, 24))


DEFAULT = Policy()


def load(rules: dict[str, Any] | None) -> Policy:
    return Policy.model_validate(rules) if rules else DEFAULT


class LegacyTally(BaseModel):
    """What the pre-2020 rules allowed one member (or a sum of members)."""

    form_submits: int = 0
    payments: int = 0
    granted: int = 0  # messages the submits and payments allowed
    used: int = 0  # template messages sent within an allowance
    unmet: int = 0  # template messages sent with no allowance left: the rules refused those
    expired: int = 0  # allowances that lapsed unused
    left: int = 0  # allowances still usable at the end

    def add(self, other: LegacyTally) -> None:
        for name in LegacyTally.model_fields:
            setattr(self, name, getattr(self, name) + getattr(other, name))


def legacy_tally(
    forms: list[datetime], payments: list[datetime], sends: list[datetime], until: datetime
) -> LegacyTally:
    """Replay one member's history: each send spends the allowance that lapses first."""
    tally = LegacyTally(form_submits=len(forms), payments=len(payments))
    grants = sorted(
        [(at, LEGACY_PER_FORM) for at in forms] + [(at, LEGACY_PER_PAYMENT) for at in payments]
    )
    tally.granted = sum(count for _at, count in grants)
    live: list[list[Any]] = []  # [lapses_at, remaining], in grant order = lapse order
    position = 0
    for sent_at in sorted(sends):
        while position < len(grants) and grants[position][0] <= sent_at:
            at, count = grants[position]
            live.append([at + LEGACY_WINDOW, count])
            position += 1
        while live and live[0][0] <= sent_at:
            tally.expired += live.pop(0)[1]
        if live:
            live[0][1] -= 1
            tally.used += 1
            if live[0][1] == 0:
                live.pop(0)
        else:
            tally.unmet += 1
    live += [[at + LEGACY_WINDOW, count] for at, count in grants[position:]]
    for lapses_at, remaining in live:
        if lapses_at <= until:
            tally.expired += remaining
        else:
            tally.left += remaining
    return tally
