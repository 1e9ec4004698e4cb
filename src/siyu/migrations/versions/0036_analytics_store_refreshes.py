"""analytics: the members whose events the analytics store must copy again

Revision ID: 0036
Revises: 0026
Create Date: 2026-12-07 11:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0036"
down_revision: str | None = "0033"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_BIG = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "analytics_refreshes",
        sa.Column("id", _BIG, primary_key=True, autoincrement=True),
        sa.Column("workspace_id", _BIG, nullable=False),
        sa.Column("member_id", _BIG, nullable=False),
        sa.Column("erase", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index(
        "ix_analytics_refreshes_workspace", "analytics_refreshes", ["workspace_id", "id"]
    )


def downgrade() -> None:
    op.drop_index("ix_analytics_refreshes_workspace", table_name="analytics_refreshes")
    op.drop_table("analytics_refreshes")
