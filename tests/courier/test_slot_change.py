"""Changing a booking's pickup window: the mini-app's route (POST /api/v1/bookings/<order
no>/slot), and the service's UPDATE accepting only the states its check allows (a home
pickup the worker placed meanwhile does not move)."""
from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa

from kiosk_backend.core.clock import utcnow
from kiosk_backend.core.errors import Conflict
from kiosk_backend.courier import services
from kiosk_backend.courier.models import Booking, PickupSlot

from ..applications.test_api import as_resident, token_for
from .conftest import china_today, event
from .test_api import B_ID, B_NAME, B_PHONE


def taken(db, slot) -> int:
    db.session.expire_all()
    return db.session.get(PickupSlot, slot.id).taken


def slot_url(booking) -> str:
    return f"/api/v1/bookings/{booking.order_no}/slot"


def test_the_api_moves_my_booking_to_another_window_and_gives_the_old_place_back(client, db, booker, make_slot,
                                                                                make_booking):
    first, second = make_slot(), make_slot(starts="14:00", ends="16:00")
    booking = make_booking(slot=first)
    headers = as_resident(token_for(db, booker))
    moved = client.post(slot_url(booking), json={"slot_id": second.id}, headers=headers)
    assert moved.status_code == 200, moved.text
    assert moved.json["slot"]["id"] == second.id and moved.json["slot"]["starts"] == "14:00"
    assert (taken(db, first), taken(db, second)) == (0, 1)
    again = client.post(slot_url(booking), json={"slot_id": second.id}, headers=headers)
    assert again.status_code == 200 and taken(db, second) == 1  # the window it has: nothing changes


def test_the_api_refuses_a_full_window_someone_elses_booking_and_after_pickup(client, db, booker, make_booker,
                                                                             make_slot, make_booking):
    first, full = make_slot(), make_slot(starts="14:00", ends="16:00", capacity=1, taken=1)
    booking = make_booking(slot=first)
    headers = as_resident(token_for(db, booker))
    answer = client.post(slot_url(booking), json={"slot_id": full.id}, headers=headers)
    assert answer.status_code == 409 and answer.json["errors"] == {"slot_id": ["full"]}
    assert (taken(db, first), taken(db, full)) == (1, 1)
    other = make_booker(B_NAME, id_number=B_ID, phone=B_PHONE)
    theirs = client.post(slot_url(booking), json={"slot_id": first.id}, headers=as_resident(token_for(db, other)))
    assert theirs.status_code == 404
    assert client.post(slot_url(booking), json={"slot_id": "x"}, headers=headers).status_code == 422
    services.record_tracking(db.session, booking, [event("accepted", utcnow())], source="push")
    db.session.commit()
    later = make_slot(day=china_today() + timedelta(days=2))
    picked = client.post(slot_url(booking), json={"slot_id": later.id}, headers=headers)
    assert picked.status_code == 409 and taken(db, later) == 0


def test_a_home_pickup_placed_meanwhile_is_not_moved_by_the_update(db, make_slot, make_booking):
    """The check saw the order pending; the worker placed it before the UPDATE ran: the
    carrier has the old window, so the UPDATE must change nothing."""
    first, second = make_slot(), make_slot(starts="14:00", ends="16:00")
    booking = make_booking(slot=first, pickup_mode="home")
    assert booking.order_state == "pending"
    db.session.execute(sa.update(Booking).where(Booking.id == booking.id).values(order_state="placed")
                       .execution_options(synchronize_session=False))  # the worker, in between
    with pytest.raises(Conflict):
        services.change_slot(db.session, booking, second.id, actor="x")
    db.session.rollback()
    db.session.expire_all()
    saved = db.session.get(Booking, booking.id)
    assert saved.slot_id == first.id and (taken(db, first), taken(db, second)) == (1, 0)


def test_a_window_further_ahead_than_the_carrier_books_is_refused(app, db, make_slot, make_booking):
    before = app.config.get("KIOSK_COURIER_CARRIER")
    app.config["KIOSK_COURIER_CARRIER"] = "kuaidi100"
    try:
        booking = make_booking(slot=make_slot())
        far = make_slot(day=china_today() + timedelta(days=4))
        with pytest.raises(services.Invalid) as refused:
            services.change_slot(db.session, booking, far.id, actor="x")
        assert "slot_id" in refused.value.errors and taken(db, far) == 0
    finally:
        app.config["KIOSK_COURIER_CARRIER"] = before
