"""Members and what is theirs: identities, timeline events, merges and review conflicts, tags,
import runs; the sales rep assigned to each, their consents and the proofs of their erasure."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import BigInteger, Enum, ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from siyu.core.crypto import EncryptedText
from siyu.core.db import Base, BigId, IdPK, JSONType
from siyu.core.privacy import Erasure, keep_numbers
from siyu.identity.enums import (
    ConflictStatus,
    ConsentPurpose,
    IdentityKind,
    ImportStatus,
    MemberStatus,
)


def _enum(cls: type[StrEnum]) -> Enum:
    return Enum(cls, native_enum=False, length=32, validate_strings=True)


class Member(Base):
    __tablename__ = "members"
    __erasure__ = Erasure.anonymize(member=("id",), scrub={"attributes": {}})
    __table_args__ = (
        UniqueConstraint("workspace_id", "number"),
        Index("ix_members_workspace_created", "workspace_id", "created_at"),
    )

    id: Mapped[IdPK]
    workspace_id: Mapped[int] = mapped_column(BigId, ForeignKey("workspaces.id"))
    number: Mapped[int]
    status: Mapped[MemberStatus] = mapped_column(_enum(MemberStatus), default=MemberStatus.active)
    merged_into_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("members.id"))
    attributes: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    created_at: Mapped[datetime]
    # Set when the member's personal data was erased; the row stays so that counts hold.
    erased_at: Mapped[datetime | None]


class MemberProfile(Base):
    """What the team calls a member: a display name and a staff remark, encrypted at rest like
    the phone; found by search through keyed hashes of their characters (MemberSearchTerm)."""

    __tablename__ = "member_profiles"
    __erasure__ = Erasure.delete(member=("member_id",))

    member_id: Mapped[int] = mapped_column(BigId, ForeignKey("members.id"), primary_key=True)
    workspace_id: Mapped[int] = mapped_column(BigId, ForeignKey("workspaces.id"))
    display_name: Mapped[str | None] = mapped_column(EncryptedText("member_profiles.display_name"))
    remark: Mapped[str | None] = mapped_column(EncryptedText("member_profiles.remark"))
    updated_at: Mapped[datetime]


class MemberSearchTerm(Base):
    """One keyed hash of a profile's text (a pair of characters, or a whole short name): the
    search finds a member by the hashes of what was typed, never by the plaintext."""

    __tablename__ = "member_search_terms"
    __erasure__ = Erasure.delete(member=("member_id",))
    __table_args__ = (
        UniqueConstraint("member_id", "term"),
        Index("ix_member_search_terms_lookup", "workspace_id", "term"),
    )

    id: Mapped[IdPK]
    workspace_id: Mapped[int] = mapped_column(BigId, ForeignKey("workspaces.id"))
    member_id: Mapped[int] = mapped_column(BigId, ForeignKey("members.id"))
    term: Mapped[str] = mapped_column(String(64))


class Identity(Base):
    """One way to recognise a member. `scope` is the appid for app-scoped kinds, else ''."""

    __tablename__ = "identities"
    __erasure__ = Erasure.delete(member=("member_id",))
    __table_args__ = (UniqueConstraint("workspace_id", "kind", "scope", "value"),)

    id: Mapped[IdPK]
    workspace_id: Mapped[int] = mapped_column(BigId, ForeignKey("workspaces.id"))
    member_id: Mapped[int] = mapped_column(BigId, ForeignKey("members.id"), index=True)
    kind: Mapped[IdentityKind] = mapped_column(_enum(IdentityKind))
    scope: Mapped[str] = mapped_column(String(64))
    # The id itself; for a phone, its keyed hash (the number is only in `secret`).
    value: Mapped[str] = mapped_column(String(128))
    secret: Mapped[str | None] = mapped_column(EncryptedText("identities.secret"))
    created_at: Mapped[datetime]


class TimelineEvent(Base):
    __tablename__ = "events"
    __erasure__ = Erasure.anonymize(
        member=("member_id", "origin_member_id"), scrub={"props": keep_numbers}
    )
    __table_args__ = (
        Index("ix_events_member_ts", "member_id", "ts"),
        Index("ix_events_workspace_ts", "workspace_id", "ts"),
    )

    # No foreign keys on this append-only log, by design: PostgreSQL checks each one row by
    # row at the end of every COPY, which made them cost more than the rest of an import put
    # together (bench/ingest.py). Members, apps and workspaces are never deleted (a merged or
    # erased member keeps its row), and only the identity hub writes these ids.
    id: Mapped[IdPK]
    workspace_id: Mapped[int] = mapped_column(BigId)
    member_id: Mapped[int] = mapped_column(BigId)
    # The member the event was first recorded for: an undone merge gives its events back.
    origin_member_id: Mapped[int] = mapped_column(BigId)
    app_id: Mapped[int | None] = mapped_column(BigId)
    name: Mapped[str] = mapped_column(String(64))
    ts: Mapped[datetime]
    channel: Mapped[str | None] = mapped_column(String(64))
    props: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    received_at: Mapped[datetime]


class MemberMerge(Base):
    __tablename__ = "member_merges"
    __erasure__ = Erasure.anonymize(
        member=("survivor_id", "merged_id"),
        scrub={"evidence": {}, "survivor_attributes": {}, "merged_attributes": {}},
    )

    id: Mapped[IdPK]
    workspace_id: Mapped[int] = mapped_column(BigId, ForeignKey("workspaces.id"), index=True)
    survivor_id: Mapped[int] = mapped_column(BigId, ForeignKey("members.id"), index=True)
    merged_id: Mapped[int] = mapped_column(BigId, ForeignKey("members.id"), index=True)
    reason: Mapped[str] = mapped_column(String(64))
    evidence: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    moved_identity_ids: Mapped[list[int]] = mapped_column(JSONType, default=list)
    survivor_attributes: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    merged_attributes: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    # The survivor's own created_at before the merge took the earlier of the two (an undo puts
    # it back); empty on merges recorded before the survivor's date could move.
    survivor_created_at: Mapped[datetime | None]
    actor: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime]
    undone_at: Mapped[datetime | None]
    undone_by: Mapped[str | None] = mapped_column(String(100))


class MemberTag(Base):
    """A label staff or rules put on a member ("blacklist", "21天打卡", a channel's tags)."""

    __tablename__ = "member_tags"
    # Operators' labels about a person: they go with the person.
    __erasure__ = Erasure.delete(member=("member_id",))
    __table_args__ = (
        UniqueConstraint("member_id", "tag"),
        Index("ix_member_tags_workspace_tag", "workspace_id", "tag"),
    )

    id: Mapped[IdPK]
    workspace_id: Mapped[int] = mapped_column(BigId, ForeignKey("workspaces.id"))
    member_id: Mapped[int] = mapped_column(BigId, ForeignKey("members.id"))
    tag: Mapped[str] = mapped_column(String(64))
    created_by: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime]


