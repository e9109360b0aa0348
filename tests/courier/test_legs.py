"""The two application legs (邮寄材料, 结果寄回家): each is booked once while a booking of it is
live, by every route and even by requests racing each other (the partial unique index
uq_courier_booking_live_leg); and the handling authority's side is its registered address,
whatever a client sends for it."""
from __future__ import annotations

import pytest
import sqlalchemy as sa

from kiosk_backend.core.errors import Invalid
from kiosk_backend.courier import jobs, services
from kiosk_backend.courier.gateway import CarrierRejected
from kiosk_backend.courier.models import Booking, PickupSlot

from ..applications.test_api import as_resident, token_for
from ..identity.test_kiosk import log_in
from .conftest import actor_of, booking_in, ensure_authority, party, recipient
from .test_api import BOOKINGS, body, party_json
from .test_kiosk_pages import Flow, bookings


def taken(db, slot) -> int:
    db.session.expire_all()
    return db.session.get(PickupSlot, slot.id).taken


def count(db) -> int:
    db.session.expire_all()
    return db.session.scalar(sa.select(sa.func.count()).select_from(Booking))


def result_leg(slot, application, **overrides):
    return booking_in(slot, purpose="result_to_applicant", application_number=application.number,
                      item_type="licence", payer="government", **overrides)


# ===================================================================== one live booking per leg

def test_a_leg_is_booked_once_and_the_second_is_a_409_that_takes_nothing(db, make_slot, booker, make_application):
    slot = make_slot()
    application = make_application("concluded")
    ensure_authority(db, application.number)
    first = services.book(db.session, result_leg(slot, application), resident=booker, channel="mobile",
                          actor=actor_of(booker))
    db.session.commit()
    with pytest.raises(services.LegBooked) as refused:
        services.book(db.session, result_leg(slot, application), resident=booker, channel="kiosk",
                      actor=actor_of(booker))
    db.session.rollback()
    assert refused.value.status_code == 409 and first.order_no in refused.value.message_zh
    assert "已有预约" in refused.value.message_zh and "booked already" in refused.value.message
    assert count(db) == 1 and taken(db, slot) == 1
    # The other leg, and a standalone booking naming the same application, are not this leg.
    services.book(db.session, booking_in(slot, purpose="standalone", application_number=application.number),
                  resident=booker, channel="mobile", actor=actor_of(booker))
    db.session.commit()
    assert count(db) == 2


def test_a_leg_is_free_again_once_its_booking_is_cancelled_for_good_refused_or_returned(
        db, make_slot, booker, make_application, fake_gateway):
    slot = make_slot()
    application = make_application("concluded")
    ensure_authority(db, application.number)

    def book():
        made = services.book(db.session, result_leg(slot, application), resident=booker, channel="mobile",
                             actor=actor_of(booker))
        db.session.commit()
        return made

    booking = book()
    assert jobs.place_order(db.session, booking.id) == "placed"
    db.session.commit()
    services.cancel(db.session, booking, actor=actor_of(booker))
    db.session.commit()
    # Cancelled by the resident but not yet confirmed by the carrier (it may refuse): still the leg's.
    with pytest.raises(services.LegBooked):
        book()
    db.session.rollback()
    assert jobs.cancel_order(db.session, booking.id, reason="r") == "cancelled"
    db.session.commit()
    booking = book()  # the carrier confirmed: booked again
    fake_gateway.failures.append(CarrierRejected("不在服务范围", code="out_of_area"))
    assert jobs.place_order(db.session, booking.id) == "failed"
    db.session.commit()
    booking = book()  # the carrier refused the order for good
    db.session.execute(sa.update(Booking).where(Booking.id == booking.id).values(status="returned"))
    db.session.commit()
    book()  # the parcel came back
    assert count(db) == 4


def test_racing_bookings_of_one_leg_meet_the_index_and_one_wins(db, make_slot, booker, make_application,
                                                                monkeypatch):
    """Two requests both past the check: the partial unique index refuses the second insert."""
    slot = make_slot()
    application = make_application("concluded")
    ensure_authority(db, application.number)
    services.book(db.session, result_leg(slot, application), resident=booker, channel="mobile",
                  actor=actor_of(booker))
    db.session.commit()
    checks = []
    real = services.live_leg

    def blind_first(session, application_id, purpose):  # the check of a request that ran before the commit
        checks.append(purpose)
        return None if len(checks) == 1 else real(session, application_id, purpose)

    monkeypatch.setattr(services, "live_leg", blind_first)
    with pytest.raises(services.LegBooked) as refused:
        services.book(db.session, result_leg(slot, application), resident=booker, channel="api",
                      actor=actor_of(booker))
    assert refused.value.status_code == 409
    db.session.rollback()
    assert count(db) == 1 and taken(db, slot) == 1


