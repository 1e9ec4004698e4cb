"""identity: a merge keeps the survivor's own created_at, so that undoing it restores it

Revision ID: 0026
Revises: 0021
Create Date: 2026-12-07 09:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0026"
down_revision: str | None = "0021"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "member_merges",
        sa.Column("survivor_created_at", sa.DateTime(timezone=True), nullable=True),
    )


def downgrade() -> None:
    with op.batch_alter_table("member_merges") as batch:
        batch.drop_column("survivor_created_at")
