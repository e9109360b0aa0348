"""Migrations run forward on an empty and a populated database and match the models."""
from __future__ import annotations

import json

import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from kiosk_backend.catalog import services
from kiosk_backend.core.actors import SYSTEM
from kiosk_backend.core.database import upgrade_database
from kiosk_backend.extensions import db
from tests.conftest import item_row


def test_migrations_build_the_schema_the_models_describe(make_app):
    app = make_app(create_schema=False)
    with app.app_context():
        upgrade_database()
        with db.engine.connect() as conn:
            diff = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": False}), db.metadata)
        assert diff == []
        assert db.session.scalar(sa.text("SELECT revision FROM catalog_revision WHERE id = 1")) == 1


def test_upgrading_a_populated_database_keeps_its_data(make_app):
    app = make_app(create_schema=False)
    with app.app_context():
        upgrade_database()
        checked = services.check_file(json.dumps([item_row(task_code="KEEP1")]).encode(), fmt="json")
        services.import_items(db.session, checked, actor=SYSTEM)
        db.session.commit()
        upgrade_database()  # again, at head: a no-op that must not lose anything
        assert services.get_item(db.session, "KEEP1").task_name == "居民身份证申领"
