"""Audience's tables: segments (人群) and who is in them, tag groups (标签组), sales leads
(线索): scoring rules, scores, leads, follow-ups, claims and notices."""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import BigInteger, Enum, ForeignKey, Index, SmallInteger, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

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
    Tier,
    TierCause,
)
from siyu.core.crypto import EncryptedText
from siyu.core.db import Base, BigId, IdPK, JSONType
from siyu.core.privacy import Erasure


def _enum(cls: type[StrEnum]) -> Enum:
    return Enum(cls, native_enum=False, length=32, validate_strings=True)


class Segment(Base):
    """A named condition tree over members; `rule_tag`, if set, is kept equal to it."""

    __tablename__ = "audience_segments"
    __erasure__ = Erasure.none("a definition over members; who is in it is another table")
    __table_args__ = (
        UniqueConstraint("workspace_id", "name"),
        UniqueConstraint("workspace_id", "rule_tag"),
    )

    id: Mapped[IdPK]
    workspace_id: Mapped[int] = mapped_column(BigId, ForeignKey("workspaces.id"))
    name: Mapped[str] = mapped_column(String(64))
    description: Mapped[str] = mapped_column(String(200), default="")
    kind: Mapped[SegmentKind] = mapped_column(_enum(SegmentKind))
    definition: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    rule_tag: Mapped[str | None] = mapped_column(String(64))
    member_count: Mapped[int] = mapped_column(default=0)
    # Set by events that may change a dynamic segment; the refresh job clears it.
    stale: Mapped[bool] = mapped_column(default=False)
    refreshed_at: Mapped[datetime | None]
    created_by: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class SegmentMember(Base):
    """A member in a segment since `entered_at` (the refresh writes the difference)."""

    __tablename__ = "audience_segment_members"
    __erasure__ = Erasure.delete(member=("member_id",))
    __table_args__ = (Index("ix_audience_segment_members_member", "member_id"),)

    # No foreign keys, as on the timeline: a refresh inserts up to a million rows in one
    # statement and PostgreSQL checks a key row by row (at 50,000 entrants the check of the
    # segment's key took longer than the insert itself: bench/segments.py). Members are never
    # deleted, and a segment's rows go with it (repository.delete_segment).
    segment_id: Mapped[int] = mapped_column(BigId, primary_key=True)
    member_id: Mapped[int] = mapped_column(BigId, primary_key=True)
    entered_at: Mapped[datetime]


class TagGroup(Base):
    """A 标签组: tags shown together in the console (e.g. 年级: 一年级, 二年级, …)."""

    __tablename__ = "audience_tag_groups"
    __erasure__ = Erasure.none("names of tags, no member")
    __table_args__ = (UniqueConstraint("workspace_id", "name"),)

    id: Mapped[IdPK]
    workspace_id: Mapped[int] = mapped_column(BigId, ForeignKey("workspaces.id"))
    name: Mapped[str] = mapped_column(String(64))
    tags: Mapped[list[str]] = mapped_column(JSONType, default=list)
    created_by: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


# --- sales leads (线索) ------------------------------------------------------------------------


