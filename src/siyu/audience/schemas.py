"""Audience's pydantic models in and out."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from siyu.audience.enums import (
    AssignmentMode,
    FollowUpChannel,
    LeadNoticeKind,
    LeadRuleKind,
    LeadStatus,
    OaTagSource,
    OaTagSyncStatus,
    RfmCell,
    SegmentKind,
    SkipReason,
    Tier,
    TierCause,
)
from siyu.core.params import MAX_NUMBER, Id
from siyu.reach.schemas import KEY_PATTERN

NAME_MAX = 64


class SegmentPreviewIn(BaseModel):
    """A definition to count while editing (the tree is checked by the service, with paths)."""

    model_config = ConfigDict(extra="forbid")
    definition: dict[str, Any]


class SegmentCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=NAME_MAX)
    description: str = Field(default="", max_length=200)
    kind: SegmentKind = SegmentKind.dynamic
    definition: dict[str, Any]
    # A tag kept equal to the segment: members get it on entering and lose it on leaving.
    rule_tag: str | None = Field(default=None, min_length=1, max_length=NAME_MAX)


class SegmentUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str | None = Field(default=None, min_length=1, max_length=NAME_MAX)
    description: str | None = Field(default=None, max_length=200)
    definition: dict[str, Any] | None = None


class SegmentRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: int
    name: str
    description: str
    kind: SegmentKind
    definition: dict[str, Any]
    rule_tag: str | None
    member_count: int
    refreshed_at: datetime | None
    created_by: str
    created_at: datetime
    updated_at: datetime


class SegmentPreview(BaseModel):
    count: int
    members: list[int]  # member numbers, the first ones


class SegmentMemberRow(BaseModel):
    member_id: int
    number: int
    entered_at: datetime


class SegmentMembersPage(BaseModel):
    items: list[SegmentMemberRow]
    total: int
    offset: int
    more: bool


class RefreshResult(BaseModel):
    segment_id: int
    entered: int
    left: int
    count: int
    tagged: int = 0
    untagged: int = 0


class SegmentNotice(BaseModel):
    """A notice (a reach template by intent) or an OA mass text to the segment's members."""

    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=100)
    template_key: str | None = Field(default=None, pattern=KEY_PATTERN)
    mass_appid: str | None = Field(default=None, max_length=32)
    mass_text: str | None = Field(default=None, min_length=1, max_length=2000)
    data: dict[str, str] = Field(default_factory=dict, max_length=30)
    category: str = Field(default="activity", max_length=32)
    urgency: Literal["urgent", "normal", "low"] = "normal"
    scheduled_at: datetime | None = None
    per_minute: int = Field(default=600, ge=1, le=100_000)


class TagGroupIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=NAME_MAX)
    tags: list[str] = Field(default_factory=list, max_length=200)


class TagGroupRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: int
    name: str
    tags: list[str]
    counts: dict[str, int] = Field(default_factory=dict)


# --- sales leads (线索) ----------------------------------------------------------------------

POINTS = 1000  # a rule gives at most ±1000 points
LEAD_DAYS = 3650


class LeadRuleIn(BaseModel):
    """A scoring rule. `event`: `points` per matching event of the last `days` (365 if not
    given), halved every `half_life_days` of the event's age, at most `max_points` in all;
    `condition`: `points` while a segment condition tree holds (a tag: `{"op": "and",
    "conditions": [{"kind": "tags", "match": "any", "tags": ["在职教师"]}]}`); `silent`:
    `points` (usually negative) when the member recorded no event for `days`."""

    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=NAME_MAX)
    kind: LeadRuleKind
    points: int = Field(ge=-POINTS, le=POINTS)
    event: str | None = Field(default=None, max_length=64)
    where: list[dict[str, Any]] = Field(default_factory=list, max_length=10)
    condition: dict[str, Any] | None = None
    days: int | None = Field(default=None, ge=1, le=LEAD_DAYS)
    half_life_days: int | None = Field(default=None, ge=1, le=LEAD_DAYS)
    max_points: int | None = Field(default=None, ge=1, le=100 * POINTS)
    enabled: bool = True


class LeadRuleRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: int
    name: str
    kind: LeadRuleKind
    points: int
    event: str | None
    where: list[dict[str, Any]]
    condition: dict[str, Any] | None
    days: int | None
    half_life_days: int | None
    max_points: int | None
    enabled: bool
    created_by: str
    updated_at: datetime


class SegmentRoute(BaseModel):
    """New leads of a segment's members go to these salespeople, in turn."""

    model_config = ConfigDict(extra="forbid")
    segment_id: Id
    operator_ids: list[Id] = Field(min_length=1, max_length=100)


class LeadSettingsIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    threshold: int = Field(default=30, ge=1, le=100 * POINTS)
    daily_claim_cap: int = Field(default=20, ge=1, le=10_000)
    reclaim_days: int = Field(default=7, ge=2, le=365)
    assignment: AssignmentMode = AssignmentMode.pool
    assignees: list[Id] = Field(default_factory=list, max_length=500)
    capacity: int = Field(default=0, ge=0, le=100_000)  # open leads each (0: no limit)
    segment_routes: list[SegmentRoute] = Field(default_factory=list, max_length=50)
    # A payment whose order reference starts with one of these wins the member's lead
    # (`activity:`, `course:python`); none: any payment does.
    won_references: list[str] = Field(default_factory=list, max_length=50)
    won_min_amount: int = Field(default=0, ge=0, le=MAX_NUMBER)  # fen


class LeadSettingsRead(LeadSettingsIn):
    model_config = ConfigDict(from_attributes=True, extra="ignore")
    scored_at: datetime | None = None


class ScoreReason(BaseModel):
    rule_id: int
    rule: str
    points: int


class MemberScore(BaseModel):
    member_id: int
    number: int
    score: int
    reasons: list[ScoreReason]
    scored_at: datetime | None
    lead_id: int | None


class ScoringResult(BaseModel):
    scored: int  # members with a score
    leads_created: int
    assigned: int


class LeadRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: int
    member_id: int
    number: int = 0
    display_name: str | None = None
    status: LeadStatus
    owner_id: int | None
    owner_name: str | None = None
    score: int
    reasons: list[ScoreReason]
    created_at: datetime
    assigned_at: datetime | None
    first_contact_at: datetime | None
    last_follow_up_at: datetime | None
    next_follow_up_at: datetime | None
    won_at: datetime | None
    lost_reason: str | None
    closed_at: datetime | None


class LeadPage(BaseModel):
    items: list[LeadRead]
    total: int
    offset: int
    more: bool


class FollowUpIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    channel: FollowUpChannel
    note: str = Field(default="", max_length=2000)
    next_follow_up_at: datetime | None = None


class FollowUpRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: int
    lead_id: int
    operator_id: int
    channel: FollowUpChannel
    note: str | None
    next_follow_up_at: datetime | None
    created_at: datetime


class LeadDetail(BaseModel):
    lead: LeadRead
    follow_ups: list[FollowUpRead]
    tags: list[str]


class LeadMove(BaseModel):
    model_config = ConfigDict(extra="forbid")
    status: LeadStatus
    reason: str | None = Field(default=None, max_length=200)


class LeadAssign(BaseModel):
    model_config = ConfigDict(extra="forbid")
    operator_id: Id | None


class LeadNoticeRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: int
    lead_id: int
    member_id: int
    kind: LeadNoticeKind
    due_at: datetime
    created_at: datetime


class SweepResult(BaseModel):
    reminded: int
    warned: int
    reclaimed: int


class SalesReportRow(BaseModel):
    operator_id: int
    name: str
    leads: int
    contacted_within_24h: int
    won: int
    lost: int
    conversion: float  # won / leads


# --- lifecycle tiers and RFM ------------------------------------------------------------------


class TierPolicyIn(BaseModel):
    """A workspace's tier thresholds, in days, and the RFM split; the defaults are the
    policy of a workspace that never set one."""

    model_config = ConfigDict(extra="forbid")

    new_days: int = Field(default=7, ge=1, le=365, description="新客: joined at most this long ago")
    dormant_days: int = Field(
        default=30, ge=2, le=3650, description="沉睡: no activity for at least this long"
    )
    churn_days: int = Field(
        default=90, ge=3, le=3650, description="流失: no activity for longer than this"
    )
    returning_days: int = Field(
        default=30, ge=1, le=365, description="回流 lasts this long, then the member is 活跃"
    )
    churn_on_unfollow: bool = Field(
        default=True, description="流失 as well: unfollowed every OA and silent in the MP since"
    )
    rfm_high_score: int = Field(
        default=3, ge=2, le=5, description="an R, F or M score at least this is 高"
    )


