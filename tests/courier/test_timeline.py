"""The courier legs on an application's timeline, in plain words (courier/timeline.py)."""
from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from kiosk_backend.applications import progress
from kiosk_backend.core.i18n import catalogue
from kiosk_backend.core.workdays import Calendar
from kiosk_backend.courier import timeline
from kiosk_backend.courier.models import Booking, TrackingEvent
from kiosk_backend.courier.states import Purpose, Status

CALENDAR = Calendar.shipped()
PARTY = dict(name="张*", mobile_encrypted="x", mobile_masked="138****8000", province="36", city="3604",
             county="360403", address="浔阳路 118 号")


def booking_for(db, application, site, purpose, statuses, *, start):
    booking = Booking(order_no=f"KB-{purpose[:4]}-{application.id}", purpose=purpose, application_id=application.id,
                      channel="kiosk", item_type="materials", pieces=1, weight_grams=500, payer="government",
                      pickup_mode="counter", site_id=site.id, carrier="demo", status=statuses[-1][0],
                      status_at=start, **{f"sender_{k}": v for k, v in PARTY.items()},
                      **{f"recipient_{k}": v for k, v in PARTY.items()})
    db.session.add(booking)
    db.session.flush()
    for step, (status, text, applied) in enumerate(statuses):
        db.session.add(TrackingEvent(booking_id=booking.id, dedupe_key=f"k{step}", status=status, raw_text=text,
                                     location="九江市" if status != Status.PENDING_PICKUP else None,
                                     occurred_at=start + timedelta(hours=step), received_at=start,
                                     source="ours" if step == 0 else "push", applied=applied))
    db.session.commit()
    return booking


def test_both_legs_appear_in_order_among_the_departments_events_in_plain_words(db, make_application, site):
    application = make_application("delivered")  # events 2–7 March 2026
    booking_for(db, application, site, Purpose.MATERIALS_TO_AUTHORITY, [
        (Status.PENDING_PICKUP, "已下单，待揽收", True),
        (Status.ACCEPTED, "【九江市浔阳路营业厅】已收寄", True),
        (Status.IN_TRANSIT, "离开【九江市邮件处理中心】，下一站【南昌市邮件处理中心】", False),  # did not move it
    ], start=datetime(2026, 3, 2, 3, tzinfo=UTC))
    booking_for(db, application, site, Purpose.RESULT_TO_APPLICANT, [
        (Status.PENDING_PICKUP, "已下单，待揽收", True),
        (Status.DELIVERED, "【九江市浔阳投递支局】已妥投", True),
    ], start=datetime(2026, 3, 6, 3, tzinfo=UTC))
    view = progress.view(application, calendar=CALENDAR, today=date(2026, 3, 10))
    kinds = [(e["kind"], e["action_key"]) for e in view["timeline"]]
    assert kinds[:4] == [("application", "application.action.receive"),
                         ("courier", "courier.timeline.materials_to_authority.pending_pickup"),
                         ("courier", "courier.timeline.materials_to_authority.accepted"),
                         ("application", "application.action.accept")]
    assert ("courier", "courier.timeline.result_to_applicant.delivered") in kinds
    assert not any(key.endswith("in_transit") for _, key in kinds)  # only steps that moved the parcel
    occurred = [e["occurred_at"] for e in view["timeline"]]
    assert occurred == sorted(occurred)
    delivered = next(e for e in view["timeline"] if e["action_key"].endswith("result_to_applicant.delivered"))
    assert delivered["note"] == "【九江市浔阳投递支局】已妥投" and delivered["state_key"] == "courier.status.delivered"


def test_the_mini_app_schema_carries_courier_steps(db, make_application, site):
    from kiosk_backend.applications.schemas import EventOut

    application = make_application("concluded")
    booking_for(db, application, site, Purpose.RESULT_TO_APPLICANT, [(Status.PENDING_PICKUP, "已下单，待揽收", True)],
                start=datetime(2026, 3, 6, 3, tzinfo=UTC))
    step = next(e for e in progress.view(application, calendar=CALENDAR, today=date(2026, 3, 10))["timeline"]
                if e["kind"] == "courier")
    dumped = EventOut().dump(step)
    assert (dumped["kind"], dumped["action"], dumped["state"], dumped["seq"]) == \
        ("courier", "courier", "pending_pickup", None)
    assert dumped["action_text"] == "已预约结果寄回，等待揽收"


def test_a_standalone_booking_is_not_on_any_application(db, make_application, site):
    application = make_application("accepted")
    booking_for(db, application, site, Purpose.STANDALONE, [(Status.PENDING_PICKUP, "已下单，待揽收", True)],
                start=datetime(2026, 3, 2, 3, tzinfo=UTC))
    assert timeline.entries(application) == []


def test_every_leg_and_status_has_plain_words():
    keys = set(catalogue())
    for purpose in timeline.LEGS:
        for status in Status:
            assert f"courier.timeline.{purpose}.{status}" in keys


def test_the_phone_page_of_an_application_links_its_courier_steps_to_the_booking(app, db, make_application,
                                                                                  make_resident, site):
    from tests.applications.test_mobile_pages import logged_in
    from tests.conftest import APPLICANT_ID

    application = make_application("concluded")
    booking = booking_for(db, application, site, Purpose.RESULT_TO_APPLICANT,
                          [(Status.PENDING_PICKUP, "已下单，待揽收", True)], start=datetime(2026, 3, 6, 3, tzinfo=UTC))
    phone = logged_in(app, db, make_resident(id_number=APPLICANT_ID))
    page = phone.get(f"/m/applications/{application.number}").get_data(as_text=True)
    assert "已预约结果寄回，等待揽收" in page
    assert f'href="/m/bookings/{booking.order_no}"' in page
    assert 'href="/m/bookings"' in phone.get("/m/applications").get_data(as_text=True)


def test_a_legs_office_is_named_whole_and_the_resident_masked():
    from kiosk_backend.courier.models import Booking
    from kiosk_backend.courier.services import view

    booking = Booking(order_no="KB1", purpose=Purpose.RESULT_TO_APPLICANT, channel="kiosk", item_type="licence",
                      pieces=1, weight_grams=200, payer="government", pickup_mode="counter", site_id=1,
                      carrier="demo", status="pending_pickup", order_state="pending", events=[],
                      sender_name="九江市公安局出入境管理支队", recipient_name="欧阳娜娜",
                      **{f"{side}_{k}": v for side in ("sender", "recipient") for k, v in PARTY.items() if k != "name"})
    seen = view(booking)
    assert seen["sender"]["name_masked"] == "九江市公安局出入境管理支队"
    assert seen["recipient"]["name_masked"] == "欧**娜"
    booking.purpose = Purpose.STANDALONE
    assert view(booking)["sender"]["name_masked"] == "九" + "*" * 11 + "队"  # a standalone sender: a person
