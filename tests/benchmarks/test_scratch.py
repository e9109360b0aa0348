"""The benchmarks' scratch database (kiosk_backend/benchmarks/__init__.py)."""
from __future__ import annotations

import logging

import sqlalchemy as sa

from kiosk_backend.benchmarks import scratch_app


def test_the_scratch_database_is_migrated_without_the_migrations_log_lines(capfd):
    with scratch_app(None) as (_app, db):
        assert sa.inspect(db.engine).has_table("catalog_item")
        assert logging.root.manager.disable == logging.NOTSET  # logging works again inside
    out, err = capfd.readouterr()
    assert "Running upgrade" not in out + err
