"""Crashes at every step of a booking (issue 10, "Proof"): a crash leaves no booking, or one
booking that completes, never two orders at the carrier."""
from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa

from kiosk_backend.core import outbox
from kiosk_backend.core.clock import utcnow
from kiosk_backend.core.outbox import OutboxMessage, Policy
from kiosk_backend.courier import jobs, services
from kiosk_backend.courier.models import Booking, PickupSlot

from .conftest import Killed, actor_of, booking_in

POLICY = Policy(max_attempts=5, backoff_base=1, backoff_cap=2, lease_seconds=60)


def later(seconds: float):
    return lambda: utcnow() + timedelta(seconds=seconds)


def place_message(db, booking) -> OutboxMessage:
    db.session.expire_all()
    return db.session.scalar(sa.select(OutboxMessage).where(OutboxMessage.topic == services.PLACE_TOPIC,
                                                           OutboxMessage.key == f"booking:{booking.id}"))


def fresh(db, booking) -> Booking:
    db.session.expire_all()
    return db.session.get(Booking, booking.id)


def test_a_worker_killed_after_the_carrier_accepted_places_no_second_order_on_retry(db, make_booking, fake_gateway):
    booking = make_booking(payer="government")  # the only message: placing the order (no price asked)
    message = place_message(db, booking)
    fake_gateway.die_after_accepting = True
    with pytest.raises(Killed):
        outbox.run(db.session, message.id, policy=POLICY)
    db.session.rollback()  # the process is gone: nothing after the carrier's answer was saved
    assert place_message(db, booking).state == "running"
    assert fresh(db, booking).waybill_no is None and len(fake_gateway.orders) == 1
    # The lease still runs: nobody else takes it; once it has run out the sweep hands it on.
    assert outbox.run(db.session, message.id, policy=POLICY).state == "skipped"
    assert outbox.sweep(db.session, policy=POLICY, now=later(61)) == [message.id]
    assert outbox.run(db.session, message.id, policy=POLICY, now=later(61)).state == "done"
    booking = fresh(db, booking)
    assert (booking.order_state, booking.waybill_no, booking.carrier_task_id) == ("placed", "EA000000001CN", "T000001")
    assert fake_gateway.create_calls == 2 and len(fake_gateway.orders) == 1
    assert [r.order_no for r in fake_gateway.requests] == [booking.order_no] * 2  # the same order id both times


def test_an_answer_lost_after_the_carrier_accepted_is_retried_into_the_same_order(db, make_booking, fake_gateway):
    booking = make_booking()
    message = place_message(db, booking)
    fake_gateway.lose_answer = True
    assert outbox.run(db.session, message.id, policy=POLICY).state == "pending"
    assert fresh(db, booking).order_state == "pending"
    assert outbox.run(db.session, message.id, policy=POLICY, now=later(5)).state == "done"
    assert fresh(db, booking).waybill_no == "EA000000001CN"
    assert len(fake_gateway.orders) == 1


def test_a_booking_saved_but_never_relayed_is_placed_by_the_sweep(db, make_booking, fake_gateway):
    # Committed; its message's relay to the queue is lost (the process died). The government
    # pays: placing the order is its only message.
    booking = make_booking(payer="government")
    message = place_message(db, booking)
    assert message.state == "pending"
    assert outbox.sweep(db.session, policy=POLICY, grace_seconds=60) == []  # not overdue yet
    assert outbox.sweep(db.session, policy=POLICY, grace_seconds=60, now=later(61)) == [message.id]
    assert outbox.run(db.session, message.id, policy=POLICY).state == "done"
    assert fresh(db, booking).order_state == "placed" and fake_gateway.create_calls == 1


def test_a_crash_before_the_bookings_commit_leaves_nothing(db, make_slot, booker, fake_gateway):
    slot = make_slot(capacity=1)
    services.book(db.session, booking_in(slot), resident=booker, channel="mobile", actor=actor_of(booker))
    db.session.rollback()  # the request died before its commit
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Booking)) == 0
    assert db.session.scalar(sa.select(sa.func.count()).select_from(OutboxMessage)) == 0
    assert db.session.get(PickupSlot, slot.id).taken == 0
    assert fake_gateway.create_calls == 0


def test_a_cancel_while_the_killed_placing_waits_for_its_lease_still_cancels_the_carriers_order(
        db, make_booking, fake_gateway):
    booking = make_booking()
    message = place_message(db, booking)
    fake_gateway.die_after_accepting = True
    with pytest.raises(Killed):
        outbox.run(db.session, message.id, policy=POLICY)
    db.session.rollback()
    services.cancel(db.session, fresh(db, booking), actor="resident:1")
    db.session.commit()
    cancel = db.session.scalar(sa.select(OutboxMessage).where(OutboxMessage.topic == services.CANCEL_TOPIC))
    assert outbox.run(db.session, cancel.id, policy=POLICY).state == "pending"  # waits for the placing
    assert fake_gateway.cancel_calls == []
    assert outbox.run(db.session, message.id, policy=POLICY, now=later(61)).state == "done"
    assert outbox.run(db.session, cancel.id, policy=POLICY, now=later(65)).state == "done"
    assert fake_gateway.cancel_calls == [booking.order_no] and booking.order_no in fake_gateway.cancelled
    assert fresh(db, booking).order_state == "cancelled" and len(fake_gateway.orders) == 1


def test_a_worker_killed_after_the_carrier_cancelled_asks_again_harmlessly(db, make_booking, fake_gateway):
    booking = make_booking()
    jobs.place_order(db.session, booking.id)
    db.session.commit()
    services.cancel(db.session, fresh(db, booking), actor="resident:1")
    db.session.commit()
    jobs.cancel_order(db.session, booking.id, reason="r")
    db.session.rollback()  # killed before the commit: we do not know it was cancelled
    assert fresh(db, booking).order_state == "cancelling"
    assert jobs.cancel_order(db.session, booking.id, reason="r") == "cancelled"
    db.session.commit()
    assert fake_gateway.cancel_calls == [booking.order_no, booking.order_no]
