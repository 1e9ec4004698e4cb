"""pay: merchants, orders, refunds, notification log, reconciliations

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-23 07:26:35.825860
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "pay_merchants",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column(
            "workspace_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("mchid", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("apiv3_key", sa.Text(), nullable=False),
        sa.Column("private_key", sa.Text(), nullable=False),
        sa.Column("cert_serial_no", sa.String(length=64), nullable=False),
        sa.Column("platform_public_key", sa.Text(), nullable=False),
        sa.Column("platform_public_key_id", sa.String(length=64), nullable=False),
        sa.Column("notify_url", sa.String(length=255), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["workspace_id"],
            ["workspaces.id"],
            name=op.f("fk_pay_merchants_workspace_id_workspaces"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_pay_merchants")),
        sa.UniqueConstraint("mchid", name=op.f("uq_pay_merchants_mchid")),
    )
    op.create_index(
        op.f("ix_pay_merchants_workspace_id"), "pay_merchants", ["workspace_id"], unique=False
    )

    op.create_table(
        "pay_notification_log",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column(
            "merchant_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True
        ),
        sa.Column("mchid", sa.String(length=32), nullable=False),
        sa.Column("notification_id", sa.String(length=64), nullable=True),
        sa.Column("event_type", sa.String(length=64), nullable=True),
        sa.Column("code", sa.String(length=64), nullable=False),
        sa.Column("message", sa.String(length=255), nullable=False),
        sa.Column("out_trade_no", sa.String(length=64), nullable=True),
        sa.Column("status", sa.Integer(), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["merchant_id"],
            ["pay_merchants.id"],
            name=op.f("fk_pay_notification_log_merchant_id_pay_merchants"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_pay_notification_log")),
    )
    op.create_index(
        op.f("ix_pay_notification_log_received_at"),
        "pay_notification_log",
        ["received_at"],
        unique=False,
    )

    op.create_table(
        "pay_reconciliations",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column(
            "merchant_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("bill_date", sa.Date(), nullable=False),
        sa.Column("checked_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("payments", sa.Integer(), nullable=False),
        sa.Column("refunds", sa.Integer(), nullable=False),
        sa.Column(
            "differences",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["merchant_id"],
            ["pay_merchants.id"],
            name=op.f("fk_pay_reconciliations_merchant_id_pay_merchants"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_pay_reconciliations")),
        sa.UniqueConstraint(
            "merchant_id", "bill_date", name=op.f("uq_pay_reconciliations_merchant_id_bill_date")
        ),
    )
    op.create_table(
        "pay_orders",
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
            "merchant_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("app_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column(
            "member_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("openid", sa.String(length=64), nullable=False),
        sa.Column("out_trade_no", sa.String(length=32), nullable=False),
        sa.Column("reference", sa.String(length=64), nullable=False),
        sa.Column("attempt", sa.Integer(), nullable=False),
        sa.Column("description", sa.String(length=127), nullable=False),
        sa.Column("amount", sa.Integer(), nullable=False),
        sa.Column(
            "status",
            sa.Enum("pending", "paid", "closed", name="orderstatus", native_enum=False, length=32),
            nullable=False,
        ),
        sa.Column("prepay_id", sa.String(length=64), nullable=True),
        sa.Column("prepay_expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("time_expire", sa.DateTime(timezone=True), nullable=False),
        sa.Column("transaction_id", sa.String(length=32), nullable=True),
        sa.Column("paid_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("refunded", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["app_id"], ["apps.id"], name=op.f("fk_pay_orders_app_id_apps")),
        sa.ForeignKeyConstraint(
            ["member_id"], ["members.id"], name=op.f("fk_pay_orders_member_id_members")
        ),
        sa.ForeignKeyConstraint(
            ["merchant_id"],
            ["pay_merchants.id"],
            name=op.f("fk_pay_orders_merchant_id_pay_merchants"),
        ),
        sa.ForeignKeyConstraint(
            ["workspace_id"], ["workspaces.id"], name=op.f("fk_pay_orders_workspace_id_workspaces")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_pay_orders")),
        sa.UniqueConstraint(
            "merchant_id", "out_trade_no", name=op.f("uq_pay_orders_merchant_id_out_trade_no")
        ),
        sa.UniqueConstraint(
            "merchant_id",
            "reference",
            "attempt",
            name=op.f("uq_pay_orders_merchant_id_reference_attempt"),
        ),
        sa.UniqueConstraint("transaction_id", name=op.f("uq_pay_orders_transaction_id")),
    )
    op.create_index(op.f("ix_pay_orders_member_id"), "pay_orders", ["member_id"], unique=False)
    op.create_index(
        "ix_pay_orders_status_created", "pay_orders", ["status", "created_at"], unique=False
    )

    op.create_table(
        "pay_refunds",
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
            "merchant_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("order_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("out_refund_no", sa.String(length=64), nullable=False),
        sa.Column("amount", sa.Integer(), nullable=False),
        sa.Column("reason", sa.String(length=80), nullable=False),
        sa.Column(
            "status",
            sa.Enum(
                "pending",
                "processing",
                "succeeded",
                "abnormal",
                "closed",
                "failed",
                name="refundstatus",
                native_enum=False,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("refund_id", sa.String(length=64), nullable=True),
        sa.Column(
            "operator_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True
        ),
        sa.Column("requested_by", sa.String(length=64), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.String(length=255), nullable=True),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("succeeded_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["merchant_id"],
            ["pay_merchants.id"],
            name=op.f("fk_pay_refunds_merchant_id_pay_merchants"),
        ),
        sa.ForeignKeyConstraint(
            ["operator_id"], ["operators.id"], name=op.f("fk_pay_refunds_operator_id_operators")
        ),
        sa.ForeignKeyConstraint(
            ["order_id"], ["pay_orders.id"], name=op.f("fk_pay_refunds_order_id_pay_orders")
        ),
        sa.ForeignKeyConstraint(
            ["workspace_id"], ["workspaces.id"], name=op.f("fk_pay_refunds_workspace_id_workspaces")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_pay_refunds")),
        sa.UniqueConstraint(
            "merchant_id", "out_refund_no", name=op.f("uq_pay_refunds_merchant_id_out_refund_no")
        ),
    )
    op.create_index(op.f("ix_pay_refunds_order_id"), "pay_refunds", ["order_id"], unique=False)
    op.create_index(
        "ix_pay_refunds_status_next", "pay_refunds", ["status", "next_attempt_at"], unique=False
    )


def downgrade() -> None:
    op.drop_index("ix_pay_refunds_status_next", table_name="pay_refunds")
    op.drop_index(op.f("ix_pay_refunds_order_id"), table_name="pay_refunds")

    op.drop_table("pay_refunds")
    op.drop_index("ix_pay_orders_status_created", table_name="pay_orders")
    op.drop_index(op.f("ix_pay_orders_member_id"), table_name="pay_orders")

    op.drop_table("pay_orders")
    op.drop_table("pay_reconciliations")
    op.drop_index(op.f("ix_pay_notification_log_received_at"), table_name="pay_notification_log")

    op.drop_table("pay_notification_log")
    op.drop_index(op.f("ix_pay_merchants_workspace_id"), table_name="pay_merchants")

    op.drop_table("pay_merchants")
