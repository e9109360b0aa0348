"""The mini-app's courier API (courier/api.py): booking with an Idempotency-Key, every bad
field named, a full window, my bookings (paged, newest first), one with its timeline,
cancelling before pickup only, open pickup slots, the form's prefill, the address book —
masked personal data only, and someone else's things answered as unknown ones."""
from __future__ import annotations

import copy
import json
from datetime import timedelta

import pytest
import sqlalchemy as sa

from kiosk_backend.core.clock import utcnow
from kiosk_backend.core.idempotency import IdempotencyKey
from kiosk_backend.courier import services
from kiosk_backend.courier.models import Booking, HandlingAuthority, PickupSlot, SavedAddress

from ..applications.test_api import as_resident, token_for
from ..conftest import APPLICANT_PHONE, SITE2
from .conftest import RECIPIENT_MOBILE, SENDER_MOBILE, china_today, ensure_authority, event
from .test_jobs import run as run_job

B_NAME, B_ID, B_PHONE = "欧阳娜娜", "440524188001010014", "13900139111"
B_MOBILE_SENT = "13600136000"  # a number B types into a booking
BOOKINGS = "/api/v1/bookings"
KEY = {"Idempotency-Key": "3f0c7a52-booking-1"}
FULL_NUMBERS = (APPLICANT_PHONE, SENDER_MOBILE, RECIPIENT_MOBILE, B_PHONE, B_MOBILE_SENT)


def party_json(**overrides) -> dict:
    values = dict(name="张三", mobile=SENDER_MOBILE, province_code="36", city_code="3604", county_code="360403",
                  address="浔阳路 1 号 2 单元 301", postcode="332000")
    values.update(overrides)
    return values


def recipient_json(**overrides) -> dict:
    values = dict(name="李四", mobile=RECIPIENT_MOBILE, province_code="44", city_code="4403", county_code="440303",
                  address="深南东路 5002 号", postcode="518001")
    values.update(overrides)
    return values


def body(slot, **overrides) -> dict:
    values = dict(purpose="standalone", sender=party_json(), recipient=recipient_json(), item_type="materials",
                  pieces=1, weight_grams=500, insured_value_fen=0, payer="sender", pickup_mode="counter",
                  site_id=slot.site_id, slot_id=slot.id)
    values.update(overrides)
    return values


def count(db, model) -> int:
    db.session.expire_all()
    return db.session.scalar(sa.select(sa.func.count()).select_from(model))


def taken(db, slot) -> int:
    db.session.expire_all()
    return db.session.get(PickupSlot, slot.id).taken


def no_full_number(text: str) -> bool:
    return not any(number in text for number in FULL_NUMBERS)


def leaves(tree, prefix: str = "") -> set[str]:
    """The dotted paths of an error tree: {"sender": {"mobile": [...]}} → {"sender.mobile"}."""
    if isinstance(tree, dict):
        return set().union(*(leaves(value, f"{prefix}.{key}" if prefix else str(key)) for key, value in tree.items()))
    return {prefix}


@pytest.fixture
def a(db, booker) -> dict:
    """The header of 张三's mini-app session (the conftest's booker: mobile on record)."""
    return as_resident(token_for(db, booker))


@pytest.fixture
def resident_b(make_booker):
    return make_booker(B_NAME, id_number=B_ID, phone=B_PHONE)


@pytest.fixture
def b(db, resident_b) -> dict:
    return as_resident(token_for(db, resident_b))


@pytest.fixture
def slot(make_slot):
    return make_slot(capacity=5)


# ---------------------------------------------------------------- booking

def test_a_booking_is_saved_waiting_for_pickup_and_answered_masked_with_its_location(client, db, a, slot):
    answer = client.post(BOOKINGS, json=body(slot), headers={**a, **KEY})
    assert answer.status_code == 201, answer.text
    view = answer.json
    assert answer.headers["Location"] == f"/api/v1/bookings/{view['order_no']}"
    assert "Idempotent-Replayed" not in answer.headers
    assert (view["status"], view["status_text"], view["order_state"]) == ("pending_pickup", "待揽收", "pending")
    assert (view["purpose"], view["purpose_text"], view["payer_text"]) == ("standalone", "寄件", "寄件人付费")
    assert view["sender"] == {"name_masked": "张*", "mobile_masked": "139****9000", "province_code": "36",
                              "city_code": "3604", "county_code": "360403", "region": "江西省九江市浔阳区",
                              "address": "浔阳路 1 号 2 单元 301", "postcode": "332000"}
    assert (view["recipient"]["name_masked"], view["recipient"]["mobile_masked"]) == ("李*", "137****7000")
    assert view["slot"] == {"id": slot.id, "day": slot.day.isoformat(), "starts": "09:00", "ends": "11:00"}
    assert view["cancellable"] is True and view["waybill_no"] is None and view["application_number"] is None
    assert [(e["status"], e["source"]) for e in view["timeline"]] == [("pending_pickup", "ours")]
    assert no_full_number(answer.text) and "张三" not in answer.text and "李四" not in answer.text
    booking = db.session.scalar(sa.select(Booking))
    assert (booking.channel, booking.order_no, taken(db, slot)) == ("api", view["order_no"], 1)
    assert services.mobile_of(booking, "sender") == SENDER_MOBILE  # kept sealed, not lost


