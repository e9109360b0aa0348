"""Residents (identity_resident), the sessions of residents and of staff at a kiosk
(identity_resident_session) and QR login challenges (identity_login_challenge).

Revision ID: 0006_qr_login
Revises: 0005_login_throttle
Create Date: 2026-12-02

"""
import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "0006_qr_login"
down_revision = "0005_login_throttle"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table("identity_resident",
    sa.Column("id", sa.Integer(), nullable=False),
    sa.Column("provider", sa.String(length=16), nullable=False),
    sa.Column("subject", sa.String(length=255), nullable=False),
    sa.Column("name", sa.String(length=100), nullable=False),
    sa.Column("id_number_hash", sa.String(length=64), nullable=True),
    sa.Column("id_number_masked", sa.String(length=32), nullable=True),
    sa.Column("phone_encrypted", sa.String(length=255), nullable=True),
    sa.Column("phone_hash", sa.String(length=64), nullable=True),
    sa.Column("phone_masked", sa.String(length=16), nullable=True),
    sa.Column("last_login_at", sa.DateTime(), nullable=True),
    sa.Column("created_at", sa.DateTime(), nullable=False),
    sa.Column("updated_at", sa.DateTime(), nullable=False),
    sa.PrimaryKeyConstraint("id", name=op.f("pk_identity_resident")),
    sa.UniqueConstraint("provider", "subject", name=op.f("uq_identity_resident_provider_subject"))
    )
    with op.batch_alter_table("identity_resident", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_identity_resident_id_number_hash"), ["id_number_hash"], unique=False)
        batch_op.create_index(batch_op.f("ix_identity_resident_phone_hash"), ["phone_hash"], unique=False)

    op.create_table("identity_resident_session",
    sa.Column("id", sa.Integer(), nullable=False),
    sa.Column("token_hash", sa.String(length=64), nullable=False),
    sa.Column("channel", sa.String(length=8), nullable=False),
    sa.Column("resident_id", sa.Integer(), nullable=True),
    sa.Column("staff_id", sa.Integer(), nullable=True),
    sa.Column("kiosk_id", sa.Integer(), nullable=True),
    sa.Column("created_at", sa.DateTime(), nullable=False),
    sa.Column("last_seen_at", sa.DateTime(), nullable=False),
    sa.Column("idle_seconds", sa.Integer(), nullable=False),
    sa.Column("expires_at", sa.DateTime(), nullable=False),
    sa.Column("ended_at", sa.DateTime(), nullable=True),
    sa.Column("end_reason", sa.String(length=16), nullable=True),
    sa.Column("ip", sa.String(length=64), nullable=True),
    sa.ForeignKeyConstraint(["kiosk_id"], ["fleet_kiosk.id"], name=op.f("fk_identity_resident_session_kiosk_id_fleet_kiosk"), ondelete="CASCADE"),
    sa.ForeignKeyConstraint(["resident_id"], ["identity_resident.id"], name=op.f("fk_identity_resident_session_resident_id_identity_resident"), ondelete="CASCADE"),
    sa.ForeignKeyConstraint(["staff_id"], ["identity_staff.id"], name=op.f("fk_identity_resident_session_staff_id_identity_staff"), ondelete="CASCADE"),
    sa.PrimaryKeyConstraint("id", name=op.f("pk_identity_resident_session")),
    sa.UniqueConstraint("token_hash", name=op.f("uq_identity_resident_session_token_hash"))
    )
    with op.batch_alter_table("identity_resident_session", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_identity_resident_session_created_at"), ["created_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_identity_resident_session_kiosk_id"), ["kiosk_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_identity_resident_session_resident_id"), ["resident_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_identity_resident_session_staff_id"), ["staff_id"], unique=False)

    op.create_table("identity_login_challenge",
    sa.Column("id", sa.Integer(), nullable=False),
    sa.Column("token_hash", sa.String(length=64), nullable=False),
    sa.Column("kiosk_id", sa.Integer(), nullable=False),
    sa.Column("match_code", sa.String(length=8), nullable=False),
    sa.Column("state", sa.String(length=16), nullable=False),
    sa.Column("version", sa.Integer(), nullable=False),
    sa.Column("created_at", sa.DateTime(), nullable=False),
    sa.Column("expires_at", sa.DateTime(), nullable=False),
    sa.Column("scanned_at", sa.DateTime(), nullable=True),
    sa.Column("decided_at", sa.DateTime(), nullable=True),
    sa.Column("consumed_at", sa.DateTime(), nullable=True),
    sa.Column("resident_id", sa.Integer(), nullable=True),
    sa.Column("session_id", sa.Integer(), nullable=True),
    sa.Column("flagged", sa.Boolean(), nullable=False),
    sa.Column("scan_ip", sa.String(length=64), nullable=True),
    sa.Column("decision_ip", sa.String(length=64), nullable=True),
    sa.ForeignKeyConstraint(["kiosk_id"], ["fleet_kiosk.id"], name=op.f("fk_identity_login_challenge_kiosk_id_fleet_kiosk"), ondelete="CASCADE"),
    sa.ForeignKeyConstraint(["resident_id"], ["identity_resident.id"], name=op.f("fk_identity_login_challenge_resident_id_identity_resident"), ondelete="SET NULL"),
    sa.ForeignKeyConstraint(["session_id"], ["identity_resident_session.id"], name=op.f("fk_identity_login_challenge_session_id_identity_resident_session"), ondelete="SET NULL"),
    sa.PrimaryKeyConstraint("id", name=op.f("pk_identity_login_challenge")),
    sa.UniqueConstraint("token_hash", name=op.f("uq_identity_login_challenge_token_hash"))
    )
    with op.batch_alter_table("identity_login_challenge", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_identity_login_challenge_created_at"), ["created_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_identity_login_challenge_flagged"), ["flagged"], unique=False)
        batch_op.create_index(batch_op.f("ix_identity_login_challenge_kiosk_id"), ["kiosk_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_identity_login_challenge_resident_id"), ["resident_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_identity_login_challenge_state"), ["state"], unique=False)



def downgrade():
    with op.batch_alter_table("identity_login_challenge", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_identity_login_challenge_state"))
        batch_op.drop_index(batch_op.f("ix_identity_login_challenge_resident_id"))
        batch_op.drop_index(batch_op.f("ix_identity_login_challenge_kiosk_id"))
        batch_op.drop_index(batch_op.f("ix_identity_login_challenge_flagged"))
        batch_op.drop_index(batch_op.f("ix_identity_login_challenge_created_at"))

    op.drop_table("identity_login_challenge")
    with op.batch_alter_table("identity_resident_session", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_identity_resident_session_staff_id"))
        batch_op.drop_index(batch_op.f("ix_identity_resident_session_resident_id"))
        batch_op.drop_index(batch_op.f("ix_identity_resident_session_kiosk_id"))
        batch_op.drop_index(batch_op.f("ix_identity_resident_session_created_at"))

    op.drop_table("identity_resident_session")
    with op.batch_alter_table("identity_resident", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_identity_resident_phone_hash"))
        batch_op.drop_index(batch_op.f("ix_identity_resident_id_number_hash"))

    op.drop_table("identity_resident")
