"""Courier bookings with their tracking events and SMS notices (courier_booking,
courier_tracking_event, courier_notice), pickup slots, handling authorities' addresses,
residents' saved addresses, carrier accounts, reconciliation findings, and the stored
responses of Idempotency-Key requests (core_idempotency_key).

Revision ID: 0008_courier
Revises: 0007_applications
Create Date: 2026-12-02

"""
import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "0008_courier"
down_revision = "0007_applications"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table("core_idempotency_key",
    sa.Column("id", sa.Integer(), nullable=False),
    sa.Column("scope", sa.String(length=64), nullable=False),
    sa.Column("key", sa.String(length=255), nullable=False),
    sa.Column("request_hash", sa.String(length=64), nullable=False),
    sa.Column("state", sa.String(length=12), nullable=False),
    sa.Column("claim", sa.String(length=32), nullable=False),
    sa.Column("lease_until", sa.DateTime(), nullable=True),
    sa.Column("status_code", sa.Integer(), nullable=True),
    sa.Column("response_body", sa.Text(), nullable=True),
    sa.Column("content_type", sa.String(length=128), nullable=True),
    sa.Column("headers", sa.JSON(), nullable=False),
    sa.Column("created_at", sa.DateTime(), nullable=False),
    sa.Column("expires_at", sa.DateTime(), nullable=False),
    sa.PrimaryKeyConstraint("id", name=op.f("pk_core_idempotency_key")),
    sa.UniqueConstraint("scope", "key", name=op.f("uq_core_idempotency_key_scope_key"))
    )
    with op.batch_alter_table("core_idempotency_key", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_core_idempotency_key_expires_at"), ["expires_at"], unique=False)

    op.create_table("courier_carrier_account",
    sa.Column("id", sa.Integer(), nullable=False),
    sa.Column("carrier", sa.String(length=32), nullable=False),
    sa.Column("credentials_encrypted", sa.Text(), nullable=False),
    sa.Column("settings", sa.JSON(), nullable=False),
    sa.Column("active", sa.Boolean(), nullable=False),
    sa.Column("rotated_at", sa.DateTime(), nullable=True),
    sa.Column("updated_by", sa.String(length=100), nullable=True),
    sa.Column("created_at", sa.DateTime(), nullable=False),
    sa.Column("updated_at", sa.DateTime(), nullable=False),
    sa.PrimaryKeyConstraint("id", name=op.f("pk_courier_carrier_account")),
    sa.UniqueConstraint("carrier", name=op.f("uq_courier_carrier_account_carrier"))
    )
    op.create_table("courier_handling_authority",
    sa.Column("id", sa.Integer(), nullable=False),
    sa.Column("org_name", sa.String(length=200), nullable=False),
    sa.Column("region_code", sa.String(length=6), nullable=False),
    sa.Column("recipient_name", sa.String(length=100), nullable=False),
    sa.Column("phone", sa.String(length=20), nullable=False),
    sa.Column("province_code", sa.String(length=2), nullable=False),
    sa.Column("city_code", sa.String(length=4), nullable=False),
    sa.Column("county_code", sa.String(length=6), nullable=False),
    sa.Column("address", sa.String(length=300), nullable=False),
    sa.Column("postcode", sa.String(length=6), nullable=True),
    sa.Column("created_at", sa.DateTime(), nullable=False),
    sa.Column("updated_at", sa.DateTime(), nullable=False),
    sa.PrimaryKeyConstraint("id", name=op.f("pk_courier_handling_authority")),
    sa.UniqueConstraint("org_name", "region_code", name=op.f("uq_courier_handling_authority_org_name_region_code"))
    )
    op.create_table("courier_pickup_slot",
    sa.Column("id", sa.Integer(), nullable=False),
    sa.Column("site_id", sa.Integer(), nullable=False),
    sa.Column("day", sa.Date(), nullable=False),
    sa.Column("starts", sa.String(length=5), nullable=False),
    sa.Column("ends", sa.String(length=5), nullable=False),
    sa.Column("capacity", sa.Integer(), nullable=False),
    sa.Column("taken", sa.Integer(), nullable=False),
    sa.CheckConstraint("taken >= 0 AND taken <= capacity", name=op.f("ck_courier_pickup_slot_taken_within_capacity")),
    sa.ForeignKeyConstraint(["site_id"], ["fleet_site.id"], name=op.f("fk_courier_pickup_slot_site_id_fleet_site"), ondelete="CASCADE"),
    sa.PrimaryKeyConstraint("id", name=op.f("pk_courier_pickup_slot")),
    sa.UniqueConstraint("site_id", "day", "starts", name=op.f("uq_courier_pickup_slot_site_id_day_starts"))
    )
    with op.batch_alter_table("courier_pickup_slot", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_courier_pickup_slot_site_id"), ["site_id"], unique=False)

    op.create_table("courier_saved_address",
    sa.Column("id", sa.Integer(), nullable=False),
    sa.Column("resident_id", sa.Integer(), nullable=False),
    sa.Column("label", sa.String(length=20), nullable=True),
    sa.Column("name", sa.String(length=100), nullable=False),
    sa.Column("mobile_encrypted", sa.String(length=255), nullable=False),
    sa.Column("mobile_masked", sa.String(length=16), nullable=False),
    sa.Column("province_code", sa.String(length=2), nullable=False),
    sa.Column("city_code", sa.String(length=4), nullable=False),
    sa.Column("county_code", sa.String(length=6), nullable=False),
    sa.Column("address", sa.String(length=300), nullable=False),
    sa.Column("postcode", sa.String(length=6), nullable=True),
    sa.Column("is_default", sa.Boolean(), nullable=False),
    sa.Column("created_at", sa.DateTime(), nullable=False),
    sa.Column("updated_at", sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(["resident_id"], ["identity_resident.id"], name=op.f("fk_courier_saved_address_resident_id_identity_resident"), ondelete="CASCADE"),
    sa.PrimaryKeyConstraint("id", name=op.f("pk_courier_saved_address"))
    )
    with op.batch_alter_table("courier_saved_address", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_courier_saved_address_resident_id"), ["resident_id"], unique=False)

    op.create_table("courier_booking",
    sa.Column("id", sa.Integer(), nullable=False),
    sa.Column("order_no", sa.String(length=32), nullable=False),
    sa.Column("purpose", sa.String(length=24), nullable=False),
    sa.Column("application_id", sa.Integer(), nullable=True),
    sa.Column("resident_id", sa.Integer(), nullable=True),
    sa.Column("channel", sa.String(length=8), nullable=False),
    sa.Column("kiosk_id", sa.Integer(), nullable=True),
    sa.Column("helper_id", sa.Integer(), nullable=True),
    sa.Column("sender_name", sa.String(length=100), nullable=False),
    sa.Column("sender_mobile_encrypted", sa.String(length=255), nullable=False),
    sa.Column("sender_mobile_masked", sa.String(length=16), nullable=False),
    sa.Column("sender_province", sa.String(length=2), nullable=False),
    sa.Column("sender_city", sa.String(length=4), nullable=False),
    sa.Column("sender_county", sa.String(length=6), nullable=False),
    sa.Column("sender_address", sa.String(length=300), nullable=False),
    sa.Column("sender_postcode", sa.String(length=6), nullable=True),
    sa.Column("recipient_name", sa.String(length=100), nullable=False),
    sa.Column("recipient_mobile_encrypted", sa.String(length=255), nullable=False),
    sa.Column("recipient_mobile_masked", sa.String(length=16), nullable=False),
    sa.Column("recipient_province", sa.String(length=2), nullable=False),
    sa.Column("recipient_city", sa.String(length=4), nullable=False),
    sa.Column("recipient_county", sa.String(length=6), nullable=False),
    sa.Column("recipient_address", sa.String(length=300), nullable=False),
    sa.Column("recipient_postcode", sa.String(length=6), nullable=True),
    sa.Column("item_type", sa.String(length=12), nullable=False),
    sa.Column("pieces", sa.Integer(), nullable=False),
    sa.Column("weight_grams", sa.Integer(), nullable=False),
    sa.Column("insured_value_fen", sa.Integer(), nullable=False),
    sa.Column("payer", sa.String(length=12), nullable=False),
    sa.Column("pickup_mode", sa.String(length=8), nullable=False),
    sa.Column("site_id", sa.Integer(), nullable=False),
    sa.Column("slot_id", sa.Integer(), nullable=True),
    sa.Column("quote_fen", sa.Integer(), nullable=True),
    sa.Column("carrier", sa.String(length=32), nullable=False),
    sa.Column("carrier_company", sa.String(length=32), nullable=True),
    sa.Column("waybill_no", sa.String(length=40), nullable=True),
    sa.Column("carrier_task_id", sa.String(length=64), nullable=True),
    sa.Column("label_png", sa.LargeBinary(), nullable=True),
    sa.Column("order_state", sa.String(length=12), nullable=False),
    sa.Column("last_error", sa.String(length=500), nullable=True),
    sa.Column("status", sa.String(length=24), nullable=False),
    sa.Column("status_at", sa.DateTime(), nullable=False),
    sa.Column("last_tracked_at", sa.DateTime(), nullable=True),
    sa.Column("cancelled_at", sa.DateTime(), nullable=True),
    sa.Column("version", sa.Integer(), nullable=False),
    sa.Column("created_at", sa.DateTime(), nullable=False),
    sa.Column("updated_at", sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(["application_id"], ["applications_application.id"], name=op.f("fk_courier_booking_application_id_applications_application"), ondelete="SET NULL"),
    sa.ForeignKeyConstraint(["helper_id"], ["identity_staff.id"], name=op.f("fk_courier_booking_helper_id_identity_staff"), ondelete="SET NULL"),
    sa.ForeignKeyConstraint(["kiosk_id"], ["fleet_kiosk.id"], name=op.f("fk_courier_booking_kiosk_id_fleet_kiosk"), ondelete="SET NULL"),
    sa.ForeignKeyConstraint(["resident_id"], ["identity_resident.id"], name=op.f("fk_courier_booking_resident_id_identity_resident"), ondelete="SET NULL"),
    sa.ForeignKeyConstraint(["site_id"], ["fleet_site.id"], name=op.f("fk_courier_booking_site_id_fleet_site")),
    sa.ForeignKeyConstraint(["slot_id"], ["courier_pickup_slot.id"], name=op.f("fk_courier_booking_slot_id_courier_pickup_slot"), ondelete="SET NULL"),
    sa.PrimaryKeyConstraint("id", name=op.f("pk_courier_booking")),
    sa.UniqueConstraint("carrier", "waybill_no", name=op.f("uq_courier_booking_carrier_waybill_no")),
    sa.UniqueConstraint("order_no", name=op.f("uq_courier_booking_order_no"))
    )
    with op.batch_alter_table("courier_booking", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_courier_booking_application_id"), ["application_id"], unique=False)
        batch_op.create_index("ix_courier_booking_order_state_tracked", ["order_state", "last_tracked_at"], unique=False)
        batch_op.create_index("ix_courier_booking_resident_created", ["resident_id", "created_at", "id"], unique=False)
        batch_op.create_index(batch_op.f("ix_courier_booking_site_id"), ["site_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_courier_booking_slot_id"), ["slot_id"], unique=False)
        batch_op.create_index("ix_courier_booking_status_updated", ["status", "status_at"], unique=False)

    op.create_table("courier_reconciliation_finding",
    sa.Column("id", sa.Integer(), nullable=False),
    sa.Column("run_on", sa.Date(), nullable=False),
    sa.Column("carrier", sa.String(length=32), nullable=False),
    sa.Column("booking_id", sa.Integer(), nullable=True),
    sa.Column("order_no", sa.String(length=32), nullable=True),
    sa.Column("kind", sa.String(length=32), nullable=False),
    sa.Column("ours", sa.String(length=200), nullable=True),
    sa.Column("theirs", sa.String(length=200), nullable=True),
    sa.Column("found_at", sa.DateTime(), nullable=False),
    sa.Column("resolved_at", sa.DateTime(), nullable=True),
    sa.ForeignKeyConstraint(["booking_id"], ["courier_booking.id"], name=op.f("fk_courier_reconciliation_finding_booking_id_courier_booking"), ondelete="CASCADE"),
    sa.PrimaryKeyConstraint("id", name=op.f("pk_courier_reconciliation_finding"))
    )
    with op.batch_alter_table("courier_reconciliation_finding", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_courier_reconciliation_finding_run_on"), ["run_on"], unique=False)

    op.create_table("courier_tracking_event",
    sa.Column("id", sa.Integer(), nullable=False),
    sa.Column("booking_id", sa.Integer(), nullable=False),
    sa.Column("dedupe_key", sa.String(length=64), nullable=False),
    sa.Column("status", sa.String(length=24), nullable=False),
    sa.Column("raw_code", sa.String(length=32), nullable=True),
    sa.Column("raw_text", sa.String(length=500), nullable=False),
    sa.Column("location", sa.String(length=200), nullable=True),
    sa.Column("occurred_at", sa.DateTime(), nullable=False),
    sa.Column("received_at", sa.DateTime(), nullable=False),
    sa.Column("source", sa.String(length=8), nullable=False),
    sa.Column("applied", sa.Boolean(), nullable=False),
    sa.ForeignKeyConstraint(["booking_id"], ["courier_booking.id"], name=op.f("fk_courier_tracking_event_booking_id_courier_booking"), ondelete="CASCADE"),
    sa.PrimaryKeyConstraint("id", name=op.f("pk_courier_tracking_event")),
    sa.UniqueConstraint("booking_id", "dedupe_key", name=op.f("uq_courier_tracking_event_booking_id_dedupe_key"))
    )
    op.create_table("courier_notice",
    sa.Column("id", sa.Integer(), nullable=False),
    sa.Column("booking_id", sa.Integer(), nullable=False),
    sa.Column("status", sa.String(length=24), nullable=False),
    sa.Column("event_id", sa.Integer(), nullable=True),
    sa.Column("channel", sa.String(length=8), nullable=False),
    sa.Column("template", sa.String(length=64), nullable=False),
    sa.Column("state", sa.String(length=12), nullable=False),
    sa.Column("attempts", sa.Integer(), nullable=False),
    sa.Column("provider_id", sa.String(length=128), nullable=True),
    sa.Column("last_error", sa.String(length=500), nullable=True),
    sa.Column("created_at", sa.DateTime(), nullable=False),
    sa.Column("sent_at", sa.DateTime(), nullable=True),
    sa.ForeignKeyConstraint(["booking_id"], ["courier_booking.id"], name=op.f("fk_courier_notice_booking_id_courier_booking"), ondelete="CASCADE"),
    sa.ForeignKeyConstraint(["event_id"], ["courier_tracking_event.id"], name=op.f("fk_courier_notice_event_id_courier_tracking_event"), ondelete="SET NULL"),
    sa.PrimaryKeyConstraint("id", name=op.f("pk_courier_notice")),
    sa.UniqueConstraint("booking_id", "status", name=op.f("uq_courier_notice_booking_id_status"))
    )
    with op.batch_alter_table("courier_notice", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_courier_notice_state"), ["state"], unique=False)



def downgrade():
    with op.batch_alter_table("courier_notice", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_courier_notice_state"))

    op.drop_table("courier_notice")
    op.drop_table("courier_tracking_event")
    with op.batch_alter_table("courier_reconciliation_finding", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_courier_reconciliation_finding_run_on"))

    op.drop_table("courier_reconciliation_finding")
    with op.batch_alter_table("courier_booking", schema=None) as batch_op:
        batch_op.drop_index("ix_courier_booking_status_updated")
        batch_op.drop_index(batch_op.f("ix_courier_booking_slot_id"))
        batch_op.drop_index(batch_op.f("ix_courier_booking_site_id"))
        batch_op.drop_index("ix_courier_booking_resident_created")
        batch_op.drop_index("ix_courier_booking_order_state_tracked")
        batch_op.drop_index(batch_op.f("ix_courier_booking_application_id"))

    op.drop_table("courier_booking")
    with op.batch_alter_table("courier_saved_address", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_courier_saved_address_resident_id"))

    op.drop_table("courier_saved_address")
    with op.batch_alter_table("courier_pickup_slot", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_courier_pickup_slot_site_id"))

    op.drop_table("courier_pickup_slot")
    op.drop_table("courier_handling_authority")
    op.drop_table("courier_carrier_account")
    with op.batch_alter_table("core_idempotency_key", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_core_idempotency_key_expires_at"))

    op.drop_table("core_idempotency_key")