class LeadRule(Base):
    """A scoring rule: points per event (decayed by age), for a condition, or for silence."""

    __tablename__ = "audience_lead_rules"
    __erasure__ = Erasure.none("a scoring rule, no member")
    __table_args__ = (UniqueConstraint("workspace_id", "name"),)

    id: Mapped[IdPK]
    workspace_id: Mapped[int] = mapped_column(BigId, ForeignKey("workspaces.id"))
    name: Mapped[str] = mapped_column(String(64))
    kind: Mapped[LeadRuleKind] = mapped_column(_enum(LeadRuleKind))
    points: Mapped[int]
    event: Mapped[str | None] = mapped_column(String(64))
    where: Mapped[list[dict[str, Any]]] = mapped_column(JSONType, default=list)
    condition: Mapped[dict[str, Any] | None] = mapped_column(JSONType)
    # event: only events of the last `days`; silent: no event for `days`.
    days: Mapped[int | None]
    # event: an event's points halve every `half_life_days` of its age.
    half_life_days: Mapped[int | None]
    # event: at most this many points from the rule (5 check-ins = +10, not +2 for each of 100).
    max_points: Mapped[int | None]
    enabled: Mapped[bool] = mapped_column(default=True)
    created_by: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class LeadSettings(Base):
    """A workspace's lead policy: the threshold, the claim cap, reclaiming, assignment, won."""

    __tablename__ = "audience_lead_settings"
    __erasure__ = Erasure.none("a workspace's policy")

    workspace_id: Mapped[int] = mapped_column(BigId, ForeignKey("workspaces.id"), primary_key=True)
    threshold: Mapped[int]
    daily_claim_cap: Mapped[int]
    reclaim_days: Mapped[int]
    assignment: Mapped[AssignmentMode] = mapped_column(_enum(AssignmentMode))
    assignees: Mapped[list[int]] = mapped_column(JSONType, default=list)
    capacity: Mapped[int]
    segment_routes: Mapped[list[dict[str, Any]]] = mapped_column(JSONType, default=list)
    won_references: Mapped[list[str]] = mapped_column(JSONType, default=list)
    won_min_amount: Mapped[int]
    last_assignee_id: Mapped[int | None] = mapped_column(BigId)
    # Set by recorded events; the scoring job clears it.
    scores_stale: Mapped[bool] = mapped_column(default=True)
    scored_at: Mapped[datetime | None]
    updated_by: Mapped[str] = mapped_column(String(100))
    updated_at: Mapped[datetime]


class LeadScore(Base):
    """A member's score as of the last scoring, with the rules it came from."""

    __tablename__ = "audience_lead_scores"
    __erasure__ = Erasure.delete(member=("member_id",))
    __table_args__ = (Index("ix_audience_lead_scores_workspace_score", "workspace_id", "score"),)

    member_id: Mapped[int] = mapped_column(BigId, primary_key=True)
    workspace_id: Mapped[int] = mapped_column(BigId, ForeignKey("workspaces.id"))
    score: Mapped[int]
    reasons: Mapped[list[dict[str, Any]]] = mapped_column(JSONType, default=list)
    scored_at: Mapped[datetime]


class Lead(Base):
    """A member whose score reached the threshold: in the pool (no owner) or a salesperson's."""

    __tablename__ = "audience_leads"
    __erasure__ = Erasure.delete(member=("member_id",))
    __table_args__ = (
        UniqueConstraint("workspace_id", "member_id"),
        Index("ix_audience_leads_owner", "workspace_id", "owner_id", "status"),
    )

    id: Mapped[IdPK]
    workspace_id: Mapped[int] = mapped_column(BigId, ForeignKey("workspaces.id"))
    member_id: Mapped[int] = mapped_column(BigId, ForeignKey("members.id"))
    status: Mapped[LeadStatus] = mapped_column(_enum(LeadStatus))
    owner_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("operators.id"))
    score: Mapped[int]
    reasons: Mapped[list[dict[str, Any]]] = mapped_column(JSONType, default=list)
    created_at: Mapped[datetime]
    assigned_at: Mapped[datetime | None]
    first_contact_at: Mapped[datetime | None]
    last_follow_up_at: Mapped[datetime | None]
    next_follow_up_at: Mapped[datetime | None]
    reminded_at: Mapped[datetime | None]
    warned_at: Mapped[datetime | None]
    won_at: Mapped[datetime | None]
    won_order_id: Mapped[int | None] = mapped_column(BigId)
    lost_reason: Mapped[str | None] = mapped_column(EncryptedText("audience_leads.lost_reason"))
    closed_at: Mapped[datetime | None]
    updated_at: Mapped[datetime]