class MergeConflict(Base):
    """Evidence that two members may be one person, which a person must judge."""

    __tablename__ = "merge_conflicts"
    __erasure__ = Erasure.anonymize(member=("member_a_id", "member_b_id"), scrub={"evidence": {}})
    __table_args__ = (UniqueConstraint("workspace_id", "member_a_id", "member_b_id", "reason"),)

    id: Mapped[IdPK]
    workspace_id: Mapped[int] = mapped_column(BigId, ForeignKey("workspaces.id"), index=True)
    member_a_id: Mapped[int] = mapped_column(BigId, ForeignKey("members.id"))
    member_b_id: Mapped[int] = mapped_column(BigId, ForeignKey("members.id"))
    reason: Mapped[str] = mapped_column(String(64))
    evidence: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    status: Mapped[ConflictStatus] = mapped_column(
        _enum(ConflictStatus), default=ConflictStatus.open
    )
    created_at: Mapped[datetime]
    resolved_at: Mapped[datetime | None]
    resolved_by: Mapped[str | None] = mapped_column(String(100))


class ImportRun(Base):
    """An uploaded event file being imported by a job; the console polls its progress."""

    __tablename__ = "imports"
    __erasure__ = Erasure.none(
        "file-level counts and error codes; the lines themselves are not kept"
    )

    id: Mapped[IdPK]
    workspace_id: Mapped[int] = mapped_column(BigId, ForeignKey("workspaces.id"), index=True)
    filename: Mapped[str] = mapped_column(String(255))
    path: Mapped[str] = mapped_column(String(1024))
    size_bytes: Mapped[int] = mapped_column(BigInteger)
    processed_bytes: Mapped[int] = mapped_column(BigInteger, default=0)
    accepted: Mapped[int] = mapped_column(default=0)
    rejected: Mapped[int] = mapped_column(default=0)
    members_created: Mapped[int] = mapped_column(default=0)
    # The first rejected lines, for the console; the count above is the whole truth.
    errors: Mapped[list[dict[str, Any]]] = mapped_column(JSONType, default=list)
    status: Mapped[ImportStatus] = mapped_column(_enum(ImportStatus), default=ImportStatus.queued)
    message: Mapped[str | None] = mapped_column(String(500))
    created_by: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime]
    finished_at: Mapped[datetime | None]


