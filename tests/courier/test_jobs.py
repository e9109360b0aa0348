"""Courier's background jobs (courier/jobs.py): placing orders through the outbox with our
order number, refusals and outages, cancelling after the placing, SMS notices sent at most
once, polling quiet parcels, and the daily reconciliation."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from kiosk_backend.core import outbox, sms, tasks
from kiosk_backend.core.clock import LOCAL_TZ, utcnow
from kiosk_backend.core.outbox import OutboxMessage, Policy
from kiosk_backend.courier import jobs, services
from kiosk_backend.courier.gateway import CarrierRejected, CarrierUnavailable, OrderResult
from kiosk_backend.courier.models import Booking, PickupSlot, ReconciliationFinding
from kiosk_backend.courier.notices import CourierNotice
from tests.conftest import APPLICANT_PHONE

from .conftest import RECIPIENT_MOBILE, booking_in, ensure_authority, event, party

POLICY = Policy(max_attempts=3, backoff_base=1, backoff_cap=2, lease_seconds=60)


def message(db, topic: str, booking) -> OutboxMessage:
    db.session.expire_all()
    return db.session.scalar(sa.select(OutboxMessage).where(OutboxMessage.topic == topic,
                                                           OutboxMessage.key.startswith(f"booking:{booking.id}")))


def run(db, topic: str, booking) -> str:
    return outbox.run(db.session, message(db, topic, booking).id, policy=POLICY).state


def fresh(db, booking) -> Booking:
    db.session.expire_all()
    return db.session.get(Booking, booking.id)


def due_now(db) -> None:
    """Make every waiting message due (the backoff has passed)."""
    db.session.execute(sa.update(OutboxMessage).values(next_attempt_at=utcnow() - timedelta(seconds=1)))
    db.session.commit()


# ===================================================================== placing the order

def test_the_worker_places_the_order_with_our_order_number_and_stores_the_waybill(
        db, make_booking, make_application, fake_gateway):
    application = make_application("concluded")
    booking = make_booking(purpose="result_to_applicant", application_number=application.number, item_type="licence")
    assert run(db, services.PLACE_TOPIC, booking) == "done"
    booking = fresh(db, booking)
    assert (booking.order_state, booking.carrier_task_id, booking.waybill_no, booking.carrier_company) == (
        "placed", "T000001", "EA000000001CN", "ems")
    [sent] = fake_gateway.requests
    assert sent.order_no == booking.order_no and sent.item_name == "证照"
    # The result leg is sent by the handling authority's registered office (conftest.ensure_authority).
    assert (sent.sender.mobile, sent.recipient.mobile) == ("0792-8221234", RECIPIENT_MOBILE)
    assert (sent.sender.province, sent.sender.city, sent.sender.county) == ("江西省", "九江市", "濂溪区")
    assert sent.remark == f"办件编号 {application.number}"
    slot = booking.slot
    assert sent.pickup_start.astimezone(LOCAL_TZ).strftime("%H:%M") == slot.starts
    assert sent.pickup_end.astimezone(LOCAL_TZ).date() == slot.day and sent.pickup_end.tzinfo is not None


def test_an_order_placed_already_is_not_placed_again(db, make_booking, fake_gateway):
    booking = make_booking()
    assert jobs.place_order(db.session, booking.id) == "placed"
    db.session.commit()
    assert jobs.place_order(db.session, booking.id) == "placed"
    assert fake_gateway.create_calls == 1
    assert jobs.place_order(db.session, 10**6) == "skipped"


def test_a_refusal_for_good_fails_the_order_frees_the_place_and_shows_an_exception(
        db, make_slot, make_booking, fake_gateway):
    slot = make_slot(capacity=1)
    booking = make_booking(slot=slot)
    fake_gateway.failures = [CarrierRejected("收件地址超出服务范围", code="out_of_area")]
    assert run(db, services.PLACE_TOPIC, booking) == "done"  # not retried
    booking = fresh(db, booking)
    assert (booking.order_state, booking.status) == ("failed", "exception")
    assert booking.last_error == "收件地址超出服务范围"
    assert booking.events[-1].source == "ours" and "收件地址超出服务范围" in booking.events[-1].raw_text
    assert db.session.get(PickupSlot, slot.id).taken == 0
    assert fake_gateway.create_calls == 1


def test_an_outage_is_retried_and_the_order_placed_once(db, make_booking, fake_gateway):
    booking = make_booking()
    fake_gateway.failures = [CarrierUnavailable("HTTP 502")]
    assert run(db, services.PLACE_TOPIC, booking) == "pending"
    assert fresh(db, booking).order_state == "pending"
    assert "HTTP 502" in message(db, services.PLACE_TOPIC, booking).last_error
    due_now(db)
    assert run(db, services.PLACE_TOPIC, booking) == "done"
    assert fresh(db, booking).order_state == "placed" and len(fake_gateway.orders) == 1


# ===================================================================== cancelling

def test_a_cancel_waits_for_the_placing_then_cancels_at_the_carrier(db, make_booking, fake_gateway):
    booking = make_booking()
    services.cancel(db.session, booking, actor="x")
    db.session.commit()
    with pytest.raises(jobs.OrderNotPlacedYet):
        jobs.cancel_order(db.session, booking.id, reason="r")
    db.session.rollback()
    assert run(db, services.PLACE_TOPIC, booking) == "done"  # sees the cancel: places nothing
    assert fake_gateway.create_calls == 0
    assert run(db, services.CANCEL_TOPIC, booking) == "done"
    assert fresh(db, booking).order_state == "cancelled"
    assert fake_gateway.cancel_calls == [booking.order_no]


def test_a_placed_order_is_cancelled_at_the_carrier(db, make_booking, fake_gateway):
    booking = make_booking()
    run(db, services.PLACE_TOPIC, booking)
    services.cancel(db.session, fresh(db, booking), actor="x", reason="不寄了")
    db.session.commit()
    assert run(db, services.CANCEL_TOPIC, booking) == "done"
    assert fresh(db, booking).order_state == "cancelled" and booking.order_no in fake_gateway.cancelled


def test_a_cancellation_the_carrier_refuses_leaves_the_order_placed_with_the_reason(db, make_booking, fake_gateway):
    booking = make_booking()
    run(db, services.PLACE_TOPIC, booking)
    services.cancel(db.session, fresh(db, booking), actor="x")
    db.session.commit()
    fake_gateway.cancel_failures = [CarrierRejected("已揽收，无法取消")]
    assert run(db, services.CANCEL_TOPIC, booking) == "done"
    booking = fresh(db, booking)
    assert booking.order_state == "placed" and "已揽收" in booking.last_error


def test_a_refused_cancel_puts_the_booking_back_with_its_place_and_a_note_not_cancelled(
        db, make_slot, make_booking, fake_gateway):
    slot = make_slot(capacity=2)
    booking = make_booking(slot=slot)
    run(db, services.PLACE_TOPIC, booking)
    services.cancel(db.session, fresh(db, booking), actor="x")
    db.session.commit()
    booking = fresh(db, booking)
    assert (booking.status, booking.order_state) == ("cancelled", "cancelling")
    assert booking.slot.taken == 1  # the place is given back only when the carrier confirms
    fake_gateway.cancel_failures = [CarrierRejected("已揽收，无法取消")]
    assert run(db, services.CANCEL_TOPIC, booking) == "done"
    booking = fresh(db, booking)
    assert (booking.status, booking.order_state, booking.cancelled_at) == ("pending_pickup", "placed", None)
    assert booking.last_error.startswith("cancel refused") and booking.slot.taken == 1
    note = max(booking.events, key=lambda e: (e.occurred_at, e.id))
    assert note.raw_code == "cancel_refused" and "未同意取消" in note.raw_text and "已揽收" in note.raw_text
    shown = services.view(booking)
    assert shown["status"] == "pending_pickup" and shown["cancellable"] is False
    with pytest.raises(services.NotCancellable):  # the carrier has it: only its own exception flow now
        services.cancel(db.session, booking, actor="x")


def test_events_that_came_while_the_cancel_was_pending_move_the_booking_once_it_is_refused(
        db, make_booking, fake_gateway):
    booking = make_booking()
    run(db, services.PLACE_TOPIC, booking)
    services.cancel(db.session, fresh(db, booking), actor="x")
    db.session.commit()
    booking = fresh(db, booking)
    picked_up = utcnow()
    services.record_tracking(db.session, booking, [event("accepted", picked_up, event_id="c1")], source="push")
    db.session.commit()
    assert fresh(db, booking).status == "cancelled"  # shown as asked for, until the carrier answers
    fake_gateway.cancel_failures = [CarrierRejected("已揽收，无法取消")]
    assert run(db, services.CANCEL_TOPIC, booking) == "done"
    booking = fresh(db, booking)
    assert booking.status == "accepted" and booking.order_state == "placed"


def test_a_confirmed_cancel_gives_the_place_back_once(db, make_slot, make_booking, fake_gateway):
    slot = make_slot(capacity=2)
    booking = make_booking(slot=slot)
    run(db, services.PLACE_TOPIC, booking)
    services.cancel(db.session, fresh(db, booking), actor="x")
    db.session.commit()
    assert fresh(db, booking).slot.taken == 1  # held while the carrier may still refuse
    assert run(db, services.CANCEL_TOPIC, booking) == "done"
    booking = fresh(db, booking)
    assert (booking.status, booking.order_state, booking.slot.taken) == ("cancelled", "cancelled", 0)
    assert jobs.cancel_order(db.session, booking.id, reason="r") == "cancelled"  # again: nothing more
    db.session.commit()
    assert fresh(db, booking).slot.taken == 0


def test_a_cancel_during_an_outage_is_retried(db, make_booking, fake_gateway):
    booking = make_booking()
    run(db, services.PLACE_TOPIC, booking)
    services.cancel(db.session, fresh(db, booking), actor="x")
    db.session.commit()
    fake_gateway.cancel_failures = [CarrierUnavailable("timeout")]
    assert run(db, services.CANCEL_TOPIC, booking) == "pending"
    assert fresh(db, booking).order_state == "cancelling"
    due_now(db)
    assert run(db, services.CANCEL_TOPIC, booking) == "done"
    assert fresh(db, booking).order_state == "cancelled"


def test_a_cancel_message_for_a_booking_not_cancelling_does_nothing(db, make_booking, fake_gateway):
    booking = make_booking()
    assert jobs.cancel_order(db.session, booking.id, reason="r") == "pending"
    assert jobs.cancel_order(db.session, 10**6, reason="r") == "skipped"
    assert fake_gateway.cancel_calls == []


# ===================================================================== SMS notices

def accepted(db, booking, at=None):
    services.record_tracking(db.session, booking, [event("accepted", at or utcnow(), waybill_no=f"EA{booking.id:09d}CN")],
                             source="push")
    db.session.commit()


def test_pickup_is_texted_to_the_resident_once_with_waybill_purpose_and_status(db, make_booking, sms_sender):
    booking = make_booking()
    accepted(db, booking)
    assert run(db, services.NOTIFY_TOPIC, booking) == "done"
    [text] = sms_sender.sent
    assert text.phone == APPLICANT_PHONE and text.template == jobs.TEMPLATE
    assert text.params == (f"EA{booking.id:09d}CN", "寄件", "已收寄")
    notice = db.session.scalar(sa.select(CourierNotice))
    assert (notice.status, notice.state) == ("accepted", "sent")
    assert jobs.notify(db.session, booking.id, "accepted", sender=sms_sender) == "sent"
    assert len(sms_sender.sent) == 1


def test_without_a_resident_the_applicants_side_is_texted(db, make_booking, make_application, make_staff,
                                                          sms_sender, make_slot):
    helper = make_staff("helper", role="helper")
    application = make_application("concluded")
    ensure_authority(db, application.number)
    booking = services.book(db.session, booking_in(make_slot(), purpose="result_to_applicant",
                                                   application_number=application.number),
                            resident=None, channel="helper", helper=helper, actor="helper")
    db.session.commit()
    accepted(db, booking)
    run(db, services.NOTIFY_TOPIC, booking)
    assert [t.phone for t in sms_sender.sent] == [RECIPIENT_MOBILE]


def test_an_sms_outage_is_retried_and_a_lost_answer_is_never_resent(db, make_booking, sms_sender):
    booking = make_booking()
    accepted(db, booking)
    sms_sender.failures = [sms.SmsTemporaryError("connection refused", maybe_sent=False)]
    assert run(db, services.NOTIFY_TOPIC, booking) == "pending"
    due_now(db)
    assert run(db, services.NOTIFY_TOPIC, booking) == "done" and len(sms_sender.sent) == 1
    other = make_booking()
    accepted(db, other)
    sms_sender.failures = [sms.SmsTemporaryError("read timed out", maybe_sent=True)]
    assert run(db, services.NOTIFY_TOPIC, other) == "done"
    notices = {n.booking_id: n.state for n in db.session.scalars(sa.select(CourierNotice))}
    assert notices == {booking.id: "sent", other.id: "uncertain"} and len(sms_sender.sent) == 1


def test_a_worker_killed_during_the_provider_call_leaves_an_uncertain_notice(db, make_booking, sms_sender):
    booking = make_booking()
    accepted(db, booking)
    db.session.add(CourierNotice(booking_id=booking.id, status="accepted", template=jobs.TEMPLATE, state="sending",
                                 attempts=1, created_at=utcnow()))
    db.session.commit()
    assert run(db, services.NOTIFY_TOPIC, booking) == "done"
    assert db.session.scalar(sa.select(CourierNotice.state)) == "uncertain" and sms_sender.sent == []


def test_a_refused_text_is_kept_and_not_retried(db, make_booking, sms_sender):
    booking = make_booking()
    accepted(db, booking)
    sms_sender.failures = [sms.SmsRejected("template not approved")]
    assert run(db, services.NOTIFY_TOPIC, booking) == "done"
    assert db.session.scalar(sa.select(CourierNotice.state)) == "rejected"


def test_nobody_to_text_is_skipped(db, make_booking, make_booker, sms_sender):
    mute = make_booker("王五", id_number=None, phone=None)
    booking = make_booking(mute, sender=party(mobile="0792-8221234"))
    accepted(db, booking)
    assert jobs.notify(db.session, booking.id, "accepted", sender=sms_sender) == "skipped"
    assert jobs.notify(db.session, 10**6, "accepted", sender=sms_sender) == "skipped"


# ===================================================================== polling quiet parcels

def placed(db, make_booking, fake_gateway, **kwargs) -> Booking:
    booking = make_booking(**kwargs)
    jobs.place_order(db.session, booking.id)
    db.session.commit()
    return fresh(db, booking)


def test_quiet_parcels_are_polled_and_their_events_recorded(db, make_booking, fake_gateway):
    booking = placed(db, make_booking, fake_gateway)
    t = utcnow()
    fake_gateway.tracking[booking.waybill_no] = [event("accepted", t - timedelta(hours=3)),
                                                 event("in_transit", t - timedelta(hours=1))]
    assert jobs.poll_quiet(db.session, quiet=timedelta(minutes=120)) == 0  # booked just now: not quiet
    later = lambda: t + timedelta(hours=3)  # noqa: E731
    assert jobs.poll_quiet(db.session, quiet=timedelta(minutes=120), now=later) == 1
    booking = fresh(db, booking)
    assert booking.status == "in_transit" and booking.last_tracked_at == later()
    assert {e.source for e in booking.events} == {"ours", "poll"}
    assert jobs.poll_quiet(db.session, quiet=timedelta(minutes=120), now=later) == 0  # heard of just now
    assert fake_gateway.fetches == [booking.waybill_no]


def test_final_parcels_and_orders_without_a_waybill_are_not_polled(db, make_booking, fake_gateway):
    delivered = placed(db, make_booking, fake_gateway)
    services.record_tracking(db.session, delivered, [event("delivered", utcnow())], source="push")
    make_booking()  # order still pending: no waybill yet
    db.session.commit()
    later = lambda: utcnow() + timedelta(days=1)  # noqa: E731
    assert jobs.poll_quiet(db.session, quiet=timedelta(minutes=1), now=later) == 0
    assert fake_gateway.fetches == []


def test_a_carrier_that_does_not_answer_a_poll_leaves_the_parcel_for_the_next_run(db, make_booking, fake_gateway):
    first = placed(db, make_booking, fake_gateway)
    second = placed(db, make_booking, fake_gateway)
    fake_gateway.failures = [CarrierUnavailable("timeout")]
    later = lambda: utcnow() + timedelta(days=1)  # noqa: E731
    assert jobs.poll_quiet(db.session, quiet=timedelta(minutes=1), now=later) == 1
    assert fresh(db, first).last_tracked_at is None and fresh(db, second).last_tracked_at is not None


def test_the_periodic_jobs_are_registered(app):
    periodic = tasks.periodic_jobs()
    assert periodic["courier.poll_quiet"].every == timedelta(minutes=1)
    assert periodic["courier.reconcile"].every == timedelta(days=1)
    assert {"courier.poll_quiet", "courier.reconcile"} <= set(app.extensions["periodic_tasks"])
    assert outbox.handler_for(services.PLACE_TOPIC) is jobs.run_place_order
    assert outbox.handler_for(services.CANCEL_TOPIC) is jobs.run_cancel_order
    assert outbox.handler_for(services.NOTIFY_TOPIC) is jobs.run_notify


def test_the_periodic_poll_reads_its_quiet_time_from_the_configuration(app, db, make_booking, fake_gateway):
    placed(db, make_booking, fake_gateway)
    job = tasks.periodic_jobs()["courier.poll_quiet"]
    assert job.fn(db.session, {"KIOSK_COURIER_POLL_QUIET_MINUTES": 120}) == 0
    assert job.fn(db.session, {"KIOSK_COURIER_POLL_QUIET_MINUTES": -1}) == 1


# ===================================================================== reconciliation

def yesterday_booking(db, make_booking, fake_gateway, **kwargs) -> tuple[Booking, datetime]:
    day = utcnow().astimezone(LOCAL_TZ).date() - timedelta(days=1)
    noon = datetime(day.year, day.month, day.day, 12, tzinfo=LOCAL_TZ).astimezone(UTC)
    booking = make_booking(now=lambda: noon, **kwargs)
    jobs.place_order(db.session, booking.id)
    db.session.commit()
    return fresh(db, booking), day


def findings(db) -> list[tuple[str, str | None, str | None, str | None]]:
    db.session.expire_all()
    return sorted((f.kind, f.order_no, f.ours, f.theirs) for f in db.session.scalars(sa.select(ReconciliationFinding)))


def test_reconciliation_lists_every_kind_of_difference_once(db, make_booking, fake_gateway):
    same, day = yesterday_booking(db, make_booking, fake_gateway)
    moved, _ = yesterday_booking(db, make_booking, fake_gateway)
    renumbered, _ = yesterday_booking(db, make_booking, fake_gateway)
    missing, _ = yesterday_booking(db, make_booking, fake_gateway)
    fake_gateway.listed = [
        OrderResult(same.order_no, same.carrier_task_id, same.waybill_no, status="pending_pickup"),
        OrderResult(moved.order_no, moved.carrier_task_id, moved.waybill_no, status="accepted"),
        OrderResult(renumbered.order_no, renumbered.carrier_task_id, "EA999999999CN"),
        OrderResult("KB20990101ZZZZZZZZ", "T9", "EA888888888CN", status="in_transit"),
    ]
    expected = [
        ("missing_at_carrier", missing.order_no, "pending_pickup / placed", None),
        ("status_differs", moved.order_no, "pending_pickup", "accepted"),
        ("unknown_to_us", "KB20990101ZZZZZZZZ", None, "in_transit EA888888888CN"),
        ("waybill_differs", renumbered.order_no, renumbered.waybill_no, "EA999999999CN"),
    ]
    assert jobs.reconcile(db.session, day, gateway=fake_gateway) == 4
    assert findings(db) == sorted(expected)
    assert jobs.reconcile(db.session, day, gateway=fake_gateway) == 4  # run again: the same findings, once
    assert findings(db) == sorted(expected)
    assert {f.run_on for f in db.session.scalars(sa.select(ReconciliationFinding))} == {day}


def test_a_resolved_finding_is_not_raised_again_and_cancelled_or_refused_orders_are_not_missing(
        db, make_booking, fake_gateway):
    missing, day = yesterday_booking(db, make_booking, fake_gateway)
    refused = make_booking(now=lambda: fresh(db, missing).created_at)
    db.session.execute(sa.update(Booking).where(Booking.id == refused.id).values(order_state="failed"))
    db.session.commit()
    assert jobs.reconcile(db.session, day, gateway=fake_gateway) == 1
    db.session.execute(sa.update(ReconciliationFinding).values(resolved_at=utcnow()))
    db.session.commit()
    assert jobs.reconcile(db.session, day, gateway=fake_gateway) == 0
    assert len(findings(db)) == 1


def test_a_carrier_that_does_not_answer_is_skipped(db, make_booking, fake_gateway):
    _, day = yesterday_booking(db, make_booking, fake_gateway)
    fake_gateway.failures = [CarrierUnavailable("down")]
    assert jobs.reconcile(db.session, day, gateway=fake_gateway) == 0
    assert findings(db) == []


def test_the_daily_job_reconciles_yesterday(app, db, make_booking, fake_gateway):
    missing, _ = yesterday_booking(db, make_booking, fake_gateway)
    job = tasks.periodic_jobs()["courier.reconcile"]
    assert job.fn(db.session, app.config) == 1
    assert findings(db)[0][:2] == ("missing_at_carrier", missing.order_no)


def test_a_refused_cancel_tells_the_resident_of_the_pickup_that_came_meanwhile(db, make_booking, fake_gateway):
    from kiosk_backend.core.outbox import OutboxMessage

    booking = make_booking()
    run(db, services.PLACE_TOPIC, booking)
    services.cancel(db.session, fresh(db, booking), actor="x")
    db.session.commit()
    services.record_tracking(db.session, fresh(db, booking), [event("accepted", utcnow(), event_id="c2")],
                             source="push")
    db.session.commit()
    fake_gateway.cancel_failures = [CarrierRejected("已揽收，无法取消")]
    run(db, services.CANCEL_TOPIC, booking)
    notices = db.session.scalars(sa.select(OutboxMessage).where(OutboxMessage.topic == services.NOTIFY_TOPIC)).all()
    assert [m.payload["status"] for m in notices] == ["accepted"]  # 揽收 is told, though it came while 已取消 showed


def test_a_cancelled_booking_is_not_priced(db, make_booking, fake_gateway):
    from kiosk_backend.courier import jobs

    booking = make_booking()
    services.cancel(db.session, fresh(db, booking), actor="x")
    db.session.commit()
    calls = len(getattr(fake_gateway, "quotes", []))
    assert jobs.quote_booking(db.session, booking.id, gateway=fake_gateway) is None
    assert len(getattr(fake_gateway, "quotes", [])) == calls