def test_the_index_refuses_a_second_live_row_of_a_leg_whatever_writes_it(db, make_booking, make_application):
    application = make_application("concluded")
    booking = make_booking(purpose="result_to_applicant", application_number=application.number)
    columns = {c.name: getattr(booking, c.key) for c in Booking.__table__.columns if c.name != "id"}
    with pytest.raises(sa.exc.IntegrityError):
        db.session.execute(sa.insert(Booking).values(**{**columns, "order_no": "KB20260302TESTTEST"}))
    db.session.rollback()
    db.session.execute(sa.insert(Booking).values(**{**columns, "order_no": "KB20260302TESTTES2",
                                                    "status": "cancelled", "order_state": "cancelled"}))
    db.session.commit()


def test_the_api_answers_a_second_booking_of_a_leg_with_a_409_in_both_languages(client, db, booker, make_slot,
                                                                                make_application):
    slot = make_slot()
    application = make_application("concluded", number="AAAA00000001")
    ensure_authority(db, application.number)
    headers = as_resident(token_for(db, booker))
    leg = body(slot, purpose="result_to_applicant", application_number=application.number, item_type="licence",
               payer="government")
    first = client.post(BOOKINGS, json=leg, headers=headers)
    assert first.status_code == 201
    again = client.post(BOOKINGS, json=leg, headers={**headers, "Idempotency-Key": "another-key-0001"})
    assert again.status_code == 409
    assert again.json["message_zh"].startswith("该办件的这一段寄递已有预约") and first.json["order_no"] in again.text
    assert "booked already" in again.json["message"] and again.json["errors"] == {
        "application_number": ["booked already / 已有预约"]}
    assert count(db) == 1 and taken(db, slot) == 1


def test_the_kiosk_links_a_booked_leg_and_refuses_to_start_or_confirm_it_again(db, kiosk_client, booker, make_slot,
                                                                               make_application):
    slot = make_slot(capacity=3)
    application = make_application("concluded")
    ensure_authority(db, application.number)
    log_in(db, kiosk_client, booker)
    first, second = Flow(kiosk_client, application.number), Flow(kiosk_client, application.number)
    for flow in (first, second):  # two screens open side by side
        flow.who(), flow.where(), flow.when(slot)
    assert first.confirm().status_code == 303
    answer = second.confirm()
    assert answer.status_code == 409 and "该办件的这一段寄递已有预约" in answer.text
    assert len(bookings(db)) == 1 and taken(db, slot) == 1
    again = Flow(kiosk_client, application.number)
    assert again.response.status_code == 409 and 'data-reason="booked"' in again.page
    assert "这项邮寄已经预约过了" in again.page


# ===================================================================== the authority's registered address

def test_without_a_registered_authority_a_leg_is_refused_by_name(db, make_slot, booker, make_application):
    slot = make_slot()
    application = make_application("concluded")
    with pytest.raises(Invalid) as refused:
        services.book(db.session, result_leg(slot, application), resident=booker, channel="mobile",
                      actor=actor_of(booker))
    assert "sender" in refused.value.errors and "尚未登记" in refused.value.message_zh
    db.session.rollback()
    assert count(db) == 0 and taken(db, slot) == 0


@pytest.mark.parametrize("purpose, side", [("materials_to_authority", "recipient"), ("result_to_applicant", "sender")])
def test_the_authority_side_is_the_registered_address_whatever_the_client_sends(db, make_slot, booker,
                                                                                make_application, purpose, side):
    slot = make_slot()
    application = make_application("concluded" if side == "sender" else "accepted")
    authority = ensure_authority(db, application.number)
    elsewhere = recipient(name="某某", mobile="13700137000", address="别处 1 号")  # 深圳, not the authority
    sent = {"sender": party(), "recipient": elsewhere} if side == "recipient" else {"sender": elsewhere,
                                                                                     "recipient": party()}
    booking = services.book(db.session, booking_in(slot, purpose=purpose, application_number=application.number,
                                                   **sent), resident=booker, channel="api", actor=actor_of(booker))
    assert getattr(booking, f"{side}_county") == authority.county_code == "360402"
    assert getattr(booking, f"{side}_address") == "长虹大道 100 号"
    assert getattr(booking, f"{side}_name") == "九江市公安局（证件窗口）"
    assert services.mobile_of(booking, side) == "0792-8221234"
    other = "sender" if side == "recipient" else "recipient"
    assert getattr(booking, f"{other}_address") == "浔阳路 1 号 2 单元 301"  # the resident's side as sent
    shown = services.view(booking)
    assert shown[side]["region"] == "江西省九江市濂溪区" and shown[side]["name_masked"] == "九江市公安局（证件窗口）"