def test_a_retry_with_the_same_key_and_body_replays_the_first_answer(client, db, a, slot):
    first = client.post(BOOKINGS, json=body(slot), headers={**a, **KEY})
    # The same body with its keys in another order and other spacing is the same request.
    same = json.dumps(dict(reversed(list(body(slot).items()))), ensure_ascii=False, indent=2)
    again = client.post(BOOKINGS, data=same, content_type="application/json", headers={**a, **KEY})
    assert (first.status_code, again.status_code) == (201, 201)
    assert again.json == first.json and again.headers["Location"] == first.headers["Location"]
    assert again.headers["Idempotent-Replayed"] == "true"
    assert count(db, Booking) == 1 and taken(db, slot) == 1


def test_the_same_key_with_another_body_is_a_422_naming_the_header(client, db, a, slot):
    assert client.post(BOOKINGS, json=body(slot), headers={**a, **KEY}).status_code == 201
    other = client.post(BOOKINGS, json=body(slot, pieces=2), headers={**a, **KEY})
    assert other.status_code == 422
    assert other.json["errors"] == {"headers": {"Idempotency-Key": ["reused with a different request"]}}
    assert "Idempotency-Key" in other.json["message"] and other.json["message_zh"]
    assert count(db, Booking) == 1 and taken(db, slot) == 1


def test_the_same_key_while_the_first_request_still_runs_is_a_409_with_retry_after(app, client, db, a, booker, slot):
    from kiosk_backend.core import idempotency

    # The first request holds the key (claimed, not finished): as a request in flight does.
    with app.test_request_context(BOOKINGS, method="POST", json=body(slot)):
        fingerprint = idempotency.request_hash()
    keep, lease = idempotency.settings(app.config)
    claim = idempotency.begin(f"resident:{booker.id}", KEY["Idempotency-Key"], fingerprint, keep=keep, lease=lease)
    assert isinstance(claim, idempotency.Claim)
    answer = client.post(BOOKINGS, json=body(slot), headers={**a, **KEY})
    assert answer.status_code == 409 and int(answer.headers["Retry-After"]) >= 1
    assert answer.json["errors"] == {"headers": {"Idempotency-Key": ["in progress"]}}
    assert count(db, Booking) == 0 and taken(db, slot) == 0


def test_keys_are_each_residents_own(client, db, a, b, slot):
    mine = client.post(BOOKINGS, json=body(slot), headers={**a, **KEY})
    theirs = client.post(BOOKINGS, json=body(slot), headers={**b, **KEY})  # the same key and body, another resident
    assert (mine.status_code, theirs.status_code) == (201, 201)
    assert "Idempotent-Replayed" not in theirs.headers and theirs.json["order_no"] != mine.json["order_no"]
    assert count(db, Booking) == 2
    scopes = set(db.session.scalars(sa.select(IdempotencyKey.scope)))
    assert len(scopes) == 2 and all(scope.startswith("resident:") for scope in scopes)


def test_without_a_key_each_post_books_again(client, db, a, slot):
    answers = [client.post(BOOKINGS, json=body(slot), headers=a) for _ in range(2)]
    assert [r.status_code for r in answers] == [201, 201]
    assert answers[0].json["order_no"] != answers[1].json["order_no"] and taken(db, slot) == 2


@pytest.mark.parametrize("key", ["", "é" * 3, "x" * 256, "tab\tkey"])
def test_a_malformed_key_is_a_400_and_nothing_is_booked(client, db, a, slot, key):
    answer = client.post(BOOKINGS, json=body(slot), headers={**a, "Idempotency-Key": key})
    if key == "":  # an empty header is no key at all: the request simply runs
        assert answer.status_code == 201
        return
    assert answer.status_code == 400 and list(answer.json["errors"]["headers"]) == ["Idempotency-Key"]
    assert count(db, Booking) == 0


