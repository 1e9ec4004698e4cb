"""audience: sales leads (线索) — scoring rules, scores, leads, follow-ups, claims, notices

Revision ID: 0033
Revises: 0030
Create Date: 2026-12-07 11:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0033"
down_revision: str | None = "0030"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
JSONType = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")


def upgrade() -> None:
    op.create_table(
        "audience_lead_rules",
        sa.Column("id", BigId, autoincrement=True, nullable=False),
        sa.Column("workspace_id", BigId, nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column(
            "kind",
            sa.Enum(
                "event", "condition", "silent", name="leadrulekind", native_enum=False, length=32
            ),
            nullable=False,
        ),
        sa.Column("points", sa.Integer(), nullable=False),
        sa.Column("event", sa.String(length=64), nullable=True),
        sa.Column("where", JSONType, nullable=False),
        sa.Column("condition", JSONType, nullable=True),
        sa.Column("days", sa.Integer(), nullable=True),
        sa.Column("half_life_days", sa.Integer(), nullable=True),
        sa.Column("max_points", sa.Integer(), nullable=True),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("created_by", sa.String(length=100), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["workspace_id"],
            ["workspaces.id"],
            name=op.f("fk_audience_lead_rules_workspace_id_workspaces"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audience_lead_rules")),
        sa.UniqueConstraint(
            "workspace_id", "name", name=op.f("uq_audience_lead_rules_workspace_id_name")
        ),
    )
    op.create_table(
        "audience_lead_scores",
        sa.Column("member_id", BigId, nullable=False),
        sa.Column("workspace_id", BigId, nullable=False),
        sa.Column("score", sa.Integer(), nullable=False),
        sa.Column("reasons", JSONType, nullable=False),
        sa.Column("scored_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["workspace_id"],
            ["workspaces.id"],
            name=op.f("fk_audience_lead_scores_workspace_id_workspaces"),
        ),
        sa.PrimaryKeyConstraint("member_id", name=op.f("pk_audience_lead_scores")),
    )
    with op.batch_alter_table("audience_lead_scores", schema=None) as batch_op:
        batch_op.create_index(
            "ix_audience_lead_scores_workspace_score", ["workspace_id", "score"], unique=False
        )

    op.create_table(
        "audience_lead_settings",
        sa.Column("workspace_id", BigId, nullable=False),
        sa.Column("threshold", sa.Integer(), nullable=False),
        sa.Column("daily_claim_cap", sa.Integer(), nullable=False),
        sa.Column("reclaim_days", sa.Integer(), nullable=False),
        sa.Column(
            "assignment",
            sa.Enum(
                "pool",
                "round_robin",
                "capacity",
                "segment",
                name="assignmentmode",
                native_enum=False,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("assignees", JSONType, nullable=False),
        sa.Column("capacity", sa.Integer(), nullable=False),
        sa.Column("segment_routes", JSONType, nullable=False),
        sa.Column("won_references", JSONType, nullable=False),
        sa.Column("won_min_amount", sa.Integer(), nullable=False),
        sa.Column("last_assignee_id", BigId, nullable=True),
        sa.Column("scores_stale", sa.Boolean(), nullable=False),
        sa.Column("scored_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("updated_by", sa.String(length=100), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["workspace_id"],
            ["workspaces.id"],
            name=op.f("fk_audience_lead_settings_workspace_id_workspaces"),
        ),
        sa.PrimaryKeyConstraint("workspace_id", name=op.f("pk_audience_lead_settings")),
    )
    op.create_table(
        "audience_lead_claims",
        sa.Column("operator_id", BigId, nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("workspace_id", BigId, nullable=False),
        sa.Column("claimed", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["operator_id"],
            ["operators.id"],
            name=op.f("fk_audience_lead_claims_operator_id_operators"),
        ),
        sa.ForeignKeyConstraint(
            ["workspace_id"],
            ["workspaces.id"],
            name=op.f("fk_audience_lead_claims_workspace_id_workspaces"),
        ),
        sa.PrimaryKeyConstraint("operator_id", "day", name=op.f("pk_audience_lead_claims")),
    )
    op.create_table(
        "audience_leads",
        sa.Column("id", BigId, autoincrement=True, nullable=False),
        sa.Column("workspace_id", BigId, nullable=False),
        sa.Column("member_id", BigId, nullable=False),
        sa.Column(
            "status",
            sa.Enum(
                "new",
                "contacted",
                "qualified",
                "won",
                "lost",
                name="leadstatus",
                native_enum=False,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("owner_id", BigId, nullable=True),
        sa.Column("score", sa.Integer(), nullable=False),
        sa.Column("reasons", JSONType, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("assigned_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("first_contact_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_follow_up_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("next_follow_up_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("reminded_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("warned_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("won_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("won_order_id", BigId, nullable=True),
        sa.Column("lost_reason", sa.Text(), nullable=True),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["member_id"], ["members.id"], name=op.f("fk_audience_leads_member_id_members")
        ),
        sa.ForeignKeyConstraint(
            ["owner_id"], ["operators.id"], name=op.f("fk_audience_leads_owner_id_operators")
        ),
        sa.ForeignKeyConstraint(
            ["workspace_id"],
            ["workspaces.id"],
            name=op.f("fk_audience_leads_workspace_id_workspaces"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audience_leads")),
        sa.UniqueConstraint(
            "workspace_id", "member_id", name=op.f("uq_audience_leads_workspace_id_member_id")
        ),
    )
    with op.batch_alter_table("audience_leads", schema=None) as batch_op:
        batch_op.create_index(
            "ix_audience_leads_owner", ["workspace_id", "owner_id", "status"], unique=False
        )

    op.create_table(
        "audience_lead_follow_ups",
        sa.Column("id", BigId, autoincrement=True, nullable=False),
        sa.Column("lead_id", BigId, nullable=False),
        sa.Column("member_id", BigId, nullable=False),
        sa.Column("operator_id", BigId, nullable=False),
        sa.Column(
            "channel",
            sa.Enum(
                "call", "wechat", "visit", name="followupchannel", native_enum=False, length=32
            ),
            nullable=False,
        ),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("next_follow_up_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["lead_id"],
            ["audience_leads.id"],
            name=op.f("fk_audience_lead_follow_ups_lead_id_audience_leads"),
        ),
        sa.ForeignKeyConstraint(
            ["operator_id"],
            ["operators.id"],
            name=op.f("fk_audience_lead_follow_ups_operator_id_operators"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audience_lead_follow_ups")),
    )
    with op.batch_alter_table("audience_lead_follow_ups", schema=None) as batch_op:
        batch_op.create_index("ix_audience_lead_follow_ups_lead", ["lead_id"], unique=False)

    op.create_table(
        "audience_lead_notices",
        sa.Column("id", BigId, autoincrement=True, nullable=False),
        sa.Column("workspace_id", BigId, nullable=False),
        sa.Column("operator_id", BigId, nullable=False),
        sa.Column("lead_id", BigId, nullable=False),
        sa.Column("member_id", BigId, nullable=False),
        sa.Column(
            "kind",
            sa.Enum(
                "assigned",
                "reminder",
                "reclaim_warning",
                "reclaimed",
                name="leadnoticekind",
                native_enum=False,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("due_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["lead_id"],
            ["audience_leads.id"],
            name=op.f("fk_audience_lead_notices_lead_id_audience_leads"),
        ),
        sa.ForeignKeyConstraint(
            ["operator_id"],
            ["operators.id"],
            name=op.f("fk_audience_lead_notices_operator_id_operators"),
        ),
        sa.ForeignKeyConstraint(
            ["workspace_id"],
            ["workspaces.id"],
            name=op.f("fk_audience_lead_notices_workspace_id_workspaces"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audience_lead_notices")),
        sa.UniqueConstraint(
            "lead_id", "kind", "due_at", name=op.f("uq_audience_lead_notices_lead_id_kind_due_at")
        ),
    )
    with op.batch_alter_table("audience_lead_notices", schema=None) as batch_op:
        batch_op.create_index(
            "ix_audience_lead_notices_operator", ["operator_id", "created_at"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("audience_lead_notices", schema=None) as batch_op:
        batch_op.drop_index("ix_audience_lead_notices_operator")

    op.drop_table("audience_lead_notices")
    with op.batch_alter_table("audience_lead_follow_ups", schema=None) as batch_op:
        batch_op.drop_index("ix_audience_lead_follow_ups_lead")

    op.drop_table("audience_lead_follow_ups")
    with op.batch_alter_table("audience_leads", schema=None) as batch_op:
        batch_op.drop_index("ix_audience_leads_owner")

    op.drop_table("audience_leads")
    op.drop_table("audience_lead_claims")
    op.drop_table("audience_lead_settings")
    with op.batch_alter_table("audience_lead_scores", schema=None) as batch_op:
        batch_op.drop_index("ix_audience_lead_scores_workspace_score")

    op.drop_table("audience_lead_scores")
    op.drop_table("audience_lead_rules")
