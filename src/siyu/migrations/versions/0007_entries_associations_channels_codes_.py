"""entries associations channels codes arrivals menus

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-23 08:19:32.401494
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "entry_arrivals",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column(
            "workspace_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column(
            "channel_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("code_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("app_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column(
            "member_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column(
            "kind",
            sa.Enum(
                "subscribe", "scan", "launch", name="arrivalkind", native_enum=False, length=32
            ),
            nullable=False,
        ),
        sa.Column("source_key", sa.String(length=96), nullable=False),
        sa.Column("new_follower", sa.Boolean(), nullable=False),
        sa.Column("new_member", sa.Boolean(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("unfollowed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("unfollowed_within_7d", sa.Boolean(), nullable=False),
        sa.Column("first_in_channel", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_entry_arrivals")),
        sa.UniqueConstraint(
            "workspace_id", "source_key", name=op.f("uq_entry_arrivals_workspace_id_source_key")
        ),
    )
    with op.batch_alter_table("entry_arrivals", schema=None) as batch_op:
        batch_op.create_index("ix_entry_arrivals_member", ["member_id", "app_id"], unique=False)
        batch_op.create_index(
            "ix_entry_arrivals_workspace_at", ["workspace_id", "at"], unique=False
        )
        batch_op.create_index(
            "uq_entry_arrivals_first",
            ["channel_id", "member_id"],
            unique=True,
            postgresql_where=sa.text("first_in_channel"),
            sqlite_where=sa.text("first_in_channel"),
        )

    op.create_table(
        "entry_touches",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column(
            "workspace_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column(
            "member_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column(
            "first_channel_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("first_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column(
            "last_channel_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("last_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_entry_touches")),
        sa.UniqueConstraint(
            "workspace_id", "member_id", name=op.f("uq_entry_touches_workspace_id_member_id")
        ),
    )
    op.create_table(
        "entry_channels",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column(
            "workspace_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("slug", sa.String(length=32), nullable=False),
        sa.Column("group_name", sa.String(length=64), nullable=False),
        sa.Column(
            "tags",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("welcome", sa.Text(), nullable=False),
        sa.Column("target_page", sa.String(length=256), nullable=False),
        sa.Column(
            "status",
            sa.Enum("active", "archived", name="channelstatus", native_enum=False, length=32),
            nullable=False,
        ),
        sa.Column("created_by", sa.String(length=100), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("archived_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["workspace_id"],
            ["workspaces.id"],
            name=op.f("fk_entry_channels_workspace_id_workspaces"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_entry_channels")),
        sa.UniqueConstraint(
            "workspace_id", "slug", name=op.f("uq_entry_channels_workspace_id_slug")
        ),
    )
    op.create_table(
        "entry_associations",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column(
            "workspace_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column(
            "oa_app_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column(
            "mp_app_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column(
            "status",
            sa.Enum(
                "pending", "linked", "refused", name="linkstatus", native_enum=False, length=32
            ),
            nullable=False,
        ),
        sa.Column("same_entity", sa.Boolean(), nullable=False),
        sa.Column("followers_notified", sa.Boolean(), nullable=False),
        sa.Column("created_by", sa.String(length=100), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["mp_app_id"], ["apps.id"], name=op.f("fk_entry_associations_mp_app_id_apps")
        ),
        sa.ForeignKeyConstraint(
            ["oa_app_id"], ["apps.id"], name=op.f("fk_entry_associations_oa_app_id_apps")
        ),
        sa.ForeignKeyConstraint(
            ["workspace_id"],
            ["workspaces.id"],
            name=op.f("fk_entry_associations_workspace_id_workspaces"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_entry_associations")),
        sa.UniqueConstraint(
            "oa_app_id", "mp_app_id", name=op.f("uq_entry_associations_oa_app_id_mp_app_id")
        ),
    )
    with op.batch_alter_table("entry_associations", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_entry_associations_mp_app_id"), ["mp_app_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_entry_associations_workspace_id"), ["workspace_id"], unique=False
        )

    op.create_table(
        "entry_codes",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column(
            "workspace_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column(
            "channel_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("app_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column(
            "kind",
            sa.Enum(
                "oa_qr_temp",
                "oa_qr_permanent",
                "mp_code",
                "url_link",
                name="codekind",
                native_enum=False,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("scene", sa.String(length=64), nullable=False),
        sa.Column("ticket", sa.String(length=256), nullable=True),
        sa.Column("url", sa.String(length=1024), nullable=True),
        sa.Column("image", sa.LargeBinary(), nullable=True),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["app_id"], ["apps.id"], name=op.f("fk_entry_codes_app_id_apps")),
        sa.ForeignKeyConstraint(
            ["channel_id"],
            ["entry_channels.id"],
            name=op.f("fk_entry_codes_channel_id_entry_channels"),
        ),
        sa.ForeignKeyConstraint(
            ["workspace_id"], ["workspaces.id"], name=op.f("fk_entry_codes_workspace_id_workspaces")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_entry_codes")),
    )
    with op.batch_alter_table("entry_codes", schema=None) as batch_op:
        batch_op.create_index("ix_entry_codes_app_scene", ["app_id", "scene"], unique=False)
        batch_op.create_index("ix_entry_codes_channel", ["channel_id"], unique=False)

    op.create_table(
        "entry_menus",
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
        sa.Column("version", sa.Integer(), nullable=False),
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
        sa.ForeignKeyConstraint(["app_id"], ["apps.id"], name=op.f("fk_entry_menus_app_id_apps")),
        sa.ForeignKeyConstraint(
            ["workspace_id"], ["workspaces.id"], name=op.f("fk_entry_menus_workspace_id_workspaces")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_entry_menus")),
        sa.UniqueConstraint("app_id", "version", name=op.f("uq_entry_menus_app_id_version")),
    )


def downgrade() -> None:
    op.drop_table("entry_menus")
    with op.batch_alter_table("entry_codes", schema=None) as batch_op:
        batch_op.drop_index("ix_entry_codes_channel")
        batch_op.drop_index("ix_entry_codes_app_scene")

    op.drop_table("entry_codes")
    with op.batch_alter_table("entry_associations", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_entry_associations_workspace_id"))
        batch_op.drop_index(batch_op.f("ix_entry_associations_mp_app_id"))

    op.drop_table("entry_associations")
    op.drop_table("entry_channels")
    op.drop_table("entry_touches")
    with op.batch_alter_table("entry_arrivals", schema=None) as batch_op:
        batch_op.drop_index("uq_entry_arrivals_first")
        batch_op.drop_index("ix_entry_arrivals_workspace_at")
        batch_op.drop_index("ix_entry_arrivals_member")

    op.drop_table("entry_arrivals")
