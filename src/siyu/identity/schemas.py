"""What the identity hub accepts (events, identifiers) and returns (members, timelines,
consents, erasure proofs)."""

from __future__ import annotations

import re
from collections import defaultdict
from datetime import datetime, timedelta
from typing import Annotated, Any, Literal, Self, get_args

import orjson
from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_core import ErrorDetails

from siyu.core import clock
from siyu.identity.enums import (
    ConflictStatus,
    ConsentPurpose,
    IdentityKind,
    ImportStatus,
    MemberStatus,
)

# The canonical events of DESIGN.md; a name outside this set is refused (checked by pydantic's
# own code: a Python validator for each of these checks was a tenth of an import's time).
EventName = Literal[
    "oa.subscribe",
    "oa.unsubscribe",
    "oa.scan",
    "oa.menu_click",
    "oa.message",
    "mp.login",
    "mp.launch",  # opened, with its launch scene/query (props) and channel
    "mp.page_view",
    "mp.share",
    "mp.subscribe_accept",
    "mp.form_submit",
    # Customer-service chat in the Mini Program: a message, and entering the chat.
    "mp.message",
    "mp.contact",
    "pay.paid",
    "pay.refunded",
    "order.created",
    "order.shipped",
    "order.delivered",
    "activity.enroll",
    "activity.checkin",
    "group.join",
    "group.leave",
    "message.sent",
    "message.failed",
]
CANONICAL_EVENTS: frozenset[str] = frozenset(get_args(EventName))

# WeChat documents no length or alphabet for openid/UnionID. Those seen are 28 characters of
# the base64url alphabet (e.g. o9AgO5Kd5ggOC-bXrbNODIiE3bGY, fact sheet §8.1); we accept 6–64
# of that alphabet so that a format change does not lock members out, and refuse anything else.
WECHAT_ID = re.compile(r"^[A-Za-z0-9_-]{6,64}$")
EXTERNAL_ID = re.compile(r"^[\x21-\x7e]{1,128}$")  # printable ASCII, no spaces
E164 = re.compile(r"^\+[1-9][0-9]{6,14}$")
MAINLAND = re.compile(r"^1[3-9][0-9]{9}$")
PROPS_MAX_BYTES = 16 * 1024
FUTURE_TOLERANCE = timedelta(days=1)


def error_reason(error: ErrorDetails) -> str:
    """What was wrong with one field, for a person: pydantic's words, except where its own
    checks (a pattern, a list of names) would quote a regular expression or every name."""
    field = error["loc"][-1] if error["loc"] else None
    if error["type"] == "string_pattern_mismatch" and field in {"openid", "unionid"}:
        return "must be 6–64 characters of letters, digits, '_' or '-'"
    if error["type"] == "literal_error" and field == "event":
        return f"unknown event {error['input']!r}; see the canonical events in the docs"
    return str(error["msg"])


# pydantic's error types an event line meets, in the Chinese an operator reads beside the line
# (the API keeps pydantic's English in `reason`).
_REASONS_ZH = {
    "missing": "缺少这个字段",
    "extra_forbidden": "不认识这个字段",
    "string_type": "应为文本",
    "int_type": "应为整数",
    "int_parsing": "应为整数",
    "bool_type": "应为 true 或 false",
    "dict_type": "应为 JSON 对象",
    "list_type": "应为 JSON 数组",
    "string_too_short": "太短（至少 {min_length} 个字符）",
    "string_too_long": "太长（最多 {max_length} 个字符）",
    "string_pattern_mismatch": "格式不对",
    "datetime_type": "应为 ISO 8601 时间，如 2026-11-20T10:00:00+08:00",
    "datetime_parsing": "应为 ISO 8601 时间，如 2026-11-20T10:00:00+08:00",
    "datetime_from_date_parsing": "应为 ISO 8601 时间，如 2026-11-20T10:00:00+08:00",
    "timezone_aware": "时间需要带时区，如 +08:00",
    "json_invalid": "不是有效的 JSON",
    "model_type": "应为 JSON 对象",
    "model_attributes_type": "应为 JSON 对象",
}


