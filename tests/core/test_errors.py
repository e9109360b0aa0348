"""One error shape everywhere; database outages become 503 and heal by themselves."""
from __future__ import annotations

import pytest

from kiosk_backend.core.errors import Conflict, error_payload
from kiosk_backend.extensions import db


def test_error_payload_has_the_documented_keys():
    assert error_payload(409, "Taken.", "已被占用。") == {
        "code": 409, "status": "Conflict", "message": "Taken.", "message_zh": "已被占用。", "errors": {}}


def test_a_domain_error_becomes_its_status_in_json(make_app):
    app = make_app()

    @app.get("/api/v1/_test_conflict")
    def _conflict():
        raise Conflict("Already decided.", "已经处理过了。", errors={"state": "confirmed"})

    body = app.test_client().get("/api/v1/_test_conflict").get_json()
    assert body == {"code": 409, "status": "Conflict", "message": "Already decided.", "message_zh": "已经处理过了。",
                    "errors": {"state": "confirmed"}}


def test_an_unexpected_exception_is_a_500_without_details(make_app):
    app = make_app()

    @app.get("/api/v1/_test_boom")
    def _boom():
        raise RuntimeError("secret internals")

    app.config["TESTING"] = False  # let the handler run instead of re-raising
    app.config["PROPAGATE_EXCEPTIONS"] = False
    response = app.test_client().get("/api/v1/_test_boom")
    assert response.status_code == 500
    body = response.get_json()
    assert body["message_zh"] and "secret" not in response.get_data(as_text=True)


def test_a_405_uses_the_same_shape(client):
    body = client.post("/api/v1/catalog/items").get_json()
    assert body["code"] == 405 and body["message_zh"]


def test_kiosk_errors_are_pages_not_json(client):
    response = client.get("/kiosk/no-such-page")
    assert response.status_code == 404 and response.mimetype == "text/html"


@pytest.fixture
def broken_sqlite_app(make_app, tmp_path):
    missing_dir = tmp_path / "not-yet"
    app = make_app(create_schema=False, DATABASE_URL=f"sqlite:///{missing_dir / 'kiosk.db'}")
    return app, missing_dir


def test_an_unreachable_database_gives_503_with_retry_after_and_recovers(broken_sqlite_app):
    app, missing_dir = broken_sqlite_app
    client = app.test_client()
    response = client.get("/api/v1/catalog/items?q=社保")
    assert response.status_code == 503
    assert response.headers["Retry-After"].isdigit()
    assert response.get_json()["message_zh"].startswith("服务暂时不可用")
    client.set_cookie("kiosk_credential", "some-kiosk")
    assert client.get("/kiosk/search?q=社保").status_code == 503  # the kiosk gets a plain page
    assert client.get("/healthz").status_code == 503

    missing_dir.mkdir()  # the database comes back: no restart needed
    with app.app_context():
        db.create_all()
    assert client.get("/api/v1/catalog/items?q=社保").status_code == 200
    assert client.get("/healthz").get_json() == {"status": "ok", "database": "sqlite"}
