"""Applications (办件) with their timeline, refused department events and SMS notices
(applications_*), department clients (applications_department_client), and the years of
the working-day calendar that admins edit (core_calendar_year).

Revision ID: 0007_applications
Revises: 0006_qr_login
Create Date: 2026-12-02

"""
import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "0007_applications"
down_revision = "0006_qr_login"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table("applications_department_client",
    sa.Column("id", sa.Integer(), nullable=False),
    sa.Column("key_id", sa.String(length=64), nullable=False),
    sa.Column("name", sa.String(length=200), nullable=False),
    sa.Column("region_code", sa.String(length=6), nullable=True),
    sa.Column("secret_encrypted", sa.String(length=255), nullable=False),
    sa.Column("previous_secret_encrypted", sa.String(length=255), nullable=True),
    sa.Column("previous_valid_until", sa.DateTime(), nullable=True),
    sa.Column("rotated_at", sa.DateTime(), nullable=True),
    sa.Column("active", sa.Boolean(), nullable=False),
    sa.Column("disabled_at", sa.DateTime(), nullable=True),
    sa.Column("last_seen_at", sa.DateTime(), nullable=True),
    sa.Column("created_by", sa.String(length=100), nullable=True),
    sa.Column("created_at", sa.DateTime(), nullable=False),
    sa.Column("updated_at", sa.DateTime(), nullable=False),
    sa.PrimaryKeyConstraint("id", name=op.f("pk_applications_department_client")),
    sa.UniqueConstraint("key_id", name=op.f("uq_applications_department_client_key_id"))
    )
    op.create_table("core_calendar_year",
    sa.Column("year", sa.Integer(), autoincrement=False, nullable=False),
    sa.Column("data", sa.JSON(), nullable=False),
    sa.Column("revision", sa.String(length=32), nullable=False),
    sa.Column("updated_at", sa.DateTime(), nullable=False),
    sa.Column("updated_by", sa.String(length=100), nullable=False),
    sa.PrimaryKeyConstraint("year", name=op.f("pk_core_calendar_year"))
    )
    op.create_table("applications_refused_event",
    sa.Column("id", sa.Integer(), nullable=False),
    sa.Column("client_id", sa.Integer(), nullable=True),
    sa.Column("event_id", sa.String(length=64), nullable=True),
    sa.Column("number", sa.String(length=40), nullable=True),
    sa.Column("action", sa.String(length=24), nullable=True),
    sa.Column("reason", sa.String(length=32), nullable=False),
    sa.Column("message", sa.String(length=500), nullable=False),
    sa.Column("payload", sa.JSON(), nullable=False),
    sa.Column("received_at", sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(["client_id"], ["applications_department_client.id"], name=op.f("fk_applications_refused_event_client_id_applications_department_client"), ondelete="CASCADE"),
    sa.PrimaryKeyConstraint("id", name=op.f("pk_applications_refused_event"))
    )
    with op.batch_alter_table("applications_refused_event", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_applications_refused_event_client_id"), ["client_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_applications_refused_event_number"), ["number"], unique=False)
        batch_op.create_index(batch_op.f("ix_applications_refused_event_received_at"), ["received_at"], unique=False)

    op.create_table("applications_application",
    sa.Column("id", sa.Integer(), nullable=False),
    sa.Column("number", sa.String(length=40), nullable=False),
    sa.Column("item_id", sa.Integer(), nullable=True),
    sa.Column("task_code", sa.String(length=64), nullable=False),
    sa.Column("item_name", sa.String(length=200), nullable=False),
    sa.Column("mode", sa.String(length=8), nullable=False),
    sa.Column("applicant_name_masked", sa.String(length=100), nullable=False),
    sa.Column("applicant_id_hash", sa.String(length=64), nullable=True),
    sa.Column("applicant_id_masked", sa.String(length=32), nullable=True),
    sa.Column("applicant_phone_encrypted", sa.String(length=255), nullable=True),
    sa.Column("applicant_phone_masked", sa.String(length=16), nullable=True),
    sa.Column("id_tail_digest", sa.String(length=64), nullable=True),
    sa.Column("phone_tail_digest", sa.String(length=64), nullable=True),
    sa.Column("receiving_org", sa.String(length=200), nullable=False),
    sa.Column("receiving_region", sa.String(length=6), nullable=False),
    sa.Column("handling_org", sa.String(length=200), nullable=False),
    sa.Column("handling_region", sa.String(length=6), nullable=False),
    sa.Column("state", sa.String(length=24), nullable=False),
    sa.Column("outcome", sa.String(length=8), nullable=True),
    sa.Column("delivery", sa.String(length=8), nullable=True),
    sa.Column("missing", sa.JSON(), nullable=False),
    sa.Column("promise_days", sa.Integer(), nullable=False),
    sa.Column("promise_unit", sa.String(length=8), nullable=False),
    sa.Column("received_at", sa.DateTime(), nullable=False),
    sa.Column("accepted_on", sa.Date(), nullable=True),
    sa.Column("pauses", sa.JSON(), nullable=False),
    sa.Column("paused_since", sa.Date(), nullable=True),
    sa.Column("deadline", sa.Date(), nullable=True),
    sa.Column("deadline_missing_year", sa.Integer(), nullable=True),
    sa.Column("finished_at", sa.DateTime(), nullable=True),
    sa.Column("last_event_at", sa.DateTime(), nullable=False),
    sa.Column("version", sa.Integer(), nullable=False),
    sa.Column("client_id", sa.Integer(), nullable=True),
    sa.Column("created_at", sa.DateTime(), nullable=False),
    sa.Column("updated_at", sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(["client_id"], ["applications_department_client.id"], name=op.f("fk_applications_application_client_id_applications_department_client"), ondelete="SET NULL"),
    sa.ForeignKeyConstraint(["item_id"], ["catalog_item.id"], name=op.f("fk_applications_application_item_id_catalog_item"), ondelete="SET NULL"),
    sa.PrimaryKeyConstraint("id", name=op.f("pk_applications_application")),
    sa.UniqueConstraint("number", name=op.f("uq_applications_application_number"))
    )
    with op.batch_alter_table("applications_application", schema=None) as batch_op:
        batch_op.create_index("ix_applications_application_applicant_received", ["applicant_id_hash", "received_at", "id"], unique=False)
        batch_op.create_index(batch_op.f("ix_applications_application_client_id"), ["client_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_applications_application_item_id"), ["item_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_applications_application_state"), ["state"], unique=False)
        batch_op.create_index("ix_applications_application_state_deadline", ["state", "deadline"], unique=False)

    op.create_table("applications_event",
    sa.Column("id", sa.Integer(), nullable=False),
    sa.Column("application_id", sa.Integer(), nullable=False),
    sa.Column("seq", sa.Integer(), nullable=False),
    sa.Column("action", sa.String(length=24), nullable=False),
    sa.Column("from_state", sa.String(length=24), nullable=True),
    sa.Column("to_state", sa.String(length=24), nullable=False),
    sa.Column("actor", sa.String(length=120), nullable=False),
    sa.Column("actor_name", sa.String(length=200), nullable=False),
    sa.Column("note", sa.String(length=500), nullable=True),
    sa.Column("details", sa.JSON(), nullable=False),
    sa.Column("occurred_at", sa.DateTime(), nullable=False),
    sa.Column("recorded_at", sa.DateTime(), nullable=False),
    sa.Column("client_id", sa.Integer(), nullable=True),
    sa.Column("event_id", sa.String(length=64), nullable=True),
    sa.ForeignKeyConstraint(["application_id"], ["applications_application.id"], name=op.f("fk_applications_event_application_id_applications_application"), ondelete="CASCADE"),
    sa.ForeignKeyConstraint(["client_id"], ["applications_department_client.id"], name=op.f("fk_applications_event_client_id_applications_department_client"), ondelete="SET NULL"),
    sa.PrimaryKeyConstraint("id", name=op.f("pk_applications_event")),
    sa.UniqueConstraint("application_id", "seq", name=op.f("uq_applications_event_application_id_seq")),
    sa.UniqueConstraint("client_id", "event_id", name=op.f("uq_applications_event_client_id_event_id"))
    )
    op.create_table("applications_notification",
    sa.Column("id", sa.Integer(), nullable=False),
    sa.Column("event_id", sa.Integer(), nullable=False),
    sa.Column("application_id", sa.Integer(), nullable=False),
    sa.Column("channel", sa.String(length=8), nullable=False),
    sa.Column("template", sa.String(length=64), nullable=False),
    sa.Column("state", sa.String(length=12), nullable=False),
    sa.Column("attempts", sa.Integer(), nullable=False),
    sa.Column("provider_id", sa.String(length=128), nullable=True),
    sa.Column("last_error", sa.String(length=500), nullable=True),
    sa.Column("created_at", sa.DateTime(), nullable=False),
    sa.Column("sent_at", sa.DateTime(), nullable=True),
    sa.ForeignKeyConstraint(["application_id"], ["applications_application.id"], name=op.f("fk_applications_notification_application_id_applications_application"), ondelete="CASCADE"),
    sa.ForeignKeyConstraint(["event_id"], ["applications_event.id"], name=op.f("fk_applications_notification_event_id_applications_event"), ondelete="CASCADE"),
    sa.PrimaryKeyConstraint("id", name=op.f("pk_applications_notification")),
    sa.UniqueConstraint("event_id", name=op.f("uq_applications_notification_event_id"))
    )
    with op.batch_alter_table("applications_notification", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_applications_notification_application_id"), ["application_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_applications_notification_state"), ["state"], unique=False)



def downgrade():
    with op.batch_alter_table("applications_notification", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_applications_notification_state"))
        batch_op.drop_index(batch_op.f("ix_applications_notification_application_id"))

    op.drop_table("applications_notification")
    op.drop_table("applications_event")
    with op.batch_alter_table("applications_application", schema=None) as batch_op:
        batch_op.drop_index("ix_applications_application_state_deadline")
        batch_op.drop_index(batch_op.f("ix_applications_application_state"))
        batch_op.drop_index(batch_op.f("ix_applications_application_item_id"))
        batch_op.drop_index(batch_op.f("ix_applications_application_client_id"))
        batch_op.drop_index("ix_applications_application_applicant_received")

    op.drop_table("applications_application")
    with op.batch_alter_table("applications_refused_event", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_applications_refused_event_received_at"))
        batch_op.drop_index(batch_op.f("ix_applications_refused_event_number"))
        batch_op.drop_index(batch_op.f("ix_applications_refused_event_client_id"))

    op.drop_table("applications_refused_event")
    op.drop_table("core_calendar_year")
    op.drop_table("applications_department_client")