def error_reason_zh(error: ErrorDetails) -> str:
    """`error_reason` in Chinese: where the line is wrong and what is wrong there."""
    field = error["loc"][-1] if error["loc"] else None
    kind = error["type"]
    if kind == "string_pattern_mismatch" and field in {"openid", "unionid"}:
        what = "应为 6–64 位字母、数字、_ 或 -"
    elif kind == "literal_error" and field == "event":
        what = f"未知事件 {error['input']!r}，请使用文档中的规范事件名"
    elif kind in _REASONS_ZH:
        what = _REASONS_ZH[kind].format_map(defaultdict(lambda: "…", error.get("ctx") or {}))
    else:
        # A check of our own (a value error): its message is ours, said in `reason`; the
        # Chinese names the field and says it is not accepted.
        what = "值不正确"
    where = ".".join(str(p) for p in error["loc"])
    return f"字段 {where}：{what}" if where else what


def latest_event_time() -> datetime:
    """The latest `ts` an event may carry now: a day ahead, for clocks set wrong."""
    return clock.now() + FUTURE_TOLERANCE


def normalize_phone(raw: str) -> str:
    """E.164 for an E.164 number or an 11-digit mainland mobile; ValueError otherwise."""
    compact = re.sub(r"[\s-]", "", raw)
    if MAINLAND.match(compact):
        return "+86" + compact
    if E164.match(compact):
        return compact
    raise ValueError("phone must be E.164 (+8613800000000) or an 11-digit mainland mobile number")


def mask_phone(phone: str) -> str:
    """138****0000 for a mainland number; the last four digits otherwise."""
    local = phone[3:] if phone.startswith("+86") else phone
    if len(local) == 11:
        return f"{local[:3]}****{local[-4:]}"
    return f"{'*' * max(len(local) - 4, 0)}{local[-4:]}"


def _external_id(value: str) -> str:
    if not EXTERNAL_ID.match(value):
        raise ValueError("must be 1–128 printable ASCII characters without spaces")
    return value


WeChatId = Annotated[str, StringConstraints(pattern=WECHAT_ID.pattern)]
ExternalId = Annotated[str, AfterValidator(_external_id)]
Phone = Annotated[str, AfterValidator(normalize_phone)]