def test_the_api_books_the_leg_to_the_registered_address_and_says_so_in_the_answer(client, db, booker, make_slot,
                                                                                   make_application):
    slot = make_slot()
    application = make_application("accepted", number="AAAA00000002")
    ensure_authority(db, application.number)
    headers = as_resident(token_for(db, booker))
    leg = body(slot, purpose="materials_to_authority", application_number=application.number,
               recipient=party_json(name="王五", address="另一个地方 8 号"))
    answer = client.post(BOOKINGS, json=leg, headers=headers)
    assert answer.status_code == 201
    assert answer.json["recipient"]["address"] == "长虹大道 100 号"
    assert answer.json["recipient"]["name_masked"] == "九江市公安局（证件窗口）"



# ===================================================================== the migration

def test_the_migration_names_legs_booked_twice_before_it_instead_of_failing_on_the_index(make_app):
    """Bookings made before revision 0011 may hold a leg twice: the upgrade stops and says
    which, and goes through once the extra booking is cancelled."""
    from datetime import UTC, datetime

    from flask_migrate import upgrade

    from kiosk_backend.applications import services as applications
    from kiosk_backend.core.actors import SYSTEM
    from kiosk_backend.extensions import db as _db
    from kiosk_backend.identity import residents
    from kiosk_backend.sites import services as sites

    from ..conftest import APPLICANT_ID, APPLICANT_PHONE, SITE

    app = make_app(create_schema=False)
    with app.app_context():
        directory = app.extensions["migrate"].directory
        upgrade(directory=directory, revision="0010_item_use")
        site = sites.create_site(_db.session, actor=SYSTEM, **SITE)
        moment = datetime(2026, 3, 2, 1, 0, tzinfo=UTC)
        application, _ = applications.create_application(_db.session, applications.NewApplication(
            number="TWICE0000001", task_code="TEST-ITEM", item_name="居民身份证换领", mode="local",
            applicant=applications.Applicant(name="张三", id_number=APPLICANT_ID, phone=APPLICANT_PHONE),
            receiving_org="九江市政务服务中心", receiving_region="360400", handling_org="九江市公安局",
            handling_region="360400", received_at=moment, promise_days=20, promise_unit="工作日"),
            actor="system", actor_name="九江市政务服务中心")
        sealed = residents.encrypt_phone(APPLICANT_PHONE)
        party = {f"{side}_{name}": value for side in ("sender", "recipient") for name, value in (
            ("name", "张三"), ("mobile_encrypted", sealed), ("mobile_masked", "138****8000"), ("province", "36"),
            ("city", "3604"), ("county", "360403"), ("address", "浔阳路 1 号"), ("postcode", None))}
        made = [Booking(order_no=f"KB20260302TWICE00{n}", purpose="result_to_applicant",
                        application_id=application.id, channel="kiosk", item_type="licence", pieces=1,
                        weight_grams=200, insured_value_fen=0, payer="government", pickup_mode="counter",
                        site_id=site.id, carrier="demo", order_state="placed", status="in_transit",
                        status_at=moment, version=1, created_at=moment, updated_at=moment, **party)
                for n in (1, 2)]
        _db.session.add_all(made)
        _db.session.commit()
        from alembic import command  # as `kiosk db upgrade` runs it (which logs the error and exits 1)

        config = app.extensions["migrate"].migrate.get_config(directory)
        with pytest.raises(RuntimeError) as stopped:
            command.upgrade(config, "head")
        _db.session.rollback()
        assert f"application {application.id} result_to_applicant (2 bookings)" in str(stopped.value)
        assert "Cancel the extra ones" in str(stopped.value)
        made[1].status, made[1].order_state = "cancelled", "cancelled"
        _db.session.commit()
        upgrade(directory=directory)
        names = {index["name"] for index in sa.inspect(_db.engine).get_indexes("courier_booking")}
        assert "uq_courier_booking_live_leg" in names
        _db.session.remove()
