"""Resident A cannot see or cancel resident B's bookings, nor read, delete or default B's
addresses, by any route (SECURITY.md, "Looking up other people's data"; issue 10, §5).

The routes are discovered from the app's URL map — every rule under /m/bookings,
/api/v1/booking(s), /api/v1/addresses, /api/v1/pickup-slots and /kiosk/courier, with every
method — so a route added later is covered without touching this file. Each is asked about
B's things by A (logged in at a kiosk, on the phone and in the mini-app at once) and by
nobody: B's order number and address id in the path, B's application, address id and order
number in the query and the body. Never in the answer: B's masked name and mobiles, B's
addresses, waybill, item or handling office, nor B's order number unless the request itself
carried it. A route that names B's booking or address in its path answers exactly as for
one nobody has; and afterwards B's booking is still booked and B's address book unchanged.
"""
from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from datetime import timedelta

import pytest
import sqlalchemy as sa
from werkzeug.routing import AnyConverter, IntegerConverter

from kiosk_backend.core.actors import SYSTEM
from kiosk_backend.core.clock import utcnow
from kiosk_backend.courier import services
from kiosk_backend.courier.models import Booking, HandlingAuthority, SavedAddress
from kiosk_backend.identity import sessions

from ..applications.test_api import token_for
from .conftest import event

PREFIXES = ("/m/bookings", "/api/v1/booking", "/api/v1/addresses", "/api/v1/pickup-slots", "/kiosk/courier")
SAME_ORIGIN = {"Origin": "http://localhost"}
B_NAME, B_ID, B_PHONE = "欧阳娜娜", "440524188001010014", "13900139111"
B_APP, B_ITEM, B_ORG = "BBBB00000001", "乙的专属事项", "乙市公安局"
B_WAYBILL = "EB000000009CN"
UNKNOWN_ORDER, UNKNOWN_APP, UNKNOWN_ADDRESS = "KB20260101ZZZZZZZZ", "NOSUCH000001", 2_000_000_000
# What only B (and B's own pages) may show.
B_MARKS = ("欧**娜", "136****6000", "139****9111", "甲乙丙路 9 号", "乙的单位 77 号", "乙市人民路 88 号", B_WAYBILL,
           B_ITEM, B_ORG)


@dataclass(frozen=True)
class Secrets:
    """B's identifiers as a request carries them (or the unknown ones in their place)."""

    order_no: str
    address_id: int
    application: str


@dataclass(frozen=True)
class Request:
    method: str
    rule: str
    values: tuple  # (name, value) of the rule's arguments; B's are filled in at send time
    body: str = "none"  # none | cancel | booking | booking_with_address | booking_with_application | address | form
    names_b: frozenset = field(default_factory=frozenset)  # which of B's identifiers the path carries

    def path(self, app, ids: Secrets) -> str:
        values = {}
        for name, value in self.values:
            values[name] = {"order_no": ids.order_no, "address_id": ids.address_id}.get(name, value)
        adapter = app.url_map.bind("localhost")
        return adapter.build(self.rule_endpoint(app), values, method=self.method)

    def rule_endpoint(self, app) -> str:
        return next(r.endpoint for r in app.url_map.iter_rules() if r.rule == self.rule and self.method in r.methods)

    def send(self, client, api_header: dict, ids: Secrets, slot):
        path = self.path(client.application, ids)
        query = {"application": ids.application, "purpose": "result_to_applicant", "site": "JZ01"} \
            if self.method == "GET" and not self.names_b else None
        if path.startswith("/api/"):
            return client.open(path, method=self.method, query_string=query, headers=api_header,
                               json=self.json_body(ids, slot) if self.method != "GET" else None)
        if self.method == "GET":
            return client.get(path, query_string=query)
        form = {"t": "forged", "order_no": ids.order_no, "application": ids.application,
                "address_id": str(ids.address_id), "sender_address_id": str(ids.address_id), "reason": "x"}
        return client.open(path, method=self.method, data=form, headers=SAME_ORIGIN)

    def json_body(self, ids: Secrets, slot) -> dict:
        party = {"name": "张三", "mobile": "13800138000", "province_code": "36", "city_code": "3604",
                 "county_code": "360403", "address": "浔阳路 1 号"}
        booking = {"purpose": "standalone", "sender": {**party, "mobile": None}, "recipient": party,
                   "item_type": "materials", "weight_grams": 100, "payer": "sender", "pickup_mode": "counter",
                   "site_id": slot.site_id, "slot_id": slot.id}
        if self.body == "booking_with_address":  # B's stored mobile as A's sender's
            return {**booking, "sender_address_id": ids.address_id}
        if self.body == "booking_with_application":  # B's application, B's number on record
            return {**booking, "purpose": "result_to_applicant", "application_number": ids.application,
                    "sender_uses_resident_mobile": True}
        if self.body == "booking":
            return booking
        if self.body == "address":
            return party
        if self.body == "slot":  # a real window of the site: only whose booking it is decides
            return {"slot_id": slot.id}
        return {}