class LeadFollowUp(Base):
    """A call, WeChat conversation or visit, its note (encrypted) and the next date."""

    __tablename__ = "audience_lead_follow_ups"
    __erasure__ = Erasure.delete(member=("member_id",))
    __table_args__ = (Index("ix_audience_lead_follow_ups_lead", "lead_id"),)

    id: Mapped[IdPK]
    lead_id: Mapped[int] = mapped_column(BigId, ForeignKey("audience_leads.id"))
    member_id: Mapped[int] = mapped_column(BigId)
    operator_id: Mapped[int] = mapped_column(BigId, ForeignKey("operators.id"))
    channel: Mapped[FollowUpChannel] = mapped_column(_enum(FollowUpChannel))
    note: Mapped[str | None] = mapped_column(EncryptedText("audience_lead_follow_ups.note"))
    next_follow_up_at: Mapped[datetime | None]
    created_at: Mapped[datetime]


class LeadClaimDay(Base):
    """How many leads a salesperson claimed on a day (Beijing): the daily cap's counter."""

    __tablename__ = "audience_lead_claims"
    __erasure__ = Erasure.none("counts per salesperson and day, no member")

    operator_id: Mapped[int] = mapped_column(BigId, ForeignKey("operators.id"), primary_key=True)
    day: Mapped[date] = mapped_column(primary_key=True)
    workspace_id: Mapped[int] = mapped_column(BigId, ForeignKey("workspaces.id"))
    claimed: Mapped[int]


class LeadNotice(Base):
    """What a salesperson is told about their leads (assigned, reminders, reclaim warnings);
    one per (lead, kind, due time), so that a sweep run twice tells once."""

    __tablename__ = "audience_lead_notices"
    __erasure__ = Erasure.delete(member=("member_id",))
    __table_args__ = (
        UniqueConstraint("lead_id", "kind", "due_at"),
        Index("ix_audience_lead_notices_operator", "operator_id", "created_at"),
    )

    id: Mapped[IdPK]
    workspace_id: Mapped[int] = mapped_column(BigId, ForeignKey("workspaces.id"))
    operator_id: Mapped[int] = mapped_column(BigId, ForeignKey("operators.id"))
    lead_id: Mapped[int] = mapped_column(BigId, ForeignKey("audience_leads.id"))
    member_id: Mapped[int] = mapped_column(BigId)
    kind: Mapped[LeadNoticeKind] = mapped_column(_enum(LeadNoticeKind))
    due_at: Mapped[datetime]
    created_at: Mapped[datetime]


# --- lifecycle tiers and RFM ------------------------------------------------------------------


class TierPolicy(Base):
    """A workspace's tier thresholds and RFM split, as data the console edits (the defaults
    are `audience.schemas.TierPolicyIn`'s)."""

    __tablename__ = "audience_tier_policies"
    __erasure__ = Erasure.none("workspace settings")

    id: Mapped[IdPK]
    workspace_id: Mapped[int] = mapped_column(BigId, ForeignKey("workspaces.id"), unique=True)
    rules: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    updated_at: Mapped[datetime]


# No foreign keys on the per-member tables below, as on the timeline (`identity.models`):
# PostgreSQL checks each one row by row after a bulk INSERT … SELECT, which cost the nightly
# computation more than its own queries (bench/tiers.py). Members are never deleted (a merged
# or erased member keeps its row), and only this domain writes these ids.


class MemberTier(Base):
    """A member's current lifecycle tier and since when."""

    __tablename__ = "member_tiers"
    __erasure__ = Erasure.delete(member=("member_id",))
    __table_args__ = (Index("ix_member_tiers_workspace_tier", "workspace_id", "tier"),)

    member_id: Mapped[int] = mapped_column(BigId, primary_key=True)
    workspace_id: Mapped[int] = mapped_column(BigId)
    tier: Mapped[Tier] = mapped_column(_enum(Tier))
    since: Mapped[datetime]


class MemberTierChange(Base):
    """One move of a member between tiers (`from_tier` empty for the first one)."""

    __tablename__ = "member_tier_changes"
    __erasure__ = Erasure.delete(member=("member_id",))
    __table_args__ = (
        Index("ix_member_tier_changes_workspace_at", "workspace_id", "changed_at"),
        Index("ix_member_tier_changes_member_at", "member_id", "changed_at"),
    )

    id: Mapped[IdPK]
    workspace_id: Mapped[int] = mapped_column(BigId)
    member_id: Mapped[int] = mapped_column(BigId)
    from_tier: Mapped[Tier | None] = mapped_column(_enum(Tier))
    to_tier: Mapped[Tier] = mapped_column(_enum(Tier))
    cause: Mapped[TierCause] = mapped_column(_enum(TierCause))
    changed_at: Mapped[datetime]


