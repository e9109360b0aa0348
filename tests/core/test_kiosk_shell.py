"""core.kiosk_shell: how a kiosk presents its credential."""
from __future__ import annotations

import pytest

from kiosk_backend.core.kiosk_shell import credential_from_request


@pytest.mark.parametrize("headers,expected", [
    ({"Authorization": "Kiosk abc"}, "abc"),
    ({"Authorization": "kiosk  abc "}, "abc"),
    ({"Authorization": "Kiosk abc", "Cookie": "kiosk_credential=cookie"}, "abc"),   # the header wins
    ({"Cookie": "kiosk_credential=cookie"}, "cookie"),
    ({"Authorization": "Bearer abc"}, None),
    ({"Authorization": "Kiosk "}, None),
    ({"Cookie": "kiosk_credential="}, None),
    ({}, None),
])
def test_the_credential_comes_from_the_header_or_the_cookie(app, headers, expected):
    with app.test_request_context("/kiosk/", headers=headers):
        assert credential_from_request() == expected