class MemberAssignment(Base):
    """The sales rep who looks after a member; a sales rep sees only their own members."""

    __tablename__ = "member_assignments"
    __erasure__ = Erasure.delete(member=("member_id",))
    __table_args__ = (
        UniqueConstraint("member_id"),
        Index("ix_member_assignments_operator", "operator_id", "member_id"),
    )

    id: Mapped[IdPK]
    workspace_id: Mapped[int] = mapped_column(BigId, ForeignKey("workspaces.id"))
    member_id: Mapped[int] = mapped_column(BigId, ForeignKey("members.id"))
    operator_id: Mapped[int] = mapped_column(BigId, ForeignKey("operators.id"))
    assigned_by: Mapped[str] = mapped_column(String(100))
    assigned_at: Mapped[datetime]


class Consent(Base):
    """What a member authorized, when and through which entry; a withdrawal closes the row."""

    __tablename__ = "consents"
    __erasure__ = Erasure.delete(member=("member_id",))
    __table_args__ = (Index("ix_consents_member_purpose", "member_id", "purpose"),)

    id: Mapped[IdPK]
    workspace_id: Mapped[int] = mapped_column(BigId, ForeignKey("workspaces.id"))
    member_id: Mapped[int] = mapped_column(BigId, ForeignKey("members.id"))
    purpose: Mapped[ConsentPurpose] = mapped_column(_enum(ConsentPurpose))
    entry: Mapped[str] = mapped_column(String(100))
    actor: Mapped[str] = mapped_column(String(100))
    granted_at: Mapped[datetime]
    withdrawn_at: Mapped[datetime | None]
    withdrawn_via: Mapped[str | None] = mapped_column(String(100))


class ErasureRecord(Base):
    """Proof of an erasure: which rows of which tables, never the data that was in them."""

    __tablename__ = "erasure_records"
    __erasure__ = Erasure.keep(member=("member_id",), reason="the proof holds ids and counts only")

    id: Mapped[IdPK]
    workspace_id: Mapped[int] = mapped_column(BigId, ForeignKey("workspaces.id"), index=True)
    member_id: Mapped[int] = mapped_column(BigId, ForeignKey("members.id"), index=True)
    member_ids: Mapped[list[int]] = mapped_column(JSONType, default=list)
    requested_via: Mapped[str] = mapped_column(String(32))
    actor: Mapped[str] = mapped_column(String(100))
    request_id: Mapped[str | None] = mapped_column(String(64))
    # {table: {"action": "delete" | "anonymize", "rows": n}}
    tables: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    # Keyed hashes of the identifiers erased: the operator can later confirm "this openid was
    # erased" by hashing it again, and nobody can read an identifier out of them.
    identifier_hashes: Mapped[list[str]] = mapped_column(JSONType, default=list)
    digest: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime]
