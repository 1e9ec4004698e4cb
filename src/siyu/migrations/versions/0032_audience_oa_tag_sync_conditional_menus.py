"""audience: OA tags kept equal to siyu tags (and the last-synced set); entries: conditional menus

Revision ID: 0032
Revises: 0026
Create Date: 2026-12-07 10:18:55.792505
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0032"
down_revision: str | None = "0035"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:

    op.create_table(
        "audience_oa_tag_syncs",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column(
            "workspace_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("app_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column(
            "source_kind",
            sa.Enum("tag", name="oatagsource", native_enum=False, length=32),
            nullable=False,
        ),
        sa.Column("source", sa.String(length=100), nullable=False),
        sa.Column("oa_tag_name", sa.String(length=64), nullable=False),
        sa.Column("oa_tag_id", sa.Integer(), nullable=True),
        sa.Column(
            "status",
            sa.Enum(
                "idle",
                "running",
                "done",
                "failed",
                name="oatagsyncstatus",
                native_enum=False,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("run_token", sa.String(length=32), nullable=False),
        sa.Column(
            "report",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_by", sa.String(length=100), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["app_id"], ["apps.id"], name=op.f("fk_audience_oa_tag_syncs_app_id_apps")
        ),
        sa.ForeignKeyConstraint(
            ["workspace_id"],
            ["workspaces.id"],
            name=op.f("fk_audience_oa_tag_syncs_workspace_id_workspaces"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audience_oa_tag_syncs")),
        sa.UniqueConstraint(
            "app_id", "oa_tag_name", name=op.f("uq_audience_oa_tag_syncs_app_id_oa_tag_name")
        ),
        sa.UniqueConstraint(
            "app_id",
            "source_kind",
            "source",
            name=op.f("uq_audience_oa_tag_syncs_app_id_source_kind_source"),
        ),
    )
    with op.batch_alter_table("audience_oa_tag_syncs", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_audience_oa_tag_syncs_workspace_id"), ["workspace_id"], unique=False
        )

    op.create_table(
        "entry_conditional_menus",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column(
            "workspace_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("app_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("oa_tag_id", sa.Integer(), nullable=False),
        sa.Column("oa_tag_name", sa.String(length=64), nullable=False),
        sa.Column(
            "buttons",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column(
            "published",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("menuid", sa.String(length=32), nullable=True),
        sa.Column(
            "status",
            sa.Enum(
                "draft", "published", "failed", name="menustatus", native_enum=False, length=32
            ),
            nullable=False,
        ),
        sa.Column("error", sa.String(length=500), nullable=True),
        sa.Column("created_by", sa.String(length=100), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("published_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("deleted_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["app_id"], ["apps.id"], name=op.f("fk_entry_conditional_menus_app_id_apps")
        ),
        sa.ForeignKeyConstraint(
            ["workspace_id"],
            ["workspaces.id"],
            name=op.f("fk_entry_conditional_menus_workspace_id_workspaces"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_entry_conditional_menus")),
    )
    with op.batch_alter_table("entry_conditional_menus", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_entry_conditional_menus_app_id"), ["app_id"], unique=False
        )

    op.create_table(
        "audience_oa_tag_members",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("sync_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column(
            "member_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("openid", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(
            ["member_id"], ["members.id"], name=op.f("fk_audience_oa_tag_members_member_id_members")
        ),
        sa.ForeignKeyConstraint(
            ["sync_id"],
            ["audience_oa_tag_syncs.id"],
            name=op.f("fk_audience_oa_tag_members_sync_id_audience_oa_tag_syncs"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audience_oa_tag_members")),
        sa.UniqueConstraint(
            "sync_id", "member_id", name=op.f("uq_audience_oa_tag_members_sync_id_member_id")
        ),
    )
    with op.batch_alter_table("audience_oa_tag_members", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_audience_oa_tag_members_member_id"), ["member_id"], unique=False
        )


def downgrade() -> None:

    with op.batch_alter_table("audience_oa_tag_members", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_audience_oa_tag_members_member_id"))

    op.drop_table("audience_oa_tag_members")
    with op.batch_alter_table("entry_conditional_menus", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_entry_conditional_menus_app_id"))

    op.drop_table("entry_conditional_menus")
    with op.batch_alter_table("audience_oa_tag_syncs", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_audience_oa_tag_syncs_workspace_id"))

    op.drop_table("audience_oa_tag_syncs")
