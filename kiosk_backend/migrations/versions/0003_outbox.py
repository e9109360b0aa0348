"""Transactional outbox (core_outbox): work for the outside world, committed with the change.

Revision ID: 0003_outbox
Revises: 8ceef7dc4db9
Create Date: 2026-11-24

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = "0003_outbox"
down_revision = "8ceef7dc4db9"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "core_outbox",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("topic", sa.String(length=64), nullable=False),
        sa.Column("key", sa.String(length=200), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(), nullable=False),
        sa.Column("lease_until", sa.DateTime(), nullable=True),
        sa.Column("last_error", sa.String(length=2000), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("done_at", sa.DateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_core_outbox")),
        sa.UniqueConstraint("topic", "key", name=op.f("uq_core_outbox_topic_key")),
    )
    with op.batch_alter_table("core_outbox", schema=None) as batch_op:
        batch_op.create_index("ix_core_outbox_state_next_attempt_at", ["state", "next_attempt_at"], unique=False)
        batch_op.create_index("ix_core_outbox_state_lease_until", ["state", "lease_until"], unique=False)


def downgrade():
    with op.batch_alter_table("core_outbox", schema=None) as batch_op:
        batch_op.drop_index("ix_core_outbox_state_lease_until")
        batch_op.drop_index("ix_core_outbox_state_next_attempt_at")
    op.drop_table("core_outbox")
