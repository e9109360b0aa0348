"""POST /api/v1/courier/callbacks/<carrier>: 快递100's signed pushes and order callbacks move
bookings through record_tracking; replays add nothing, older news never moves a parcel back,
refusals are 401/400/404 and kept in the audit log without the body. On SQLite and PostgreSQL."""
from __future__ import annotations

import json
from datetime import timedelta

import pytest
import sqlalchemy as sa

from kiosk_backend.core.actors import staff
from kiosk_backend.core.audit import AuditEntry
from kiosk_backend.courier import carriers
from kiosk_backend.courier.models import Booking, TrackingEvent
from kiosk_backend.courier.states import Status
from tests.conftest import MONDAY_10
from tests.courier.carrier_support import booking_row
from tests.courier.kuaidi100_fake_server import FakeKuaidi100, Order, Subscription, local, path_and_query, upper_md5

SALT = "salt-0123456789abcdef0123456789ab"
CREDENTIALS = {"key": "kioskKey0123456", "customer": "CUSTOMER0123456789", "secret": "secret-0123456789",
               "salt": SALT}
BASE = "https://zwfw.example.gov.cn/api/v1/courier/callbacks/kuaidi100"
URL = "/api/v1/courier/callbacks/kuaidi100"
ACK = {"result": True, "returnCode": "200", "message": "成功"}
WAYBILL = "1100000000001"


@pytest.fixture
def account(db):
    account = carriers.save_account(db.session, "kuaidi100", CREDENTIALS, {"callback_url": BASE}, actor=staff("admin"))
    db.session.commit()
    return account


@pytest.fixture
def booking(db, site, account):
    booking = booking_row(db.session, site, created_at=MONDAY_10, carrier="kuaidi100", order_state="placed",
                          carrier_task_id="TASK:1", carrier_company="ems")
    db.session.commit()
    return booking


@pytest.fixture
def kuaidi100(db, booking):
    """快递100's side: the booking's order, subscribed to our tagged callback URL."""
    fake = FakeKuaidi100(accounts={CREDENTIALS["key"]: (CREDENTIALS["customer"], CREDENTIALS["secret"])})
    callback = carriers.gateway_for(db.session, "kuaidi100").callback_for(booking.order_no)
    fake.subscriptions[WAYBILL] = Subscription("ems", WAYBILL, callback, SALT, "1")
    fake.orders["TASK"] = Order(task_id="TASK", order_id="1", kuaidinum=WAYBILL, placed_at=0,
                                param={"kuaidicom": "ems", "callBackUrl": callback, "salt": SALT})
    return fake


def at(minutes: int) -> str:
    return local(MONDAY_10 + timedelta(minutes=minutes))


def trace(fake, *lines):
    fake.add_trace(WAYBILL, *lines)


ACCEPTED = (at(60), "【九江市浔阳路营业厅】已收寄", "103", "江西省九江市浔阳区")
DEPARTED = (at(300), "离开【九江市邮件处理中心】，下一站【北京市邮件处理中心】", "1002", "江西省九江市")
DELIVERING = (at(2000), "【北京市朝阳区投递支局】正在投递", "5", "北京市朝阳区")


def send(client, url: str, form: dict):
    return client.post(path_and_query(url), data=form)


def events_of(db, booking):
    return list(db.session.scalars(sa.select(TrackingEvent).where(TrackingEvent.booking_id == booking.id,
                                                                  TrackingEvent.source == "push")
                                   .order_by(TrackingEvent.occurred_at)))


def status_of(db, booking):
    db.session.expire_all()
    return db.session.get(Booking, booking.id).status


def refusals(db):
    return list(db.session.scalars(sa.select(AuditEntry).where(AuditEntry.action == "courier.push_refused")))


