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
