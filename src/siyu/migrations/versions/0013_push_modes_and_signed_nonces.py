"""apps: push mode; wechat pushes: the signed timestamp and nonce, unique per app

Revision ID: 0013
Revises: 0011
Create Date: 2026-12-08 10:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0013"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("apps", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "push_mode",
                sa.Enum(
                    "plaintext",
                    "compatible",
                    "secure",
                    name="pushmode",
                    native_enum=False,
                    length=16,
                    create_constraint=False,
                ),
                server_default="plaintext",
                nullable=False,
            )
        )
    # Apps that already have an EncodingAESKey were set up for encrypted pushes: secure, as
    # WeChat recommends; an operator still in compatible mode says so (`siyu apps push-mode`).
    op.execute("UPDATE apps SET push_mode = 'secure' WHERE aes_key IS NOT NULL")
    with op.batch_alter_table("wechat_pushes", schema=None) as batch_op:
        batch_op.add_column(sa.Column("signed_at", sa.BigInteger(), nullable=True))
        batch_op.add_column(sa.Column("nonce", sa.String(length=64), nullable=True))
        batch_op.create_index(
            "ix_wechat_pushes_signed_nonce", ["app_id", "signed_at", "nonce"], unique=True
        )


def downgrade() -> None:
    with op.batch_alter_table("wechat_pushes", schema=None) as batch_op:
        batch_op.drop_index("ix_wechat_pushes_signed_nonce")
        batch_op.drop_column("nonce")
        batch_op.drop_column("signed_at")
    with op.batch_alter_table("apps", schema=None) as batch_op:
        batch_op.drop_column("push_mode")