def test_a_refused_booking_gives_its_key_back_for_the_corrected_retry(client, db, a, slot):
    refused = client.post(BOOKINGS, json=body(slot, weight_grams=0), headers={**a, **KEY})
    assert refused.status_code == 422
    # A 422 stored nothing under the key: the corrected request with the same key books.
    assert client.post(BOOKINGS, json=body(slot), headers={**a, **KEY}).status_code == 201


def test_my_own_mobile_on_record_is_used_without_being_sent_either_way(client, db, a, slot):
    sender = party_json(mobile=None)
    answer = client.post(BOOKINGS, json=body(slot, sender=sender, sender_uses_resident_mobile=True), headers=a)
    assert answer.status_code == 201, answer.text
    assert answer.json["sender"]["mobile_masked"] == "138****8000" and APPLICANT_PHONE not in answer.text
    assert services.mobile_of(db.session.scalar(sa.select(Booking)), "sender") == APPLICANT_PHONE


def _mutate(data: dict, path: str, value) -> dict:
    data = copy.deepcopy(data)
    *parents, last = path.split(".")
    node = data
    for part in parents:
        node = node[part]
    if value is DROP:
        node.pop(last)
    else:
        node[last] = value
    return data


DROP = object()

# (what is changed, its new value, the field the 422 names)
BAD_FIELDS = [
    ("purpose", "letter", "purpose"),
    ("purpose", DROP, "purpose"),
    ("sender", DROP, "sender"),
    ("sender", "张三", "sender._schema"),  # not an object
    ("sender.name", "", "sender.name"),
    ("sender.name", " 张三", "sender.name"),
    ("sender.name", "张" * 51, "sender.name"),
    ("sender.name", "张\x00三", "sender"),  # NUL: refused before loading, at the top field
    ("sender.mobile", "1380013800", "sender.mobile"),
    ("sender.mobile", "12800138000", "sender.mobile"),
    ("sender.mobile", 13800138000, "sender.mobile"),
    ("sender.mobile", None, "sender.mobile"),  # no number and none on record asked for
    ("sender.email", "a@b.cn", "sender.email"),
    ("recipient.province_code", "4", "recipient.province_code"),
    ("recipient.province_code", 44, "recipient.province_code"),
    ("recipient", recipient_json(city_code="3604", county_code="360403"), "recipient.city_code"),  # 九江: not 广东
    ("recipient.county_code", "999999", "recipient.county_code"),
    ("recipient.county_code", DROP, "recipient.county_code"),
    ("recipient.address", "深", "recipient.address"),
    ("recipient.address", "深" * 201, "recipient.address"),
    ("recipient.address", "深南东路\n5002 号", "recipient.address"),
    ("recipient.postcode", "5180", "recipient.postcode"),
    ("item_type", "parcel", "item_type"),
    ("pieces", 0, "pieces"),
    ("pieces", 21, "pieces"),
    ("pieces", "1", "pieces"),
    ("pieces", 1.5, "pieces"),
    ("weight_grams", 0, "weight_grams"),
    ("weight_grams", 30_001, "weight_grams"),
    ("weight_grams", DROP, "weight_grams"),
    ("insured_value_fen", -1, "insured_value_fen"),
    ("insured_value_fen", 5_000_001, "insured_value_fen"),
    ("payer", "nobody", "payer"),
    ("pickup_mode", "drone", "pickup_mode"),
    ("site_id", 0, "site_id"),
    ("site_id", 2**31, "site_id"),
    ("slot_id", "1", "slot_id"),
    ("slot_id", DROP, "slot_id"),
    ("sender_uses_resident_mobile", "yes", "sender_uses_resident_mobile"),
    ("sender_uses_resident_mobile", True, "sender.mobile"),  # a number as well as "my own"
    ("recipient_address_id", 0, "recipient_address_id"),
    ("application_number", "ab", "application_number"),
    ("purpose", "result_to_applicant", "application_number"),  # a leg needs its application
    ("price_fen", 100, "price_fen"),
    ("carrier", "kuaidi100", "carrier"),  # the deployment's choice, not the resident's
]


@pytest.mark.parametrize(("path", "value", "field"), BAD_FIELDS,
                         ids=[f"{path}={value!r}"[:60] for path, value, _ in BAD_FIELDS])
