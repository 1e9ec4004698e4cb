"""audience: lifecycle tiers (policy, current tier, moves, daily counts) and RFM scores

Revision ID: 0031
Revises: 0026
Create Date: 2026-12-07 10:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0031"
down_revision: str | None = "0034"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
TIERS = ("new", "active", "dormant", "churned", "returning")
CELLS = (
    "important_value",
    "important_recall",
    "important_develop",
    "important_retain",
    "potential",
    "newcomer",
    "maintain",
    "lost",
)


def _tier(name: str = "tier") -> sa.Enum:
    return sa.Enum(*TIERS, name=name, native_enum=False, length=32)


def upgrade() -> None:
    op.create_table(
        "audience_tier_policies",
        sa.Column("id", BigId, autoincrement=True, nullable=False),
        sa.Column("workspace_id", BigId, nullable=False),
        sa.Column(
            "rules",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["workspace_id"], ["workspaces.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("workspace_id"),
    )
    op.create_table(
        "member_tiers",
        sa.Column("member_id", BigId, nullable=False),
        sa.Column("workspace_id", BigId, nullable=False),
        sa.Column("tier", _tier(), nullable=False),
        sa.Column("since", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("member_id"),
    )
    op.create_index("ix_member_tiers_workspace_tier", "member_tiers", ["workspace_id", "tier"])
    op.create_table(
        "member_tier_changes",
        sa.Column("id", BigId, autoincrement=True, nullable=False),
        sa.Column("workspace_id", BigId, nullable=False),
        sa.Column("member_id", BigId, nullable=False),
        sa.Column("from_tier", _tier(), nullable=True),
        sa.Column("to_tier", _tier(), nullable=False),
        sa.Column(
            "cause",
            sa.Enum("daily", "event", name="tiercause", native_enum=False, length=32),
            nullable=False,
        ),
        sa.Column("changed_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(
        "ix_member_tier_changes_workspace_at", "member_tier_changes", ["workspace_id", "changed_at"]
    )
    op.create_index(
        "ix_member_tier_changes_member_at", "member_tier_changes", ["member_id", "changed_at"]
    )
    op.create_table(
        "audience_tier_counts",
        sa.Column("workspace_id", BigId, nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("tier", _tier(), nullable=False),
        sa.Column("members", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["workspace_id"], ["workspaces.id"]),
        sa.PrimaryKeyConstraint("workspace_id", "day", "tier"),
    )
    op.create_table(
        "member_rfm",
        sa.Column("member_id", BigId, nullable=False),
        sa.Column("workspace_id", BigId, nullable=False),
        sa.Column("last_paid_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("frequency", sa.Integer(), nullable=False),
        sa.Column("monetary", sa.BigInteger(), nullable=False),
        sa.Column("r", sa.SmallInteger(), nullable=False),
        sa.Column("f", sa.SmallInteger(), nullable=False),
        sa.Column("m", sa.SmallInteger(), nullable=False),
        sa.Column(
            "cell", sa.Enum(*CELLS, name="rfmcell", native_enum=False, length=32), nullable=False
        ),
        sa.Column("computed_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("member_id"),
    )
    op.create_index("ix_member_rfm_workspace_cell", "member_rfm", ["workspace_id", "cell"])


def downgrade() -> None:
    op.drop_index("ix_member_rfm_workspace_cell", table_name="member_rfm")
    op.drop_table("member_rfm")
    op.drop_table("audience_tier_counts")
    op.drop_index("ix_member_tier_changes_member_at", table_name="member_tier_changes")
    op.drop_index("ix_member_tier_changes_workspace_at", table_name="member_tier_changes")
    op.drop_table("member_tier_changes")
    op.drop_index("ix_member_tiers_workspace_tier", table_name="member_tiers")
    op.drop_table("member_tiers")
    op.drop_table("audience_tier_policies")