def test_a_signed_push_applies_its_events_and_gets_the_answer_kuaidi100_expects(client, db, booking, kuaidi100):
    trace(kuaidi100, ACCEPTED, DEPARTED)
    response = send(client, *kuaidi100.tracking_push(WAYBILL))
    assert response.status_code == 200 and response.get_json() == ACK
    assert status_of(db, booking) == Status.IN_TRANSIT
    events = events_of(db, booking)
    assert [(e.status, e.raw_code, e.raw_text, e.location) for e in events] == [
        (Status.ACCEPTED, "1", "【九江市浔阳路营业厅】已收寄", "江西省九江市浔阳区"),
        (Status.IN_TRANSIT, "0", "离开【九江市邮件处理中心】，下一站【北京市邮件处理中心】", "江西省九江市")]
    assert [e.occurred_at for e in events] == [MONDAY_10 + timedelta(minutes=60), MONDAY_10 + timedelta(minutes=300)]


def test_a_replayed_push_is_answered_as_received_and_adds_nothing(client, db, booking, kuaidi100):
    trace(kuaidi100, ACCEPTED, DEPARTED)
    url, form = kuaidi100.tracking_push(WAYBILL)
    assert send(client, url, form).status_code == 200
    first = [(e.id, e.dedupe_key) for e in events_of(db, booking)]
    again = send(client, url, form)
    assert again.status_code == 200 and again.get_json() == ACK
    assert [(e.id, e.dedupe_key) for e in events_of(db, booking)] == first
    assert status_of(db, booking) == Status.IN_TRANSIT


def test_an_older_push_arriving_late_does_not_move_the_parcel_back(client, db, booking, kuaidi100):
    trace(kuaidi100, ACCEPTED, DEPARTED, DELIVERING)
    later = kuaidi100.tracking_push(WAYBILL)
    kuaidi100.traces[WAYBILL] = []
    trace(kuaidi100, ACCEPTED, (at(120), "到达【九江市邮件处理中心】", "1002", "江西省九江市"))
    earlier = kuaidi100.tracking_push(WAYBILL)
    assert send(client, *later).status_code == 200
    assert status_of(db, booking) == Status.OUT_FOR_DELIVERY
    assert send(client, *earlier).status_code == 200
    assert status_of(db, booking) == Status.OUT_FOR_DELIVERY
    events = events_of(db, booking)
    assert len(events) == 4  # the older line is kept on the timeline, once
    assert [e.applied for e in events if e.raw_text == "到达【九江市邮件处理中心】"] == [False]


@pytest.mark.parametrize("tamper", ["wrong_salt", "no_sign", "changed_param"])
def test_a_push_with_a_bad_signature_is_refused_with_401_and_recorded_without_its_body(client, db, booking, kuaidi100,
                                                                                          tamper):
    trace(kuaidi100, ACCEPTED)
    url, form = kuaidi100.tracking_push(WAYBILL, sign_with="not-our-salt" if tamper == "wrong_salt" else None)
    if tamper == "no_sign":
        form.pop("sign")
    if tamper == "changed_param":
        form["param"] = form["param"].replace("已收寄", "已妥投")
    response = send(client, url, form)
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == 'Carrier-Signature realm="kiosk-backend"'
    assert response.get_json()["errors"] == {"signature": ["bad_signature"]}
    assert events_of(db, booking) == [] and status_of(db, booking) == Status.PENDING_PICKUP
    [entry] = refusals(db)
    assert entry.actor == "courier:kuaidi100" and entry.details["reason"] == "bad_signature"
    assert entry.details["bytes"] > 0 and "浔阳" not in json.dumps(entry.details, ensure_ascii=False)


def test_a_push_replayed_to_another_orders_callback_url_is_refused(client, db, site, booking, kuaidi100):
    other = booking_row(db.session, site, created_at=MONDAY_10, carrier="kuaidi100")
    db.session.commit()
    trace(kuaidi100, ACCEPTED)
    url, form = kuaidi100.tracking_push(WAYBILL)
    response = client.post(f"{URL}?order_no={other.order_no}&tag={url.rsplit('tag=', 1)[1]}", data=form)
    assert response.status_code == 401
    assert events_of(db, other) == [] and events_of(db, booking) == []


def test_a_push_without_our_query_finds_the_booking_by_its_waybill(client, db, site, account, kuaidi100):
    booking = booking_row(db.session, site, created_at=MONDAY_10, carrier="kuaidi100", waybill_no="1100000000002")
    db.session.commit()
    kuaidi100.subscriptions["1100000000002"] = Subscription("ems", "1100000000002", BASE, SALT, "1")
    kuaidi100.add_trace("1100000000002", ACCEPTED)
    response = send(client, *kuaidi100.tracking_push("1100000000002"))
    assert response.status_code == 200 and status_of(db, booking) == Status.ACCEPTED