def test_every_bad_field_is_a_422_naming_it_and_nothing_is_written(client, db, a, slot, path, value, field):
    answer = client.post(BOOKINGS, json=_mutate(body(slot), path, value), headers={**a, **KEY})
    assert answer.status_code == 422, answer.text
    assert leaves(answer.json["errors"]["json"]) == {field}
    assert field in answer.json["message"] and f"字段 {field}" in answer.json["message_zh"]
    assert count(db, Booking) == 0 and taken(db, slot) == 0 and count(db, IdempotencyKey) == 0


def test_rules_only_the_service_knows_are_a_422_naming_the_field_too(client, db, a, slot, make_slot, make_site):
    other_site = make_slot(site=make_site(**SITE2))
    answer = client.post(BOOKINGS, json=body(slot, slot_id=other_site.id), headers=a)
    assert answer.status_code == 422 and list(answer.json["errors"]) == ["slot_id"]
    past = make_slot(day=china_today() - timedelta(days=1))
    answer = client.post(BOOKINGS, json=body(past, slot_id=past.id), headers=a)
    assert answer.status_code == 422 and list(answer.json["errors"]) == ["slot_id"]
    assert count(db, Booking) == 0


def test_a_full_window_is_a_409_and_nothing_is_booked(client, db, a, make_slot):
    full = make_slot(capacity=2, taken=2)
    answer = client.post(BOOKINGS, json=body(full), headers={**a, **KEY})
    assert answer.status_code == 409 and answer.json["errors"] == {"slot_id": ["full"]}
    assert answer.json["message_zh"] == "该揽收时段已约满，请选择其他时段。"
    assert count(db, Booking) == 0 and taken(db, full) == 2


def test_the_last_place_goes_to_the_first_booking(client, db, a, b, make_slot):
    last = make_slot(capacity=1)
    assert client.post(BOOKINGS, json=body(last), headers=a).status_code == 201
    assert client.post(BOOKINGS, json=body(last), headers=b).status_code == 409


def test_an_application_leg_needs_one_of_my_applications(client, db, a, slot, make_application):
    mine = make_application("concluded", number="AAAA00000001")
    theirs = make_application("concluded", number="BBBB00000001", id_number=B_ID, phone=B_PHONE, name=B_NAME)
    ensure_authority(db, mine.number)
    leg = dict(purpose="result_to_applicant", item_type="licence", payer="government")
    booked = client.post(BOOKINGS, json=body(slot, application_number="aaaa00000001", **leg), headers=a)
    assert booked.status_code == 201 and booked.json["application_number"] == mine.number
    for number in (theirs.number, "NOSUCH000001"):
        refused = client.post(BOOKINGS, json=body(slot, application_number=number, **leg), headers=a)
        assert refused.status_code == 404 and B_NAME not in refused.text
    assert count(db, Booking) == 1


# ---------------------------------------------------------------- reading

def test_my_bookings_are_mine_only_newest_first_a_page_at_a_time(client, a, b, booker, resident_b, make_booking):
    start = utcnow() - timedelta(hours=5)
    made = [make_booking(booker, now=lambda n=n: start + timedelta(minutes=n)).order_no for n in range(3)]
    make_booking(resident_b, now=lambda: start + timedelta(hours=1), sender=services.PartyIn(
        name=B_NAME, mobile=B_MOBILE_SENT, province_code="36", city_code="3604", county_code="360403",
        address="浔阳路 9 号"))
    first = client.get(f"{BOOKINGS}?page_size=2", headers=a)
    assert first.status_code == 200
    assert [i["order_no"] for i in first.json["items"]] == made[:0:-1] and first.json["has_more"]
    second = client.get(f"{BOOKINGS}?page=2&page_size=2", headers=a).json
    assert [i["order_no"] for i in second["items"]] == made[:1] and not second["has_more"]
    item = first.json["items"][0]
    assert (item["status_text"], item["pickup_mode_text"], item["slot"]["starts"]) == ("待揽收", "到网点交寄", "08:00")
    assert "timeline" not in item and "sender" not in item  # the list is a summary
    assert "欧阳" not in first.text and B_MOBILE_SENT[-4:] not in first.text
    assert len(client.get(BOOKINGS, headers=b).json["items"]) == 1


@pytest.mark.parametrize(("query", "field"), [("page=0", "page"), ("page_size=51", "page_size"), ("page=x", "page")])
def test_paging_out_of_bounds_is_a_422_naming_the_argument(client, a, query, field):
    answer = client.get(f"{BOOKINGS}?{query}", headers=a)
    assert answer.status_code == 422 and list(answer.json["errors"]["query"]) == [field]


