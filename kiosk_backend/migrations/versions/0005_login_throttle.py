"""Console login throttle per (username, address) and per address (identity_login_throttle);
the per-account counter and lock of identity_staff go.

Revision ID: 0005_login_throttle
Revises: 0004_nonce
Create Date: 2026-12-02

"""
import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "0005_login_throttle"
down_revision = "0004_nonce"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "identity_login_throttle",
        sa.Column("username", sa.String(length=64), nullable=False),
        sa.Column("ip", sa.String(length=64), nullable=False),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("locked_until", sa.DateTime(), nullable=True),
        sa.Column("last_failure_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("username", "ip", name=op.f("pk_identity_login_throttle")),
    )
    with op.batch_alter_table("identity_login_throttle", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_identity_login_throttle_last_failure_at"), ["last_failure_at"],
                              unique=False)

    with op.batch_alter_table("identity_staff", schema=None) as batch_op:
        batch_op.drop_column("locked_until")
        batch_op.drop_column("failed_logins")


def downgrade():
    with op.batch_alter_table("identity_staff", schema=None) as batch_op:
        batch_op.add_column(sa.Column("failed_logins", sa.Integer(), nullable=False, server_default="0"))
        batch_op.add_column(sa.Column("locked_until", sa.DateTime(), nullable=True))

    with op.batch_alter_table("identity_login_throttle", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_identity_login_throttle_last_failure_at"))
    op.drop_table("identity_login_throttle")
