"""security: roles, audit log, consents, assignments, erasure proofs, key rotations, lockout

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-23 07:23:09.077216
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")

# The audit log is append-only; on PostgreSQL the database itself refuses to rewrite it.
AUDIT_GUARD = """
CREATE OR REPLACE FUNCTION siyu_audit_log_append_only() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'audit_log is append-only';
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE ON audit_log
    FOR EACH ROW EXECUTE FUNCTION siyu_audit_log_append_only();
"""


def _id(name: str = "id") -> sa.Column:  # type: ignore[type-arg]
    return sa.Column(name, ID, autoincrement=True, nullable=False)


def _fk(table: str, column: str, target: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        [column], [f"{target}.id"], name=op.f(f"fk_{table}_{column}_{target}")
    )


def upgrade() -> None:
    op.create_table(
        "key_rotations",
        _id(),
        sa.Column("key_id", sa.String(length=32), nullable=False),
        sa.Column("cursors", JSON, nullable=False),
        sa.Column("done", JSON, nullable=False),
        sa.Column("rows_seen", sa.BigInteger(), nullable=False),
        sa.Column("rows_rewritten", sa.BigInteger(), nullable=False),
        sa.Column("started_by", sa.String(length=100), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_key_rotations")),
    )
    op.create_table(
        "login_failures",
        _id(),
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_login_failures")),
    )
    op.create_index("ix_login_failures_key_at", "login_failures", ["key", "at"], unique=False)
    op.create_table(
        "audit_log",
        _id(),
        sa.Column("workspace_id", ID, nullable=True),
        sa.Column("actor", sa.String(length=100), nullable=False),
        sa.Column("actor_role", sa.String(length=32), nullable=True),
        sa.Column("action", sa.String(length=64), nullable=False),
        sa.Column("target_type", sa.String(length=32), nullable=True),
        sa.Column("target_id", sa.String(length=64), nullable=True),
        sa.Column("request_id", sa.String(length=64), nullable=True),
        sa.Column("detail", JSON, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        _fk("audit_log", "workspace_id", "workspaces"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_log")),
    )
    op.create_index(
        "ix_audit_log_action_created", "audit_log", ["action", "created_at"], unique=False
    )
    op.create_index(
        "ix_audit_log_workspace_created", "audit_log", ["workspace_id", "created_at"], unique=False
    )
    if op.get_bind().dialect.name == "postgresql":
        op.execute(AUDIT_GUARD)
    op.create_table(
        "consents",
        _id(),
        sa.Column("workspace_id", ID, nullable=False),
        sa.Column("member_id", ID, nullable=False),
        sa.Column(
            "purpose",
            sa.Enum(
                "phone",
                "subscription",
                "marketing",
                name="consentpurpose",
                native_enum=False,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("entry", sa.String(length=100), nullable=False),
        sa.Column("actor", sa.String(length=100), nullable=False),
        sa.Column("granted_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("withdrawn_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("withdrawn_via", sa.String(length=100), nullable=True),
        _fk("consents", "member_id", "members"),
        _fk("consents", "workspace_id", "workspaces"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_consents")),
    )
    op.create_index(
        "ix_consents_member_purpose", "consents", ["member_id", "purpose"], unique=False
    )
    op.create_table(
        "erasure_records",
        _id(),
        sa.Column("workspace_id", ID, nullable=False),
        sa.Column("member_id", ID, nullable=False),
        sa.Column("member_ids", JSON, nullable=False),
        sa.Column("requested_via", sa.String(length=32), nullable=False),
        sa.Column("actor", sa.String(length=100), nullable=False),
        sa.Column("request_id", sa.String(length=64), nullable=True),
        sa.Column("tables", JSON, nullable=False),
        sa.Column("identifier_hashes", JSON, nullable=False),
        sa.Column("digest", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        _fk("erasure_records", "member_id", "members"),
        _fk("erasure_records", "workspace_id", "workspaces"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_erasure_records")),
    )
    op.create_index(
        op.f("ix_erasure_records_member_id"), "erasure_records", ["member_id"], unique=False
    )
    op.create_index(
        op.f("ix_erasure_records_workspace_id"), "erasure_records", ["workspace_id"], unique=False
    )
    op.create_table(
        "member_assignments",
        _id(),
        sa.Column("workspace_id", ID, nullable=False),
        sa.Column("member_id", ID, nullable=False),
        sa.Column("operator_id", ID, nullable=False),
        sa.Column("assigned_by", sa.String(length=100), nullable=False),
        sa.Column("assigned_at", sa.DateTime(timezone=True), nullable=False),
        _fk("member_assignments", "member_id", "members"),
        _fk("member_assignments", "operator_id", "operators"),
        _fk("member_assignments", "workspace_id", "workspaces"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_member_assignments")),
        sa.UniqueConstraint("member_id", name=op.f("uq_member_assignments_member_id")),
    )
    op.create_index(
        "ix_member_assignments_operator",
        "member_assignments",
        ["operator_id", "member_id"],
        unique=False,
    )
    op.add_column("members", sa.Column("erased_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("members") as batch_op:
        batch_op.drop_column("erased_at")
    op.drop_index("ix_member_assignments_operator", table_name="member_assignments")
    op.drop_table("member_assignments")
    op.drop_index(op.f("ix_erasure_records_workspace_id"), table_name="erasure_records")
    op.drop_index(op.f("ix_erasure_records_member_id"), table_name="erasure_records")
    op.drop_table("erasure_records")
    op.drop_index("ix_consents_member_purpose", table_name="consents")
    op.drop_table("consents")
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS audit_log_append_only ON audit_log")
        op.execute("DROP FUNCTION IF EXISTS siyu_audit_log_append_only()")
    op.drop_index("ix_audit_log_workspace_created", table_name="audit_log")
    op.drop_index("ix_audit_log_action_created", table_name="audit_log")
    op.drop_table("audit_log")
    op.drop_index("ix_login_failures_key_at", table_name="login_failures")
    op.drop_table("login_failures")
    op.drop_table("key_rotations")