def test_one_booking_has_the_timeline_newest_first_with_the_carriers_words_and_places(client, db, a, make_booking):
    at = utcnow()
    booking = make_booking(now=lambda: at - timedelta(hours=3))
    services.record_tracking(db.session, booking, [
        event("accepted", at - timedelta(hours=2), "【九江市浔阳路营业厅】已收寄", location="九江市浔阳路营业厅",
              waybill_no="EA000000001CN"),
        event("in_transit", at - timedelta(hours=1), "离开【九江邮件处理中心】，下一站【深圳邮件处理中心】",
              location="九江邮件处理中心")], source="push")
    db.session.commit()
    answer = client.get(f"{BOOKINGS}/{booking.order_no.lower()}", headers=a)
    assert answer.status_code == 200, answer.text
    view = answer.json
    assert (view["status"], view["status_text"], view["waybill_no"]) == ("in_transit", "运输中", "EA000000001CN")
    assert [(e["status"], e["source"]) for e in view["timeline"]] == [
        ("in_transit", "push"), ("accepted", "push"), ("pending_pickup", "ours")]
    assert view["timeline"][0]["location"] == "九江邮件处理中心"
    assert view["timeline"][1]["text"] == "【九江市浔阳路营业厅】已收寄" and view["timeline"][1]["status_text"] == "已收寄"
    assert view["cancellable"] is False and no_full_number(answer.text)


def test_someone_elses_unknown_and_malformed_order_numbers_get_one_and_the_same_404(client, a, resident_b,
                                                                                     make_booking):
    theirs = make_booking(resident_b)
    answers = [client.get(f"{BOOKINGS}/{number}", headers=a)
               for number in (theirs.order_no, "KB20260101ABCDEFGH", "nope", "白" * 8)]
    assert {r.status_code for r in answers} == {404}
    assert all(r.json == answers[0].json for r in answers)
    assert theirs.order_no not in answers[0].text


# ---------------------------------------------------------------- cancelling

def test_cancelling_before_pickup_gives_the_place_back_and_a_second_time_is_a_409(client, db, a, slot,
                                                                                 fake_gateway):
    booked = client.post(BOOKINGS, json=body(slot), headers=a).json
    assert taken(db, slot) == 1
    answer = client.post(f"{BOOKINGS}/{booked['order_no']}/cancel", json={"reason": "不寄了"}, headers=a)
    assert answer.status_code == 200, answer.text
    view = answer.json
    assert (view["status"], view["status_text"], view["order_state"], view["cancellable"]) == (
        "cancelled", "已取消", "cancelling", False)
    assert view["timeline"][0]["status"] == "cancelled" and "不寄了" in view["timeline"][0]["text"]
    assert taken(db, slot) == 1  # held until the carrier confirms the cancel
    booking = db.session.scalar(sa.select(Booking).where(Booking.order_no == booked["order_no"]))
    assert run_job(db, services.PLACE_TOPIC, booking) == "done"  # sees the cancel: places nothing
    assert run_job(db, services.CANCEL_TOPIC, booking) == "done"
    assert taken(db, slot) == 0
    again = client.post(f"{BOOKINGS}/{booked['order_no']}/cancel", headers=a)  # no body: the reason is optional
    assert again.status_code == 409 and again.json["errors"] == {"status": ["not cancellable"]}


def test_after_pickup_a_booking_can_no_longer_be_cancelled(client, db, a, make_booking):
    booking = make_booking()
    services.record_tracking(db.session, booking, [event("accepted", utcnow())], source="push")
    db.session.commit()
    answer = client.post(f"{BOOKINGS}/{booking.order_no}/cancel", json={}, headers=a)
    assert answer.status_code == 409 and "已揽收" in answer.json["message_zh"]
    db.session.expire_all()
    assert db.session.get(Booking, booking.id).status == "accepted"


def test_nobody_cancels_someone_elses_booking(client, db, a, resident_b, make_booking):
    theirs = make_booking(resident_b)
    answer = client.post(f"{BOOKINGS}/{theirs.order_no}/cancel", json={}, headers=a)
    assert answer.status_code == 404
    db.session.expire_all()
    assert db.session.get(Booking, theirs.id).status == "pending_pickup"


