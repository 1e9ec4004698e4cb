"""events without foreign keys; partial index of waiting pushes; member tags

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-23 07:55:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

EVENT_KEYS = [
    ("fk_events_workspace_id_workspaces", "workspace_id", "workspaces"),
    ("fk_events_member_id_members", "member_id", "members"),
    ("fk_events_origin_member_id_members", "origin_member_id", "members"),
    ("fk_events_app_id_apps", "app_id", "apps"),
]
WAITING = sa.text("status = 'received'")


def upgrade() -> None:
    op.create_table(
        "member_tags",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column(
            "workspace_id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            nullable=False,
        ),
        sa.Column(
            "member_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("tag", sa.String(length=64), nullable=False),
        sa.Column("created_by", sa.String(length=100), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["member_id"], ["members.id"], name=op.f("fk_member_tags_member_id_members")
        ),
        sa.ForeignKeyConstraint(
            ["workspace_id"], ["workspaces.id"], name=op.f("fk_member_tags_workspace_id_workspaces")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_member_tags")),
        sa.UniqueConstraint("member_id", "tag", name=op.f("uq_member_tags_member_id_tag")),
    )
    op.create_index(
        "ix_member_tags_workspace_tag", "member_tags", ["workspace_id", "tag"], unique=False
    )
    with op.batch_alter_table("events") as batch:
        for name, _column, _target in EVENT_KEYS:
            batch.drop_constraint(name, type_="foreignkey")
    op.create_index(
        "ix_wechat_pushes_waiting",
        "wechat_pushes",
        ["received_at"],
        postgresql_where=WAITING,
        sqlite_where=WAITING,
    )


def downgrade() -> None:
    op.drop_index("ix_member_tags_workspace_tag", table_name="member_tags")
    op.drop_table("member_tags")
    op.drop_index("ix_wechat_pushes_waiting", table_name="wechat_pushes")
    with op.batch_alter_table("events") as batch:
        for name, column, target in EVENT_KEYS:
            batch.create_foreign_key(name, target, [column], ["id"])
