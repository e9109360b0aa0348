"""/healthz: 200 only when the database answers and accepts writes."""
from __future__ import annotations

from urllib.parse import quote

import pytest

from tests.conftest import PG_URL


def _assert_not_ready(response):
    assert response.status_code == 503
    assert response.headers["Retry-After"].isdigit()
    assert response.get_json() == {"status": "not-ready", "reason": "database is read-only"}


def test_healthz_is_ok_when_the_database_takes_writes(client, db):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.get_json() == {"status": "ok", "database": db.engine.dialect.name}


def test_a_read_only_sqlite_file_is_not_ready(make_app, tmp_path):
    path = tmp_path / "kiosk.db"
    make_app(DATABASE_URL=f"sqlite:///{path}")  # creates the file and its tables
    app = make_app(create_schema=False, DATABASE_URL=f"sqlite:///file:{path}?mode=ro&uri=true")
    _assert_not_ready(app.test_client().get("/healthz"))


@pytest.mark.skipif(not PG_URL, reason="needs PostgreSQL (KIOSK_TEST_DATABASE_URL)")
def test_a_read_only_postgresql_is_not_ready(make_app, databases):
    # A replica reports transaction_read_only on, as does default_transaction_read_only.
    url = databases.new_url() + quote(" -cdefault_transaction_read_only=on")
    _assert_not_ready(make_app(create_schema=False, DATABASE_URL=url).test_client().get("/healthz"))
