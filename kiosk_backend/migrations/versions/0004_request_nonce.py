"""Nonces of signed server-to-server requests (core_request_nonce), unique per signing key.

Revision ID: 0004_nonce
Revises: 0003_outbox
Create Date: 2026-12-02

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = "0004_nonce"
down_revision = "0003_outbox"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "core_request_nonce",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("key_id", sa.String(length=64), nullable=False),
        sa.Column("nonce", sa.String(length=64), nullable=False),
        sa.Column("expires_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_core_request_nonce")),
        sa.UniqueConstraint("key_id", "nonce", name=op.f("uq_core_request_nonce_key_id_nonce")),
    )
    with op.batch_alter_table("core_request_nonce", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_core_request_nonce_expires_at"), ["expires_at"], unique=False)


def downgrade():
    with op.batch_alter_table("core_request_nonce", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_core_request_nonce_expires_at"))
    op.drop_table("core_request_nonce")