class TierPolicyRead(TierPolicyIn):
    updated_at: datetime | None = None


class MemberTierRead(BaseModel):
    member_number: int
    tier: Tier
    since: datetime | None
    # False when the member has no stored tier yet (joined since the last computation): the
    # tier shown is computed for this answer and `since` is empty.
    stored: bool


class MemberRfmRead(BaseModel):
    member_number: int
    buyer: bool
    last_paid_at: datetime | None = None
    recency_days: int | None = None
    frequency: int = 0
    monetary: int = 0  # fen, paid minus refunded
    r: int | None = None
    f: int | None = None
    m: int | None = None
    cell: RfmCell | None = None
    computed_at: datetime | None = None


class TierSeries(BaseModel):
    tier: Tier
    counts: list[int]


class TierCountsRead(BaseModel):
    """Members per tier at the end of each day's computation (Beijing dates)."""

    days: list[date]
    series: list[TierSeries]


class TierFlowRead(BaseModel):
    """Moves from one tier to another in a period (`from_tier` empty: first tier given)."""

    from_tier: Tier | None
    to_tier: Tier
    members: int


class TierMoveRead(BaseModel):
    from_tier: Tier | None
    to_tier: Tier
    cause: TierCause
    changed_at: datetime


class TierRunReport(BaseModel):
    workspace_id: int
    members: int
    moved: int
    by_tier: dict[Tier, int]


class RfmRunReport(BaseModel):
    workspace_id: int
    buyers: int
    by_cell: dict[RfmCell, int]


# The same 30 a WeChat tag name may take (fact sheet §2.7); bytes are checked by the service.
OA_TAG_NAME_MAX = 30


class OaTagSyncCreate(BaseModel):
    """Keep an OA tag equal to a siyu tag (`source`); the OA tag is named like it unless
    `oa_tag_name` says otherwise."""

    model_config = ConfigDict(extra="forbid")

    appid: str = Field(min_length=1, max_length=32)
    source_kind: OaTagSource = OaTagSource.tag
    source: str = Field(min_length=1, max_length=64)
    oa_tag_name: str | None = Field(default=None, min_length=1, max_length=OA_TAG_NAME_MAX)


class SkippedMember(BaseModel):
    member_id: int
    reason: SkipReason


class OaTagSyncReport(BaseModel):
    """What a sync did: members tagged and untagged on WeChat, and those skipped with why
    (counts by reason; the first examples by member)."""

    tagged: int = 0
    untagged: int = 0
    skipped: dict[SkipReason, int] = Field(default_factory=dict)
    examples: list[SkippedMember] = Field(default_factory=list)
    calls: int = 0
    error: str | None = None


class OaTagSyncRead(BaseModel):
    id: int
    appid: str
    source_kind: OaTagSource
    source: str
    oa_tag_name: str
    oa_tag_id: int | None
    status: OaTagSyncStatus
    members: int
    report: OaTagSyncReport
    started_at: datetime | None
    finished_at: datetime | None
    created_by: str
    created_at: datetime


class OaTagImport(BaseModel):
    model_config = ConfigDict(extra="forbid")

    appid: str = Field(min_length=1, max_length=32)


class OaTagImportReport(BaseModel):
    """An OA's tags brought in as siyu tags: how many tags, members tagged, and followers
    WeChat listed whom siyu does not know yet (they arrive with their next push)."""

    tags: list[str] = Field(default_factory=list)
    members_tagged: int = 0
    unknown_openids: int = 0


class OaTagBroadcastCreate(BaseModel):
    """A subscription account's broadcast (`sendall` with `tag_id`) to a synced OA tag."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=100)
    text: str = Field(min_length=1, max_length=2000)
    scheduled_at: datetime | None = None


def report_of(data: dict[str, Any]) -> OaTagSyncReport:
    return OaTagSyncReport.model_validate(data or {})
