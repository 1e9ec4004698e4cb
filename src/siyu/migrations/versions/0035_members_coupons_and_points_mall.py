"""members: coupon templates, their stock buckets, coupons and redemptions; the points mall and fulfilment

Revision ID: 0035
Revises: 0026
Create Date: 2026-12-07 10:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0035"
down_revision: str | None = "0037"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _enum(name: str, *values: str) -> sa.Enum:
    return sa.Enum(*values, name=name, native_enum=False, length=32)


def _ts(name: str, *, nullable: bool = False) -> sa.Column[object]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "coupon_templates",
        sa.Column("id", BigId, autoincrement=True, nullable=False),
        sa.Column("workspace_id", BigId, nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("kind", _enum("couponkind", "amount_off", "percent_off", "gift"), nullable=False),
        sa.Column("threshold", sa.Integer(), nullable=False),
        sa.Column("amount_off", sa.Integer(), nullable=True),
        sa.Column("percent_off", sa.Integer(), nullable=True),
        sa.Column("cap", sa.Integer(), nullable=True),
        sa.Column("gift_name", sa.String(length=64), nullable=True),
        _ts("valid_from", nullable=True),
        _ts("valid_until", nullable=True),
        sa.Column("valid_days", sa.Integer(), nullable=True),
        sa.Column("stock", sa.Integer(), nullable=False),
        sa.Column("stock_buckets", sa.Integer(), nullable=False),
        sa.Column("per_member_limit", sa.Integer(), nullable=False),
        sa.Column("status", _enum("templatestatus", "active", "paused", "ended"), nullable=False),
        sa.Column("mp_claimable", sa.Boolean(), nullable=False),
        sa.Column("oa_keyword", sa.String(length=32), nullable=True),
        sa.Column("new_member_gift", sa.Boolean(), nullable=False),
        _ts("created_at"),
        _ts("updated_at"),
        sa.ForeignKeyConstraint(["workspace_id"], ["workspaces.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("workspace_id", "name"),
    )
    op.create_table(
        "coupon_stock_buckets",
        sa.Column("template_id", BigId, nullable=False),
        sa.Column("bucket", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("stock", sa.Integer(), nullable=False),
        sa.Column("issued", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["template_id"], ["coupon_templates.id"]),
        sa.PrimaryKeyConstraint("template_id", "bucket"),
    )
    op.create_table(
        "coupons",
        sa.Column("id", BigId, autoincrement=True, nullable=False),
        sa.Column("workspace_id", BigId, nullable=False),
        sa.Column("template_id", BigId, nullable=False),
        sa.Column("member_id", BigId, nullable=False),
        sa.Column("nth", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(length=24), nullable=False),
        sa.Column(
            "source",
            _enum("couponsource", "mp", "oa", "staff", "new_member", "mall"),
            nullable=False,
        ),
        sa.Column("source_key", sa.String(length=128), nullable=True),
        sa.Column("status", _enum("couponstatus", "available", "redeemed"), nullable=False),
        _ts("claimed_at"),
        _ts("valid_from"),
        _ts("valid_until"),
        _ts("redeemed_at", nullable=True),
        sa.ForeignKeyConstraint(["workspace_id"], ["workspaces.id"]),
        sa.ForeignKeyConstraint(["template_id"], ["coupon_templates.id"]),
        sa.ForeignKeyConstraint(["member_id"], ["members.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("template_id", "member_id", "nth"),
        sa.UniqueConstraint("code"),
        sa.UniqueConstraint("template_id", "source_key"),
    )
    op.create_index("ix_coupons_member", "coupons", ["member_id", "status"])
    op.create_table(
        "coupon_redemptions",
        sa.Column("id", BigId, autoincrement=True, nullable=False),
        sa.Column("workspace_id", BigId, nullable=False),
        sa.Column("coupon_id", BigId, nullable=False),
        sa.Column("template_id", BigId, nullable=False),
        sa.Column("member_id", BigId, nullable=False),
        sa.Column("order_id", sa.String(length=64), nullable=False),
        sa.Column("amount", sa.Integer(), nullable=False),
        sa.Column("discount", sa.Integer(), nullable=False),
        _ts("redeemed_at"),
        _ts("refunded_at", nullable=True),
        sa.Column("coupon_returned", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(["workspace_id"], ["workspaces.id"]),
        sa.ForeignKeyConstraint(["coupon_id"], ["coupons.id"]),
        sa.ForeignKeyConstraint(["template_id"], ["coupon_templates.id"]),
        sa.ForeignKeyConstraint(["member_id"], ["members.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("workspace_id", "order_id"),
    )
    op.create_index("ix_coupon_redemptions_coupon_id", "coupon_redemptions", ["coupon_id"])
    op.create_index("ix_coupon_redemptions_template_id", "coupon_redemptions", ["template_id"])
    op.create_table(
        "mall_items",
        sa.Column("id", BigId, autoincrement=True, nullable=False),
        sa.Column("workspace_id", BigId, nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("kind", _enum("mallitemkind", "coupon", "gift"), nullable=False),
        sa.Column("template_id", BigId, nullable=True),
        sa.Column("points_price", sa.Integer(), nullable=False),
        sa.Column("stock", sa.Integer(), nullable=False),
        sa.Column("exchanged", sa.Integer(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        _ts("created_at"),
        sa.ForeignKeyConstraint(["workspace_id"], ["workspaces.id"]),
        sa.ForeignKeyConstraint(["template_id"], ["coupon_templates.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("workspace_id", "name"),
    )
    op.create_table(
        "mall_exchanges",
        sa.Column("id", BigId, autoincrement=True, nullable=False),
        sa.Column("workspace_id", BigId, nullable=False),
        sa.Column("item_id", BigId, nullable=False),
        sa.Column("member_id", BigId, nullable=False),
        sa.Column("request_key", sa.String(length=64), nullable=False),
        sa.Column("points", sa.Integer(), nullable=False),
        sa.Column("coupon_id", BigId, nullable=True),
        _ts("created_at"),
        sa.ForeignKeyConstraint(["workspace_id"], ["workspaces.id"]),
        sa.ForeignKeyConstraint(["item_id"], ["mall_items.id"]),
        sa.ForeignKeyConstraint(["member_id"], ["members.id"]),
        sa.ForeignKeyConstraint(["coupon_id"], ["coupons.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("member_id", "request_key"),
    )
    op.create_index("ix_mall_exchanges_item_id", "mall_exchanges", ["item_id"])
    op.create_table(
        "mall_fulfilments",
        sa.Column("id", BigId, autoincrement=True, nullable=False),
        sa.Column("workspace_id", BigId, nullable=False),
        sa.Column("exchange_id", BigId, nullable=False),
        sa.Column("member_id", BigId, nullable=False),
        sa.Column("recipient", sa.Text(), nullable=True),
        sa.Column("phone", sa.Text(), nullable=True),
        sa.Column("address", sa.Text(), nullable=True),
        sa.Column("status", _enum("fulfilmentstatus", "pending", "shipped"), nullable=False),
        sa.Column("tracking", sa.String(length=64), nullable=True),
        _ts("created_at"),
        _ts("shipped_at", nullable=True),
        sa.ForeignKeyConstraint(["workspace_id"], ["workspaces.id"]),
        sa.ForeignKeyConstraint(["exchange_id"], ["mall_exchanges.id"]),
        sa.ForeignKeyConstraint(["member_id"], ["members.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("exchange_id"),
    )
    op.create_index("ix_mall_fulfilments_workspace_id", "mall_fulfilments", ["workspace_id"])


def downgrade() -> None:
    op.drop_index("ix_mall_fulfilments_workspace_id", table_name="mall_fulfilments")
    op.drop_table("mall_fulfilments")
    op.drop_index("ix_mall_exchanges_item_id", table_name="mall_exchanges")
    op.drop_table("mall_exchanges")
    op.drop_table("mall_items")
    op.drop_index("ix_coupon_redemptions_template_id", table_name="coupon_redemptions")
    op.drop_index("ix_coupon_redemptions_coupon_id", table_name="coupon_redemptions")
    op.drop_table("coupon_redemptions")
    op.drop_index("ix_coupons_member", table_name="coupons")
    op.drop_table("coupons")
    op.drop_table("coupon_stock_buckets")
    op.drop_table("coupon_templates")