def test_a_bad_cancel_reason_is_a_422(client, a, make_booking):
    booking = make_booking()
    answer = client.post(f"{BOOKINGS}/{booking.order_no}/cancel", json={"reason": "x" * 101}, headers=a)
    assert answer.status_code == 422 and list(answer.json["errors"]["json"]) == ["reason"]


# ---------------------------------------------------------------- pickup slots

def test_open_slots_of_a_site_for_a_week_full_and_past_ones_left_out(client, a, site, make_slot):
    today = china_today()
    soon = make_slot(day=today + timedelta(days=1), starts="09:00", ends="11:00", capacity=3, taken=1)
    later = make_slot(day=today + timedelta(days=2), starts="14:00", ends="16:00")
    make_slot(day=today + timedelta(days=1), starts="14:00", ends="16:00", capacity=2, taken=2)  # full
    make_slot(day=today - timedelta(days=1))  # over
    make_slot(day=today + timedelta(days=8))  # beyond the week
    answer = client.get("/api/v1/pickup-slots?site=JZ01", headers=a)
    assert answer.status_code == 200, answer.text
    assert answer.json["items"] == [
        {"id": soon.id, "site_id": site.id, "site": "JZ01", "day": soon.day.isoformat(), "starts": "09:00",
         "ends": "11:00", "places_left": 2},
        {"id": later.id, "site_id": site.id, "site": "JZ01", "day": later.day.isoformat(), "starts": "14:00",
         "ends": "16:00", "places_left": 10}]
    week_on = client.get(f"/api/v1/pickup-slots?site=JZ01&from={(today + timedelta(days=2)).isoformat()}", headers=a)
    assert [s["id"] for s in week_on.json["items"]][0] == later.id and len(week_on.json["items"]) == 2
    past = client.get("/api/v1/pickup-slots?site=JZ01&from=2001-01-01", headers=a)
    assert past.json == answer.json  # days gone by are today
    far = client.get("/api/v1/pickup-slots?site=JZ01&from=9999-12-31", headers=a)
    assert far.status_code == 200 and far.json == {"items": []}


@pytest.mark.parametrize(("query", "status", "field"), [
    ("site=NOPE", 404, None), ("", 422, "site"), ("site=jz01", 422, "site"), ("site=JZ01&from=tomorrow", 422, "from")])
def test_slots_need_a_known_site_and_a_date(client, a, site, query, status, field):
    answer = client.get(f"/api/v1/pickup-slots?{query}", headers=a)
    assert answer.status_code == status
    if field:
        assert list(answer.json["errors"]["query"]) == [field]


# ---------------------------------------------------------------- prefill

def test_prefill_of_the_materials_leg_sends_to_the_registered_authority(client, db, a, make_application):
    make_application("accepted", number="AAAA00000001", receiving_region="360400", handling_region="360400")
    db.session.add(HandlingAuthority(org_name="九江市公安局", region_code="360400", recipient_name="证件窗口",
                                     phone="0792-8221234", province_code="36", city_code="3604", county_code="360403",
                                     address="长虹大道 88 号", postcode="332000"))
    db.session.commit()
    answer = client.get("/api/v1/booking-prefill?purpose=materials_to_authority&application=AAAA00000001", headers=a)
    assert answer.status_code == 200, answer.text
    prefill = answer.json
    assert prefill["application_number"] == "AAAA00000001"
    assert prefill["authority"] == {"org_name": "九江市公安局", "region_code": "360400"}
    assert (prefill["recipient"]["name"], prefill["recipient"]["mobile"]) == ("九江市公安局（证件窗口）", "0792-8221234")
    me = prefill["sender"]
    assert (me["name"], me["mobile"], me["mobile_masked"], me["uses_resident_mobile"]) == (
        "张三", None, "138****8000", True)
    assert (prefill["payer"], prefill["payer_text"], prefill["item_type_text"]) == ("government", "政府付费", "材料")
    assert no_full_number(answer.text)


def test_prefill_starts_from_my_default_address_and_lists_my_book(client, db, a, booker):
    entry = services.save_address(db.session, booker, services.PartyIn(
        name="张三", mobile=SENDER_MOBILE, province_code="36", city_code="3604", county_code="360403",
        address="浔阳路 1 号"), label="家", actor="test")
    db.session.commit()
    prefill = client.get("/api/v1/booking-prefill?purpose=standalone", headers=a).json
    assert prefill["sender"]["address_id"] == entry.id and prefill["sender"]["mobile_masked"] == "139****9000"
    assert [address["id"] for address in prefill["addresses"]] == [entry.id]
    assert prefill["recipient"]["name"] == "" and prefill["authority"] is None and prefill["application_number"] is None


