"""core.web: ids in URLs that no database row can have are a 404, not an overflow."""
from __future__ import annotations

import pytest

from kiosk_backend.core.web import DatabaseId


def test_every_int_in_a_route_is_a_database_id(app):
    rules = [rule for rule in app.url_map.iter_rules() if any(isinstance(c, DatabaseId)
                                                                for c in rule._converters.values())]
    assert rules, "no route takes an id?"
    for rule in app.url_map.iter_rules():
        for name, converter in rule._converters.items():
            if type(converter).__name__ == "IntegerConverter":
                pytest.fail(f"{rule.rule}: <int:{name}> is not bounded")


@pytest.mark.parametrize("huge", [2**31, 2**63, 10**40])
def test_an_id_too_large_for_any_row_is_a_404_in_the_error_shape(kiosk_client, huge):
    response = kiosk_client.post(f"/api/v1/kiosk/commands/{huge}/ack")
    assert response.status_code == 404 and response.get_json()["message_zh"]


def test_the_largest_possible_id_still_reaches_the_view(kiosk_client):
    response = kiosk_client.post(f"/api/v1/kiosk/commands/{2**31 - 1}/ack")
    assert response.status_code == 404 and "指令" in response.get_json()["message_zh"]  # the service's own answer


def test_a_huge_id_in_the_console_is_the_consoles_404(console):
    client, _csrf = console()
    response = client.get(f"/admin/kiosks/{2**63}")
    assert response.status_code == 404 and response.mimetype == "text/html"


def test_an_id_in_a_query_string_or_form_is_bounded_too(app, world):
    from tests.conftest import login

    client = app.test_client()
    csrf = login(client, "admin")
    for huge in (2**31, 2**63, "abc", -1):
        assert client.get(f"/admin/?site={huge}").status_code == 200            # as if not given
        assert client.get(f"/admin/usage.json?site={huge}").status_code == 200
        assert client.post("/admin/jobs/retry", data={"csrf_token": csrf, "message_id": huge}).status_code == 404


def test_a_post_to_no_page_is_the_surfaces_404(kiosk_client):
    response = kiosk_client.post("/kiosk/no/such/form")
    assert response.status_code == 404 and response.mimetype == "text/html"


def test_a_value_the_database_refuses_is_a_400_not_a_500(make_app):
    import sqlalchemy as sa
    from flask import Blueprint

    app = make_app(create_schema=False)
    bp = Blueprint("refused", __name__)

    @bp.get("/api/v1/_refused")
    def refused():
        raise sa.exc.DataError("INSERT …", {}, Exception("integer out of range"))

    app.register_blueprint(bp)
    response = app.test_client().get("/api/v1/_refused")
    assert response.status_code == 400 and response.get_json()["message_zh"]


def test_the_audit_log_page_ignores_an_impossible_cursor(app, world):
    from tests.conftest import login

    client = app.test_client()
    login(client, "admin")
    assert client.get(f"/admin/audit?before={2**63}").status_code == 200


@pytest.mark.parametrize("path", ["/admin/login", "/kiosk/activate"])
@pytest.mark.parametrize("headers,allowed", [
    ({"Origin": "https://evil.example"}, False),
    ({"Origin": "null"}, False),
    ({"Referer": "https://evil.example/page"}, False),
    ({"Origin": "http://localhost"}, True),
    ({"Referer": "http://localhost/kiosk/activate"}, True),
    ({}, True),                                   # not a browser on another site
])
def test_forms_posted_from_another_site_are_refused(client, path, headers, allowed):
    response = client.post(path, data={"username": "x", "password": "y", "code": "ACDEF-GHJKM",
                                       "profile": "post-office-portrait"}, headers=headers)
    if allowed:
        assert response.status_code != 403
    else:
        assert response.status_code == 403 and response.mimetype == "text/html"
        assert "其他网站" in response.text


def test_the_json_api_is_not_subject_to_the_origin_check(client):
    response = client.post("/api/v1/kiosk/activate", json={"code": "ACDEF-GHJKM", "profile": "post-office-portrait"},
                           headers={"Origin": "https://evil.example"})
    assert response.status_code == 422