class TierDailyCount(Base):
    """How many members each tier held at the end of a day's computation (Beijing date)."""

    __tablename__ = "audience_tier_counts"
    __erasure__ = Erasure.none("counts per tier and day, no member's data")

    workspace_id: Mapped[int] = mapped_column(BigId, ForeignKey("workspaces.id"), primary_key=True)
    day: Mapped[date] = mapped_column(primary_key=True)
    tier: Mapped[Tier] = mapped_column(_enum(Tier), primary_key=True)
    members: Mapped[int]


class MemberRfm(Base):
    """A buyer's recency, frequency and net monetary value, their 1–5 scores within the
    workspace and their cell, as of the last nightly computation."""

    __tablename__ = "member_rfm"
    __erasure__ = Erasure.delete(member=("member_id",))
    __table_args__ = (Index("ix_member_rfm_workspace_cell", "workspace_id", "cell"),)

    member_id: Mapped[int] = mapped_column(BigId, primary_key=True)
    workspace_id: Mapped[int] = mapped_column(BigId)
    last_paid_at: Mapped[datetime]
    frequency: Mapped[int]
    monetary: Mapped[int] = mapped_column(BigInteger)  # fen, paid minus refunded
    r: Mapped[int] = mapped_column(SmallInteger)
    f: Mapped[int] = mapped_column(SmallInteger)
    m: Mapped[int] = mapped_column(SmallInteger)
    cell: Mapped[RfmCell] = mapped_column(_enum(RfmCell))
    computed_at: Mapped[datetime]


class OaTagSync(Base):
    """An Official Account user tag kept equal to a siyu audience (a tag; later a segment),
    with the state of its last (or current) sync: status, run token and report."""

    __tablename__ = "audience_oa_tag_syncs"
    __erasure__ = Erasure.none("which audience maps to which OA tag, and counts")
    __table_args__ = (
        UniqueConstraint("app_id", "oa_tag_name"),
        UniqueConstraint("app_id", "source_kind", "source"),
    )

    id: Mapped[IdPK]
    workspace_id: Mapped[int] = mapped_column(BigId, ForeignKey("workspaces.id"), index=True)
    app_id: Mapped[int] = mapped_column(BigId, ForeignKey("apps.id"))
    source_kind: Mapped[OaTagSource] = mapped_column(_enum(OaTagSource))
    source: Mapped[str] = mapped_column(String(100))
    oa_tag_name: Mapped[str] = mapped_column(String(64))
    # WeChat's id of the tag once made (or found by name); None until the first sync.
    oa_tag_id: Mapped[int | None]
    status: Mapped[OaTagSyncStatus] = mapped_column(_enum(OaTagSyncStatus))
    # The run that owns the sync now: a second runner sees another token and stops.
    run_token: Mapped[str] = mapped_column(String(32), default="")
    # The current or last run's counts: tagged, untagged, skipped by reason, examples, error.
    report: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    started_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]
    created_by: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime]


class OaTagMember(Base):
    """A member WeChat confirmed on the OA tag: the last-synced set the next sync diffs against
    (rows are written as each batch is confirmed, so an interrupted sync resumes from them)."""

    __tablename__ = "audience_oa_tag_members"
    __erasure__ = Erasure.delete(member=("member_id",), wechat_ids=("openid",))
    __table_args__ = (UniqueConstraint("sync_id", "member_id"),)

    id: Mapped[IdPK]
    sync_id: Mapped[int] = mapped_column(BigId, ForeignKey("audience_oa_tag_syncs.id"))
    member_id: Mapped[int] = mapped_column(BigId, ForeignKey("members.id"), index=True)
    openid: Mapped[str] = mapped_column(String(64))
