"""wechat border: push inbox, access tokens, mp sessions, previous aes key

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-23 05:24:27.215868
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "wechat_access_tokens",
        sa.Column("appid", sa.String(length=64), nullable=False),
        sa.Column("token", sa.Text(), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("refreshed_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("appid", name=op.f("pk_wechat_access_tokens")),
    )
    op.create_table(
        "mp_sessions",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("app_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column(
            "member_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("openid", sa.String(length=64), nullable=False),
        sa.Column("session_key", sa.Text(), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["app_id"], ["apps.id"], name=op.f("fk_mp_sessions_app_id_apps")),
        sa.ForeignKeyConstraint(
            ["member_id"], ["members.id"], name=op.f("fk_mp_sessions_member_id_members")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_mp_sessions")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_mp_sessions_token_hash")),
    )
    op.create_index(op.f("ix_mp_sessions_app_id"), "mp_sessions", ["app_id"], unique=False)
    op.create_index(op.f("ix_mp_sessions_member_id"), "mp_sessions", ["member_id"], unique=False)
    op.create_table(
        "wechat_pushes",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("app_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("dedupe_key", sa.String(length=200), nullable=False),
        sa.Column("msg_type", sa.String(length=32), nullable=False),
        sa.Column("event", sa.String(length=64), nullable=True),
        sa.Column("openid", sa.String(length=64), nullable=False),
        sa.Column("create_time", sa.DateTime(timezone=True), nullable=False),
        sa.Column("payload", sa.Text(), nullable=False),
        sa.Column("reply", sa.Text(), nullable=True),
        sa.Column("member_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column(
            "status",
            sa.Enum(
                "received", "processed", "failed", name="pushstatus", native_enum=False, length=32
            ),
            nullable=False,
        ),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("processed_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["app_id"], ["apps.id"], name=op.f("fk_wechat_pushes_app_id_apps")),
        sa.ForeignKeyConstraint(
            ["member_id"], ["members.id"], name=op.f("fk_wechat_pushes_member_id_members")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_wechat_pushes")),
        sa.UniqueConstraint(
            "app_id", "dedupe_key", name=op.f("uq_wechat_pushes_app_id_dedupe_key")
        ),
    )
    op.create_index(
        "ix_wechat_pushes_app_received", "wechat_pushes", ["app_id", "received_at"], unique=False
    )
    op.add_column("apps", sa.Column("previous_aes_key", sa.Text(), nullable=True))


def downgrade() -> None:
    op.drop_column("apps", "previous_aes_key")
    op.drop_index("ix_wechat_pushes_app_received", table_name="wechat_pushes")
    op.drop_table("wechat_pushes")
    op.drop_index(op.f("ix_mp_sessions_member_id"), table_name="mp_sessions")
    op.drop_index(op.f("ix_mp_sessions_app_id"), table_name="mp_sessions")
    op.drop_table("mp_sessions")
    op.drop_table("wechat_access_tokens")
