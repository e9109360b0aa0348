"""Behind a TLS load balancer: trusted hops (KIOSK_PROXY_COUNT), Secure cookies, HSTS."""
from __future__ import annotations

import pytest

from kiosk_backend.extensions import db as _db
from tests.conftest import PASSWORD

FORWARDED = {"X-Forwarded-Proto": "https", "X-Forwarded-For": "203.0.113.9", "X-Forwarded-Host": "zwfw.example.cn"}


@pytest.fixture
def behind_proxy(make_app):
    app = make_app(KIOSK_PROXY_COUNT=1)
    with app.app_context():
        yield app
        _db.session.remove()


def _staff(app):
    from kiosk_backend.core.actors import SYSTEM
    from kiosk_backend.identity import services as identity

    identity.create_staff(_db.session, username="admin", password=PASSWORD, role="admin", actor=SYSTEM)
    _db.session.commit()


def test_behind_a_trusted_proxy_the_console_cookie_is_secure_and_https_is_pinned(behind_proxy):
    _staff(behind_proxy)
    response = behind_proxy.test_client().post("/admin/login", data={"username": "admin", "password": PASSWORD},
                                                headers=FORWARDED)
    assert response.status_code == 302
    assert "Secure" in response.headers["Set-Cookie"]
    assert response.headers["Strict-Transport-Security"].startswith("max-age=")


def test_the_forwarded_address_is_the_clients_behind_a_trusted_proxy(behind_proxy):
    from kiosk_backend.core import audit

    _staff(behind_proxy)
    behind_proxy.test_client().post("/admin/login", data={"username": "admin", "password": PASSWORD},
                                    headers=FORWARDED)
    assert audit.search(_db.session, action="login")[0].ip == "203.0.113.9"


def test_without_trusted_proxies_forwarded_headers_are_ignored(app, db):
    _staff(app)
    response = app.test_client().post("/admin/login", data={"username": "admin", "password": PASSWORD},
                                      headers=FORWARDED)
    assert response.status_code == 302
    assert "Secure" not in response.headers["Set-Cookie"]
    assert "Strict-Transport-Security" not in response.headers


def test_a_rotated_kiosk_cookie_is_secure_over_https(behind_proxy):
    from kiosk_backend.core.actors import SYSTEM
    from kiosk_backend.fleet import services
    from kiosk_backend.sites import services as sites
    from tests.conftest import SITE

    site = sites.create_site(_db.session, actor=SYSTEM, **SITE)
    code, _ = services.create_enrolment_code(_db.session, site=site, actor=SYSTEM, pre_authorized=True)
    _kiosk, credential = services.activate(_db.session, code=code, profile="post-office-portrait")
    _db.session.commit()
    response = behind_proxy.test_client().post("/api/v1/kiosk/credential",
                                               headers={"Authorization": f"Kiosk {credential}", **FORWARDED})
    assert response.status_code == 200
    assert "Secure" in response.headers["Set-Cookie"] and "HttpOnly" in response.headers["Set-Cookie"]