def _values(rule) -> list[dict]:
    """Values for a rule's arguments: B's for ``order_no`` and ``address_id`` (filled in at
    send time), each choice of an ``any`` converter, 1 for an integer, "x" otherwise."""
    choices = {}
    for name in rule.arguments:
        converter = rule._converters[name]
        if name in ("order_no", "address_id"):
            choices[name] = [None]
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
        names_b = frozenset(rule.arguments & {"order_no", "address_id"})
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            for values in _values(rule):
                bodies = ["none"]
                if rule.rule.startswith("/api/") and method != "GET":
                    bodies = {"courier_api.create_booking": ["booking_with_address", "booking_with_application"],
                              "courier_api.add_address": ["address"],
                              "courier_api.change_slot": ["slot"]}.get(rule.endpoint, ["cancel"])
                elif method != "GET":
                    bodies = ["form"]
                found += [Request(method, rule.rule, tuple(sorted(values.items())), body, names_b) for body in bodies]
    return found


def text_of(answer) -> str:
    body = answer.get_data(as_text=True) if answer.mimetype.startswith(("text/", "application/json")) \
        else answer.get_data().decode("latin-1")
    return body + answer.headers.get("Location", "")


@pytest.fixture
def world(app, db, booker, make_booker, make_booking, make_application, make_kiosk):
    """B with an application, a booking of its result (waybill known, still cancellable) and
    an address; A (the conftest's booker) with a booking of their own, logged in at a kiosk,
    on the phone and in the mini-app."""
    resident_b = make_booker(B_NAME, id_number=B_ID, phone=B_PHONE)
    make_application("concluded", number=B_APP, name=B_NAME, id_number=B_ID, phone=B_PHONE, item_name=B_ITEM,
                     handling_org=B_ORG)
    db.session.add(HandlingAuthority(org_name=B_ORG, region_code="360400", recipient_name="收件窗口",
                                     phone="0792-8220000", province_code="36", city_code="3604",
                                     county_code="360403", address="乙市人民路 88 号"))
    entry = services.save_address(db.session, resident_b, services.PartyIn(
        name=B_NAME, mobile=None, province_code="36", city_code="3604", county_code="360402",
        address="乙的单位 77 号"), label="单位", actor=SYSTEM)
    db.session.commit()
    start = utcnow() - timedelta(hours=1)
    theirs = make_booking(resident_b, now=lambda: start, purpose="result_to_applicant", application_number=B_APP,
                          item_type="licence", recipient=services.PartyIn(
                              name=B_NAME, mobile="13600136000", province_code="36", city_code="3604",
                              county_code="360403", address="甲乙丙路 9 号"))
    services.record_tracking(db.session, theirs, [event("pending_pickup", start + timedelta(minutes=5),
                                                        "快递员已接单", waybill_no=B_WAYBILL)], source="push")
    db.session.commit()
    mine = make_booking(booker, now=lambda: start)  # A's own, listed to A
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

    return {"A": visitor(booker), "nobody": visitor(), "visitor": visitor, "B": resident_b, "theirs": theirs,
            "mine": mine, "entry": entry,
            "ids": Secrets(theirs.order_no, entry.id, B_APP),
            "unknown": Secrets(UNKNOWN_ORDER, UNKNOWN_ADDRESS, UNKNOWN_APP)}


def test_the_matrix_covers_the_phone_pages_the_api_and_the_kiosk(app):
    rules = {r.rule for r in requests_of(app)}
    assert {"/m/bookings", "/m/bookings/<string(maxlength=32):order_no>",
            "/m/bookings/<string(maxlength=32):order_no>/cancel", "/api/v1/bookings",
            "/api/v1/bookings/<string(maxlength=32):order_no>", "/api/v1/bookings/<string(maxlength=32):order_no>/cancel",
            "/api/v1/addresses", "/api/v1/addresses/<int(max=2147483647):address_id>",
            "/api/v1/addresses/<int(max=2147483647):address_id>/default", "/api/v1/booking-prefill",
            "/api/v1/pickup-slots", "/api/v1/bookings/<string(maxlength=32):order_no>/slot"} <= rules
    # Every route of the kiosk's courier screens and the phone's and mini-app's, whatever they are by now.
    ours = {rule.rule for rule in app.url_map.iter_rules()
            if rule.endpoint.startswith(("kiosk.courier.", "mobile.courier.", "courier_api."))}
    assert ours <= rules
    methods = {(r.method, r.rule) for r in requests_of(app)}
    assert ("POST", "/m/bookings/<string(maxlength=32):order_no>/cancel") in methods
    assert ("DELETE", "/api/v1/addresses/<int(max=2147483647):address_id>") in methods


