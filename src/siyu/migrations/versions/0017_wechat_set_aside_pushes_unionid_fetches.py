"""wechat: set-aside pushes keep their error; UnionID fetches due again

Revision ID: 0017
Revises: 0015
Create Date: 2026-12-08 10:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0017"
down_revision: str | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("wechat_pushes", schema=None) as batch_op:
        batch_op.add_column(sa.Column("error", sa.String(length=1000), nullable=True))
        batch_op.add_column(sa.Column("failed_at", sa.DateTime(timezone=True), nullable=True))
    op.create_table(
        "wechat_unionid_fetches",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("app_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("openid", sa.String(length=64), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.String(length=300), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("failed_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["app_id"], ["apps.id"], name=op.f("fk_wechat_unionid_fetches_app_id_apps")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_wechat_unionid_fetches")),
        sa.UniqueConstraint(
            "app_id", "openid", name=op.f("uq_wechat_unionid_fetches_app_id_openid")
        ),
    )
    op.create_index("ix_wechat_unionid_fetches_due", "wechat_unionid_fetches", ["next_attempt_at"])


def downgrade() -> None:
    op.drop_index("ix_wechat_unionid_fetches_due", table_name="wechat_unionid_fetches")
    op.drop_table("wechat_unionid_fetches")
    with op.batch_alter_table("wechat_pushes", schema=None) as batch_op:
        batch_op.drop_column("failed_at")
        batch_op.drop_column("error")