class PersonRef(BaseModel):
    """A person named the way WeChat names them."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    appid: str = Field(min_length=2, max_length=64)
    openid: WeChatId | None = None
    unionid: WeChatId | None = None
    phone: Phone | None = None
    external_id: ExternalId | None = None

    @model_validator(mode="after")
    def _needs_an_app_identity(self) -> Self:
        if self.openid is None and self.external_id is None:
            raise ValueError("openid (or, for an H5 or external app, external_id) is required")
        return self


# The earliest year an event may carry. WeChat opened in 2011 and its Official Accounts in
# 2012, so no WeChat event is older; 2000 still takes a CRM's or a shop's history imported from
# before WeChat, while a year like 0001 (a default date, a parsing slip) is refused: it would
# sort first on every timeline and count in no day of any report.
EARLIEST_EVENT_YEAR = 2000


class EventIn(PersonRef):
    """One canonical event from outside: `{event, ts, appid, openid, unionid?, phone?, ...}`."""

    event: EventName
    ts: AwareDatetime
    channel: str | None = Field(default=None, min_length=1, max_length=64)
    props: dict[str, Any] = Field(default_factory=dict)

    @field_validator("ts")
    @classmethod
    def _not_in_future(cls, value: datetime, info: ValidationInfo) -> datetime:
        # A batch validates against one `latest` (`latest_event_time()`): asking the clock
        # for every line was a tenth of an import's time.
        latest: datetime = (info.context.get("latest") if info.context else None) or (
            latest_event_time()
        )
        # A zone moves a local date by less than a day either way, so a date three days before
        # the latest one is in time: no exact comparison, which converts zones (half a µs).
        if value.year < EARLIEST_EVENT_YEAR:
            raise ValueError(f"ts lies before {EARLIEST_EVENT_YEAR}: not a real event's time")
        if value.toordinal() + 3 <= latest.toordinal() or value <= latest:
            return value
        raise ValueError("ts lies more than a day in the future")

    @field_validator("props")
    @classmethod
    def _props_size(cls, value: dict[str, Any]) -> dict[str, Any]:
        try:
            size = len(orjson.dumps(value))
        except orjson.JSONEncodeError as exc:  # e.g. an integer beyond 64 bits
            raise ValueError(f"props cannot be stored: {exc}") from exc
        if size > PROPS_MAX_BYTES:
            raise ValueError(f"props exceed {PROPS_MAX_BYTES} bytes")
        return value


class EventBatch(BaseModel):
    model_config = ConfigDict(extra="forbid")

    events: list[dict[str, Any]] = Field(min_length=1)


class ResolvedMember(BaseModel):
    id: int
    number: int
    created: bool = False
    merged_ids: list[int] = Field(default_factory=list)


class IdentityRead(BaseModel):
    kind: IdentityKind
    appid: str | None
    value: str | None
    phone_masked: str | None = None
    phone: str | None = None
    created_at: datetime


class MemberRead(BaseModel):
    id: int
    workspace_id: int
    number: int
    status: MemberStatus
    merged_into_id: int | None
    attributes: dict[str, Any]
    created_at: datetime
    identities: list[IdentityRead] = Field(default_factory=list)
    erased_at: datetime | None = None


class MemberPage(BaseModel):
    """A page of members, and whether another follows."""

    members: list[MemberRead]
    more: bool = False


class TimelineEventRead(BaseModel):
    id: int
    event: str
    ts: datetime
    appid: str | None
    channel: str | None
    props: dict[str, Any]


class TimelinePage(BaseModel):
    items: list[TimelineEventRead]
    next_cursor: str | None


class MergeRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    survivor_id: int
    merged_id: int
    reason: str
    evidence: dict[str, Any]
    actor: str
    created_at: datetime
    undone_at: datetime | None
    undone_by: str | None


class ConflictRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    member_a_id: int
    member_b_id: int
    reason: str
    evidence: dict[str, Any]
    status: ConflictStatus
    created_at: datetime
    resolved_at: datetime | None
    resolved_by: str | None


class LineError(BaseModel):
    line: int
    code: str
    reason: str  # the API's words (English)
    zh: str = ""  # what an operator reads beside the line (the code's Chinese, slots filled)


class IngestReport(BaseModel):
    accepted: int = 0
    rejected: list[LineError] = Field(default_factory=list)
    members_created: int = 0


class DailyCount(BaseModel):
    day: str
    members: int
    events: int


class Overview(BaseModel):
    members: int
    new_today: int
    events_today: int
    open_conflicts: int
    days: list[DailyCount]


BATCH_EXAMPLE: list[dict[str, Any]] = [
    {
        "event": "mp.page_view",
        "ts": "2026-11-20T09:30:00+08:00",
        "appid": "wx0123456789abcdef",
        "openid": "o9AgO5Kd5ggOC-bXrbNODIiE3bGY",
        "unionid": "oUnion5Kd5ggOC-bXrbNODIiE3bG",
        "props": {"page": "pages/index/index", "duration_s": 12},
    }
]


class ImportRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    filename: str
    size_bytes: int
    processed_bytes: int
    accepted: int
    rejected: int
    members_created: int
    errors: list[dict[str, Any]]
    status: ImportStatus
    message: str | None
    created_by: str
    created_at: datetime
    finished_at: datetime | None

    @property
    def percent(self) -> int:
        if self.status == ImportStatus.done or self.size_bytes == 0:
            return 100
        return min(99, self.processed_bytes * 100 // self.size_bytes)


class ConsentRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    member_id: int
    purpose: ConsentPurpose
    entry: str
    actor: str
    granted_at: datetime
    withdrawn_at: datetime | None
    withdrawn_via: str | None


class ErasureProof(BaseModel):
    """What was erased, as ids, table names and counts; `digest` seals the record."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    member_id: int
    member_ids: list[int]
    requested_via: str
    actor: str
    tables: dict[str, Any]
    identifier_hashes: list[str]
    digest: str
    created_at: datetime