@pytest.mark.parametrize(("query", "status", "field"), [
    ("purpose=result_to_applicant&application=BBBB00000001", 404, None),
    ("purpose=result_to_applicant&application=NOSUCH000001", 404, None),
    ("purpose=result_to_applicant", 422, "application"),
    ("purpose=post", 422, "purpose"),
    ("purpose=standalone&application=ab", 422, "application"),
])
def test_prefill_refusals(client, a, make_application, query, status, field):
    make_application(number="BBBB00000001", id_number=B_ID, phone=B_PHONE, name=B_NAME)
    answer = client.get(f"/api/v1/booking-prefill?{query}", headers=a)
    assert answer.status_code == status and B_NAME not in answer.text
    if field:
        assert list(answer.json["errors"]["query"]) == [field]


# ---------------------------------------------------------------- address book

def test_the_address_book_first_is_default_a_new_default_moves_it_and_deleting_passes_it_on(client, a):
    home = client.post("/api/v1/addresses", json={**party_json(), "label": "家"}, headers=a)
    assert home.status_code == 201, home.text
    assert home.json["is_default"] is True and home.json["mobile_masked"] == "139****9000"
    assert home.json["region"] == "江西省九江市浔阳区" and SENDER_MOBILE not in home.text
    own = client.post("/api/v1/addresses", json={**recipient_json(mobile=None), "label": "单位", "is_default": True},
                      headers=a)
    assert own.status_code == 201 and own.json["mobile_masked"] == "138****8000"  # my number on record
    listed = client.get("/api/v1/addresses", headers=a).json["items"]
    assert [(e["label"], e["is_default"]) for e in listed] == [("单位", True), ("家", False)]
    made_default = client.post(f"/api/v1/addresses/{home.json['id']}/default", headers=a)
    assert made_default.status_code == 200 and made_default.json["is_default"] is True
    assert client.delete(f"/api/v1/addresses/{home.json['id']}", headers=a).status_code == 204
    listed = client.get("/api/v1/addresses", headers=a).json["items"]
    assert [(e["label"], e["is_default"]) for e in listed] == [("单位", True)]
    assert no_full_number(json.dumps(listed, ensure_ascii=False))


@pytest.mark.parametrize(("change", "field"), [({"mobile": "123"}, "mobile"), ({"county_code": "440303"}, "county_code"),
                                               ({"label": "x" * 21}, "label"), ({"is_default": 1}, "is_default")])
def test_a_bad_address_is_a_422_naming_the_field(client, db, a, change, field):
    answer = client.post("/api/v1/addresses", json={**party_json(), **change}, headers=a)
    assert answer.status_code == 422 and list(answer.json["errors"]["json"]) == [field]
    assert count(db, SavedAddress) == 0


def test_an_address_book_holds_20(client, db, a):
    for n in range(services.MAX_ADDRESSES):
        assert client.post("/api/v1/addresses", json=party_json(address=f"浔阳路 {n} 号"), headers=a).status_code == 201
    assert client.post("/api/v1/addresses", json=party_json(), headers=a).status_code == 409


def test_nobody_reads_deletes_or_defaults_someone_elses_address(client, db, a, b):
    theirs = client.post("/api/v1/addresses", json=party_json(name=B_NAME, mobile=B_MOBILE_SENT), headers=b).json
    listed = client.get("/api/v1/addresses", headers=a)
    assert listed.json == {"items": []} and B_NAME not in listed.text
    for answer in (client.delete(f"/api/v1/addresses/{theirs['id']}", headers=a),
                   client.post(f"/api/v1/addresses/{theirs['id']}/default", headers=a)):
        assert answer.status_code == 404 and B_NAME not in answer.text
    assert client.delete("/api/v1/addresses/2147483647", headers=a).status_code == 404
    assert client.delete("/api/v1/addresses/2147483648", headers=a).status_code == 404  # no id at all
    assert count(db, SavedAddress) == 1


# ---------------------------------------------------------------- credentials and the document

PATHS = [("post", BOOKINGS), ("get", BOOKINGS), ("get", f"{BOOKINGS}/KB20260101ABCDEFGH"),
         ("post", f"{BOOKINGS}/KB20260101ABCDEFGH/cancel"), ("get", "/api/v1/pickup-slots?site=JZ01"),
         ("get", "/api/v1/booking-prefill?purpose=standalone"), ("get", "/api/v1/addresses"),
         ("post", "/api/v1/addresses"), ("delete", "/api/v1/addresses/1"), ("post", "/api/v1/addresses/1/default")]