@pytest.mark.parametrize("who", ["A", "nobody"])
def test_nobody_but_b_sees_or_touches_bs_bookings_and_addresses_by_any_route(db, world, who, subtests):
    client, header = world[who]
    ids, unknown = world["ids"], world["unknown"]
    slot = world["mine"].slot
    for request in requests_of(client.application):
        label = f"{who}: {request.method} {request.path(client.application, ids)} ({request.body})"
        with subtests.test(label):
            answer = request.send(client, header, ids, slot)
            seen = text_of(answer)
            assert answer.status_code < 500, seen[:500]
            assert not [mark for mark in B_MARKS if mark in seen], seen[:2000]
            if "order_no" not in request.names_b and request.body != "form":
                assert ids.order_no not in seen  # the request did not name it: nothing may
            if request.names_b or request.body.startswith("booking_with"):
                # B's booking or address is answered as one nobody has.
                other = request.send(client, header, unknown, slot)
                assert answer.status_code == other.status_code, (answer.status_code, other.status_code)
                if not request.rule.startswith("/kiosk/"):  # kiosk pages carry per-request tokens and times
                    strip = [(ids.order_no, "<o>"), (unknown.order_no, "<o>")]
                    mine, theirs = text_of(answer), text_of(other)
                    for old, new in strip:
                        mine, theirs = mine.replace(old, new), theirs.replace(old, new)
                    assert mine == theirs
    db.session.expire_all()
    theirs = db.session.get(Booking, world["theirs"].id)
    assert (theirs.status, theirs.order_state, theirs.cancelled_at) == ("pending_pickup", "pending", None)
    entries = db.session.scalars(sa.select(SavedAddress).where(SavedAddress.resident_id == world["B"].id)).all()
    assert [(e.id, e.is_default) for e in entries] == [(world["entry"].id, True)]
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Booking)
                             .where(Booking.resident_id != world["B"].id)) == 1  # A booked nothing with B's things


def test_without_login_the_api_says_401_and_the_phone_pages_send_to_login(world):
    client, _ = world["nobody"]
    order_no = world["ids"].order_no
    for path in ("/api/v1/bookings", f"/api/v1/bookings/{order_no}", "/api/v1/addresses"):
        assert client.get(path).status_code == 401
    answer = client.get(f"/m/bookings/{order_no}")
    assert answer.status_code == 302 and answer.headers["Location"] == f"/m/login?next=/m/bookings/{order_no}"


def test_a_key_b_used_replays_nothing_to_a(client, world):
    """Idempotency-Keys are per resident: A sending B's key and body books A's own (or is
    refused on its own merits), never gets B's stored answer."""
    _, a_header = world["A"]
    _, b_header = world["visitor"](world["B"])
    slot = world["mine"].slot
    body = Request("POST", "/api/v1/bookings", (), "booking").json_body(world["ids"], slot)
    body = {**body, "sender": {**body["sender"], "mobile": "13600136000", "name": B_NAME}}
    key = {"Idempotency-Key": "b-key-1"}
    theirs = client.post("/api/v1/bookings", json=body, headers={**b_header, **key})
    assert theirs.status_code == 201
    mine = client.post("/api/v1/bookings", json=body, headers={**a_header, **key})
    assert mine.status_code == 201 and "Idempotent-Replayed" not in mine.headers
    assert mine.json["order_no"] != theirs.json["order_no"]


def test_b_does_see_and_change_their_own_where_a_is_refused(db, world):
    """The control of the matrix: the same routes do show B's marks to B and do act for B, so
    their absence above is A being refused, not a page that never shows them."""
    client, header = world["visitor"](world["B"])
    ids, slot = world["ids"], world["mine"].slot
    shown = [request for request in requests_of(client.application)
             if "order_no" in request.names_b and request.method == "GET"
             and request.rule.startswith(("/api/", "/m/"))]
    assert len(shown) >= 3
    for request in shown:
        answer = request.send(client, header, ids, slot)
        text = text_of(answer)
        assert answer.status_code == 200 and "欧**娜" in text and B_WAYBILL in text, request
    kiosk_page = client.get(f"/kiosk/courier/bookings/{ids.order_no}")
    assert kiosk_page.status_code == 200 and ids.order_no in kiosk_page.text
    listed = client.get("/api/v1/addresses", headers=header)
    assert "乙的单位 77 号" in listed.text and "139****9111" in listed.text
    assert client.post(f"/api/v1/addresses/{ids.address_id}/default", headers=header).status_code == 200
    cancelled = client.post(f"/m/bookings/{ids.order_no}/cancel", data={}, headers=SAME_ORIGIN)
    assert cancelled.status_code == 303
    assert client.delete(f"/api/v1/addresses/{ids.address_id}", headers=header).status_code == 204
    db.session.expire_all()
    assert db.session.get(Booking, world["theirs"].id).status == "cancelled"
    assert db.session.get(SavedAddress, ids.address_id) is None
