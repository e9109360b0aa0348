"""QR codes' addresses (core/printing/links.py): KIOSK_PUBLIC_URL, or the request's host only
in the demo and tests; production without it refuses to draw a QR nobody could open."""
from __future__ import annotations

import logging

import pytest

from tests.conftest import item_row, login

QR_URLS = ["/kiosk/items/ID1/qr.png", "/kiosk/items/ID1/print.png?paper=thermal80"]


@pytest.fixture
def production(app, monkeypatch):
    """The shared app as production runs it: not testing, not the demo, no KIOSK_PUBLIC_URL."""
    monkeypatch.setitem(app.config, "TESTING", False)
    monkeypatch.setitem(app.config, "KIOSK_DEMO", False)
    monkeypatch.setitem(app.config, "KIOSK_PUBLIC_URL", "")
    return app


@pytest.fixture
def guide(make_items):
    make_items(item_row(task_code="ID1", task_name="居民身份证申领"))


@pytest.mark.parametrize("url", QR_URLS)
def test_production_without_a_public_url_refuses_a_qr_code_with_a_clear_error(production, kiosk_client, guide, url):
    response = kiosk_client.get(url)
    assert response.status_code == 503
    assert "KIOSK_PUBLIC_URL" in response.text and response.mimetype != "image/png"


def test_production_refuses_the_activation_qr_too(production, world):
    client = production.test_client()
    login(client, "admin")
    response = client.get("/admin/codes/qr.png?code=ABCDE-FGHJK")
    assert response.status_code == 503 and "KIOSK_PUBLIC_URL" in response.text


@pytest.mark.parametrize("url", QR_URLS)
def test_production_with_a_public_url_draws_the_qr(production, kiosk_client, guide, url, monkeypatch):
    from kiosk_backend.core.printing import links

    monkeypatch.setitem(production.config, "KIOSK_PUBLIC_URL", "https://zwfw.example.gov.cn/")
    seen = []
    original = links.public_url
    monkeypatch.setattr("kiosk_backend.catalog.kiosk.public_url", lambda path: seen.append(original(path)) or seen[-1])
    response = kiosk_client.get(url)
    assert response.status_code == 200 and response.mimetype == "image/png"
    assert seen == ["https://zwfw.example.gov.cn/m/items/ID1"]


def test_the_demo_falls_back_to_the_host_and_warns_once(app, kiosk_client, guide, monkeypatch, caplog):
    from kiosk_backend.core.printing import links

    monkeypatch.setitem(app.config, "TESTING", False)
    monkeypatch.setitem(app.config, "KIOSK_DEMO", True)
    monkeypatch.setitem(app.config, "KIOSK_PUBLIC_URL", "")
    monkeypatch.delitem(app.extensions, "kiosk_public_url_warned", raising=False)
    with caplog.at_level(logging.WARNING, logger=links.__name__), app.test_request_context(base_url="http://127.0.0.1:8000"):
        assert links.public_url("/m/items/ID1") == "http://127.0.0.1:8000/m/items/ID1"
        assert links.public_url("/m/items/ID2") == "http://127.0.0.1:8000/m/items/ID2"
    warnings = [r for r in caplog.records if "KIOSK_PUBLIC_URL" in r.getMessage()]
    assert len(warnings) == 1
    assert kiosk_client.get("/kiosk/items/ID1/qr.png").status_code == 200
