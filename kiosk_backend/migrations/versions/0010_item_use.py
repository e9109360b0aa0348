"""How often each item was opened from the kiosk's search results (catalog_item_use): the
kiosks' own usage as a bounded prior of search.

Revision ID: 0010_item_use
Revises: 0009_life_events
Create Date: 2026-12-02

"""
import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "0010_item_use"
down_revision = "0009_life_events"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table("catalog_item_use",
    sa.Column("item_id", sa.Integer(), nullable=False),
    sa.Column("opened_from_search", sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(["item_id"], ["catalog_item.id"], name=op.f("fk_catalog_item_use_item_id_catalog_item"),
                            ondelete="CASCADE"),
    sa.PrimaryKeyConstraint("item_id", name=op.f("pk_catalog_item_use"))
    )


def downgrade():
    op.drop_table("catalog_item_use")
