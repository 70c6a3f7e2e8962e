"""scheduler: jobs and job runs

Revision ID: c1f23fd99b28
Revises: 03ba778ea042
Create Date: 2026-11-22 07:32:24.426061+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import app.core.database  # noqa: F401, RUF100  (custom column types such as UtcDateTime)

revision: str = "c1f23fd99b28"
down_revision: str | Sequence[str] | None = "03ba778ea042"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "sys_job",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("target", sa.String(length=100), nullable=False),
        sa.Column("args", sa.Text(), nullable=False),
        sa.Column("trigger_type", sa.String(length=16), nullable=False),
        sa.Column("cron", sa.String(length=120), nullable=True),
        sa.Column("interval_seconds", sa.Integer(), nullable=True),
        sa.Column("run_at", app.core.database.UtcDateTime(timezone=True), nullable=True),
        sa.Column("start_at", app.core.database.UtcDateTime(timezone=True), nullable=False),
        sa.Column("timezone", sa.String(length=64), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("timeout_seconds", sa.Integer(), nullable=False),
        sa.Column("max_retries", sa.Integer(), nullable=False),
        sa.Column("retry_backoff_seconds", sa.Integer(), nullable=False),
        sa.Column("misfire_policy", sa.String(length=16), nullable=False),
        sa.Column("misfire_grace_seconds", sa.Integer(), nullable=False),
        sa.Column("next_run_at", app.core.database.UtcDateTime(timezone=True), nullable=True),
        sa.Column("last_fired_at", app.core.database.UtcDateTime(timezone=True), nullable=True),
        sa.Column("built_in", sa.Boolean(), nullable=False),
        sa.Column("remark", sa.String(length=500), nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("created_at", app.core.database.UtcDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", app.core.database.UtcDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sys_job")),
        sa.UniqueConstraint("name", name=op.f("uq_sys_job_name")),
        sqlite_autoincrement=True,
    )
    with op.batch_alter_table("sys_job", schema=None) as batch_op:
        batch_op.create_index(
            "ix_sys_job_status_next_run_at", ["status", "next_run_at"], unique=False
        )

    op.create_table(
        "sys_job_run",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("job_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("job_name", sa.String(length=100), nullable=False),
        sa.Column("target", sa.String(length=100), nullable=False),
        sa.Column("trigger", sa.String(length=16), nullable=False),
        sa.Column("scheduled_at", app.core.database.UtcDateTime(timezone=True), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("started_at", app.core.database.UtcDateTime(timezone=True), nullable=True),
        sa.Column("finished_at", app.core.database.UtcDateTime(timezone=True), nullable=True),
        sa.Column("duration_ms", sa.Integer(), nullable=True),
        sa.Column("heartbeat_at", app.core.database.UtcDateTime(timezone=True), nullable=True),
        sa.Column("result", sa.Text(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("host", sa.String(length=255), nullable=True),
        sa.Column("pid", sa.Integer(), nullable=True),
        sa.Column(
            "requested_by", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True
        ),
        sa.Column("created_at", app.core.database.UtcDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["job_id"],
            ["sys_job.id"],
            name=op.f("fk_sys_job_run_job_id_sys_job"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sys_job_run")),
        sa.UniqueConstraint(
            "job_id", "scheduled_at", name=op.f("uq_sys_job_run_job_id_scheduled_at")
        ),
        sqlite_autoincrement=True,
    )
    with op.batch_alter_table("sys_job_run", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_sys_job_run_created_at"), ["created_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_sys_job_run_job_id"), ["job_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_sys_job_run_status"), ["status"], unique=False)
        batch_op.create_index(
            "ix_sys_job_run_status_heartbeat_at", ["status", "heartbeat_at"], unique=False
        )


def downgrade() -> None:
    # Tables only: their indexes go with them (MySQL refuses to drop an index that backs a
    # foreign key while the table exists). Children before parents.
    op.drop_table("sys_job_run")
    op.drop_table("sys_job")
