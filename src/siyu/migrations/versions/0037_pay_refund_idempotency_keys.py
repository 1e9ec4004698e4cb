"""pay: a staff refund remembers the Idempotency-Key it was asked with (one refund per key)

Revision ID: 0037
Revises: 0026
Create Date: 2026-12-07 12:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0037"
down_revision: str | None = "0031"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("pay_refunds", schema=None) as batch_op:
        batch_op.add_column(sa.Column("idempotency_key", sa.String(length=64), nullable=True))
        batch_op.create_unique_constraint(
            "uq_pay_refunds_order_id_idempotency_key", ["order_id", "idempotency_key"]
        )


def downgrade() -> None:
    with op.batch_alter_table("pay_refunds", schema=None) as batch_op:
        batch_op.drop_constraint("uq_pay_refunds_order_id_idempotency_key", type_="unique")
        batch_op.drop_column("idempotency_key")