@pytest.mark.parametrize(("method", "path"), PATHS)
def test_without_a_live_resident_token_every_operation_is_a_401(client, db, booker, method, path):
    for headers in ({}, {"Authorization": "Resident made-up"}, as_resident(token_for(db, booker, "mobile"))):
        answer = client.open(path, method=method.upper(), headers={**headers, **KEY}, json={})
        assert answer.status_code == 401 and answer.headers["WWW-Authenticate"] == 'Resident realm="kiosk-backend"'
    assert count(db, IdempotencyKey) == 0  # no key is claimed for a caller nobody knows


def test_the_booking_operation_documents_its_key_and_answers(client):
    spec = client.get("/api/v1/openapi.json").json
    operation = spec["paths"][BOOKINGS]["post"]
    assert [p["name"] for p in operation["parameters"]] == ["Idempotency-Key"]
    assert set(operation["responses"]["201"]["headers"]) == {"Location", "Idempotent-Replayed"}
    party = spec["components"]["schemas"]["PartyIn"]["properties"]
    assert party["county_code"]["pattern"] == "^[0-9]{6}$"
    assert set(spec["components"]["schemas"]["BookingSummary"]["properties"]["status"]["enum"]) == {
        "pending_pickup", "accepted", "in_transit", "out_for_delivery", "delivered", "failed_delivery",
        "awaiting_collection", "returned", "cancelled", "exception"}


# ---------------------------------------------------------------- schemathesis, with a resident and real data
#
# tests/test_schemathesis.py sends these operations no resident token, so there they only
# answer 401. Here the same checks run as a resident with bookings, slots and addresses.

# Valid by the schema, refused by rules no schema states (division codes that exist and
# belong together, a slot of the site that is open, an application that is yours).
COURIER_DOMAIN_REFUSALS = {"POST /api/v1/bookings", "POST /api/v1/addresses", "GET /api/v1/booking-prefill"}


@pytest.fixture
def document(app):
    import schemathesis

    config = schemathesis.Config.from_dict({"output": {"sanitization": {"enabled": False}}})
    return schemathesis.openapi.from_wsgi("/api/v1/openapi.json", app, config=config)


def courier_phases(api, operation, known: dict[str, list]) -> dict:
    """tests/test_schemathesis.py's two runs for one operation (coverage and fuzzing), with
    COURIER_DOMAIN_REFUSALS in place of that file's own list."""
    from hypothesis import given
    from schemathesis.generation.hypothesis.builder import HypothesisTestConfig, HypothesisTestMode, create_test
    from schemathesis.specs.openapi.checks import positive_data_acceptance

    from ..test_schemathesis import SETTINGS, allow_on_405, strategy_for

    excluded = [positive_data_acceptance] if operation.label in COURIER_DOMAIN_REFUSALS else []

    def check(case):
        case.validate_response(case.call(), additional_checks=[allow_on_405], excluded_checks=excluded)

    @SETTINGS
    def coverage_phase(case):
        check(case)

    @SETTINGS
    @given(case=strategy_for(api, operation, known))
    def fuzzing_phase(case):
        check(case)

    return {"coverage": create_test(operation=operation, test_func=coverage_phase, config=HypothesisTestConfig(
                project=api.config, modes=[HypothesisTestMode.COVERAGE], settings=SETTINGS)),
            "fuzzing": fuzzing_phase}


def test_schemathesis_finds_nothing_with_a_resident_and_real_bookings(db, a, make_booking, client, document,
                                                                      subtests):
    bookings = [make_booking().order_no for _ in range(3)]
    entry = client.post("/api/v1/addresses", json=party_json(), headers=a).json["id"]
    ours = ("/api/v1/booking", "/api/v1/pickup-slots", "/api/v1/addresses")

    @document.auth(refresh_interval=None)
    class _Auth:
        def get(self, case, ctx):
            return a["Authorization"] if ctx.operation.path.startswith(ours) else None

        def set(self, case, data, ctx):
            if data is not None:
                case.headers = {**(case.headers or {}), "Authorization": data}

    operations = [result.ok() for result in document.get_all_operations() if result.ok().path.startswith(ours)]
    assert len(operations) == 11
    known = {"order_no": bookings, "address_id": [entry]}
    for operation in operations:
        for phase, run in courier_phases(document, operation, known).items():
            with subtests.test(f"{operation.label} ({phase})"):
                run()
