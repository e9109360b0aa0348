"""Resident A cannot see resident B's applications by any route (SECURITY.md, "Looking up
other people's data").

The routes are discovered from the app's URL map — every rule under /kiosk/progress,
/m/applications and /api/v1/application(s), with every method — so a route added later is
covered without touching this file. Each is asked about B's application by A (logged in at
a kiosk, on the phone and in the mini-app at once) and by nobody, with A's last 4 characters
as the second factor where a form takes one. Never in the answer: B's masked name, ID or
mobile number, item or handling office, nor B's number unless the request itself carried it;
a route that takes the number in its path answers exactly as for a number nobody has.
"""
from __future__ import annotations

import itertools
from dataclasses import dataclass

import pytest
from werkzeug.routing import AnyConverter, IntegerConverter

from kiosk_backend.core.actors import SYSTEM
from kiosk_backend.identity import sessions

from ..conftest import APPLICANT_ID
from .test_api import B_ID, b_marks, make_b, token_for

PREFIXES = ("/kiosk/progress", "/m/applications", "/api/v1/application")
B_NUMBER, UNKNOWN = "BBBB00000001", "NOSUCH000001"
A_TAILS = ("002X", "8000")  # A's ID and phone tails: wrong for B's application
SAME_ORIGIN = {"Origin": "http://localhost"}


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    rule: str
    has_number: bool  # the path names the application
    tail: str | None = None

    def send(self, client, api_header: dict, number: str):
        path = self.path.replace(B_NUMBER, number)
        if self.method == "GET":
            return client.get(path, headers=api_header if path.startswith("/api/") else {})
        if path.startswith("/api/"):
            return client.open(path, method=self.method, json={"number": number, "tail": self.tail},
                               headers=api_header)
        form = {"number": number, "tail": self.tail}
        if path.startswith("/kiosk/"):
            form["t"] = "forged"  # the kiosk's view token: a forged one opens nothing
        return client.open(path, method=self.method, data=form, headers=SAME_ORIGIN)


def _values(rule) -> list[dict]:
    """Values for a rule's arguments: B's number for ``number``, each choice of an ``any``
    converter, 1 for an integer, "x" otherwise."""
    choices = {}
    for name in rule.arguments:
        converter = rule._converters[name]
        if name == "number":
            choices[name] = [B_NUMBER]
        elif isinstance(converter, AnyConverter):
            choices[name] = sorted(converter.items)
        elif isinstance(converter, IntegerConverter):
            choices[name] = [1]
        else:
            choices[name] = ["x"]
    names = sorted(choices)
    return [dict(zip(names, combination, strict=True)) for combination in itertools.product(*(choices[n] for n in names))]


def requests_of(app) -> list[Request]:
    found = []
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith(PREFIXES):
            continue
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            for values in _values(rule):
                _, path = rule.build(values, append_unknown=False)
                tails = A_TAILS if method != "GET" else (None,)
                found += [Request(method, path, rule.rule, "number" in rule.arguments, tail) for tail in tails]
    return found


@pytest.fixture
def world(app, db, make_resident, make_application, make_kiosk):
    """B's application; A with sessions at a kiosk, on the phone and in the mini-app; a
    kiosk nobody is logged in at."""
    make_application("in_progress", number="AAAA00000001")  # A's own, listed to A
    make_b(make_application, number=B_NUMBER)
    resident_a = make_resident("张三", id_number=APPLICANT_ID)
    kiosk, credential = make_kiosk()

    def visitor(resident=None):
        client = app.test_client()
        client.set_cookie("kiosk_credential", credential)
        header = {}
        if resident is not None:
            _, kiosk_token = sessions.start(db.session, channel="kiosk", resident=resident, kiosk_id=kiosk.id,
                                            idle_seconds=600, absolute_seconds=900, actor=SYSTEM)
            db.session.commit()
            client.set_cookie("kiosk_session", kiosk_token, path="/kiosk")
            client.set_cookie("resident_session", token_for(db, resident, "mobile"), path="/m")
            header = {"Authorization": f"Resident {token_for(db, resident)}"}
        return client, header

    return {"A": visitor(resident_a), "nobody": visitor(), "visitor": visitor}


def test_the_matrix_covers_the_phone_pages_the_api_and_the_kiosk(app):
    rules = {r.rule for r in requests_of(app)}
    assert {"/m/applications", "/m/applications/<string(maxlength=64):number>", "/api/v1/applications",
            "/api/v1/applications/<string(maxlength=64):number>", "/api/v1/application-lookup"} <= rules
    # Every route of the kiosk's progress screens too, whatever they are by now.
    kiosk = {rule.rule for rule in app.url_map.iter_rules() if rule.endpoint.startswith("kiosk.progress.")}
    assert kiosk <= rules


@pytest.mark.parametrize("who", ["A", "nobody"])
def test_nobody_but_b_sees_bs_application_by_any_route(world, who, subtests):
    client, header = world[who]
    private = b_marks(B_NUMBER)[1:]  # masked name, item, office, masked ID and phone
    for request in requests_of(client.application):
        with subtests.test(f"{who}: {request.method} {request.path} tail={request.tail}"):
            answer = request.send(client, header, B_NUMBER)
            body = answer.get_data(as_text=True) if answer.mimetype.startswith(("text/", "application/json")) \
                else answer.get_data().decode("latin-1")
            seen = body + answer.headers.get("Location", "")
            assert answer.status_code < 500, body[:500]
            assert not [mark for mark in private if mark in seen], body[:2000]
            if not request.has_number and request.method == "GET":
                assert B_NUMBER not in seen  # the request did not name it: nothing may
            if 300 <= answer.status_code < 400:
                location = answer.headers["Location"]
                assert B_NUMBER not in location.split("?", 1)[0] or request.has_number, location
            if request.has_number:
                # Someone else's number is answered as a number nobody has.
                unknown = request.send(client, header, UNKNOWN)
                assert answer.status_code == unknown.status_code
                if not request.path.startswith("/kiosk/"):  # kiosk pages carry per-request tokens and times
                    assert body.replace(B_NUMBER, "<n>") == unknown.get_data(as_text=True).replace(UNKNOWN, "<n>")


def test_without_login_the_api_says_401_and_the_phone_list_sends_to_login(world):
    client, _ = world["nobody"]
    for path in ("/api/v1/applications", f"/api/v1/applications/{B_NUMBER}"):
        assert client.get(path).status_code == 401
    answer = client.get("/m/applications")
    assert answer.status_code == 302 and answer.headers["Location"] == "/m/login?next=/m/applications"


def test_b_does_see_their_own_application_where_a_is_refused(world, make_resident):
    """The control of the matrix: the same routes do show B's marks to B, so their absence
    above is A being refused, not a page that never shows them."""
    client, header = world["visitor"](make_resident("欧阳娜娜", id_number=B_ID))
    shown = [request for request in requests_of(client.application)
             if request.has_number and request.method == "GET"]
    assert len(shown) >= 2
    for request in shown:
        answer = request.send(client, header, B_NUMBER)
        assert answer.status_code == 200 and "欧**娜" in answer.get_data(as_text=True), request
