"""One live courier booking per application leg: a partial unique index on
courier_booking (application_id, purpose) over the bookings that still count (not refused,
not cancelled for good, not returned).

Revision ID: 0011_courier_live_leg
Revises: 0010_item_use
Create Date: 2026-12-03

"""
import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "0011_courier_live_leg"
down_revision = "0010_item_use"
branch_labels = None
depends_on = None

# As courier/models.py LIVE_LEG at this revision (a migration does not import the models).
LIVE_LEG = ("application_id IS NOT NULL AND purpose IN ('materials_to_authority', 'result_to_applicant') "
            "AND order_state <> 'failed' AND (status NOT IN ('cancelled', 'returned') OR order_state = 'cancelling')")


def upgrade():
    # Bookings made before this revision may hold a leg twice: say which, rather than fail on
    # the index with the database's own words (someone decides which booking stays).
    twice = op.get_bind().execute(sa.text(
        f"SELECT application_id, purpose, COUNT(*) FROM courier_booking WHERE {LIVE_LEG} "
        "GROUP BY application_id, purpose HAVING COUNT(*) > 1 ORDER BY application_id LIMIT 20")).all()
    if twice:
        legs = ", ".join(f"application {row[0]} {row[1]} ({row[2]} bookings)" for row in twice)
        raise RuntimeError("courier_booking holds live bookings of the same application leg more than once: "
                           f"{legs}. Cancel the extra ones (or mark them returned) and upgrade again.")
    op.create_index("uq_courier_booking_live_leg", "courier_booking", ["application_id", "purpose"], unique=True,
                    sqlite_where=sa.text(LIVE_LEG), postgresql_where=sa.text(LIVE_LEG))


def downgrade():
    op.drop_index("uq_courier_booking_live_leg", table_name="courier_booking")