def test_an_order_callback_moves_the_booking_and_brings_its_waybill(client, db, booking, kuaidi100):
    assert booking.waybill_no is None
    response = send(client, *kuaidi100.order_callback("TASK", 10))
    assert response.status_code == 200 and response.get_json() == ACK
    db.session.expire_all()
    stored = db.session.get(Booking, booking.id)
    assert (stored.status, stored.waybill_no) == (Status.ACCEPTED, WAYBILL)
    [event] = events_of(db, booking)
    assert (event.raw_code, event.raw_text) == ("order:10", "已取件")
    assert "13900001111" not in event.raw_text
    assert send(client, *kuaidi100.order_callback("TASK", 10)).status_code == 200  # sent again
    assert len(events_of(db, booking)) == 1


def test_events_of_no_booking_of_ours_are_answered_as_received(client, db, account, kuaidi100):
    kuaidi100.subscriptions["1100000009999"] = Subscription("ems", "1100000009999", BASE, SALT, "1")
    kuaidi100.add_trace("1100000009999", ACCEPTED)
    response = send(client, *kuaidi100.tracking_push("1100000009999"))
    assert response.status_code == 200 and response.get_json() == ACK
    assert db.session.scalar(sa.select(sa.func.count()).select_from(TrackingEvent)) == 0


def test_a_signed_push_that_is_not_a_push_is_refused_with_400(client, db, account):
    param = json.dumps({"hello": "world"})
    response = client.post(URL, data={"param": param, "sign": upper_md5(param + SALT)})
    assert response.status_code == 400 and response.get_json()["errors"] == {"param": ["malformed"]}
    assert [e.details["reason"] for e in refusals(db)] == ["malformed"]


@pytest.mark.parametrize("carrier", ["demo", "ups", "kuaidi100"])
def test_a_carrier_that_pushes_nothing_here_is_refused_as_unknown_and_not_audited(client, db, carrier):
    # kuaidi100 without an account: nobody was given this URL, nor a salt to sign with.
    response = client.post(f"/api/v1/courier/callbacks/{carrier}", data={"param": "{}", "sign": "0" * 32})
    assert response.status_code == 401 and response.get_json()["errors"] == {"signature": ["unknown_carrier"]}
    assert response.headers["WWW-Authenticate"] == 'Carrier-Signature realm="kiosk-backend"'
    assert refusals(db) == []


def test_an_inactive_account_takes_no_pushes(client, db, account):
    carriers.set_active(db.session, "kuaidi100", False, actor=staff("admin"))
    db.session.commit()
    response = client.post(URL, data={"param": "{}", "sign": "0" * 32})
    assert response.status_code == 401 and response.get_json()["errors"] == {"signature": ["unknown_carrier"]}


def test_a_push_without_param_or_with_an_overlong_one_is_422_and_an_oversized_body_413(client, db, account):
    assert client.post(URL, data={"sign": "0" * 32}).status_code == 422
    assert client.post(URL, data={"param": "x" * (64 * 1024 + 1), "sign": "0" * 32}).status_code == 422
    assert client.post(URL, data={"param": "x" * (1024 * 1024), "sign": "0" * 32}).status_code == 413
    assert refusals(db) == []


def test_the_push_is_documented_with_the_carriers_signature(client):
    spec = client.get("/api/v1/openapi.json").get_json()
    operation = spec["paths"]["/api/v1/courier/callbacks/{carrier}"]["post"]
    assert operation["security"] == [{"carrier_signature": []}]
    scheme = spec["components"]["securitySchemes"]["carrier_signature"]
    assert "MD5(param + salt)" in scheme["description"]
    body = operation["requestBody"]["content"]["application/x-www-form-urlencoded"]["schema"]
    assert body["$ref"].endswith("/PushForm")
    form = spec["components"]["schemas"]["PushForm"]
    assert form["required"] == ["param"] and set(form["properties"]) == {"param", "sign"}
    assert {p["name"] for p in operation["parameters"] if p["in"] == "query"} == {"order_no", "tag"}
