"""Life events (一件事) added by admins (catalog_life_event), beside the shipped
data/life_events.json.

Revision ID: 0009_life_events
Revises: 0008_courier
Create Date: 2026-12-02

"""
import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "0009_life_events"
down_revision = "0008_courier"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table("catalog_life_event",
    sa.Column("id", sa.Integer(), nullable=False),
    sa.Column("key", sa.String(length=40), nullable=False),
    sa.Column("name", sa.String(length=50), nullable=False),
    sa.Column("triggers", sa.JSON(), nullable=False),
    sa.Column("patterns", sa.JSON(), nullable=False),
    sa.Column("created_by", sa.String(length=100), nullable=True),
    sa.Column("created_at", sa.DateTime(), nullable=False),
    sa.Column("updated_at", sa.DateTime(), nullable=False),
    sa.PrimaryKeyConstraint("id", name=op.f("pk_catalog_life_event")),
    sa.UniqueConstraint("key", name=op.f("uq_catalog_life_event_key"))
    )


def downgrade():
    op.drop_table("catalog_life_event")
