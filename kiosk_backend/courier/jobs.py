"""Courier's background jobs (registered with core.tasks on import): placing and cancelling
orders at the carrier, asking its price (``courier.quote``, kept as the booking's
``quote_fen``), SMS notices of a parcel's moves, polling quiet parcels, and the daily
reconciliation with the carrier's orders.

Placing an order (outbox ``courier.place_order``, key ``booking:<id>``: one message per
booking). The carrier gets our ``order_no`` as its order id, so a retry after a crash is the
same order: a worker killed after the carrier accepted but before we stored the answer runs
again, the carrier answers ``already_existed`` with the same waybill, and no second order
exists. A refusal for good (CarrierRejected) marks the order failed with the reason, gives
the slot's place back and puts 异常 on the timeline; an outage (CarrierUnavailable) raises,
and the outbox retries with backoff.

Cancelling (``courier.cancel_order``) waits until the placing message has finished (it
raises, so the outbox tries again later): then the carrier is asked to cancel, which is
harmless for an order it never got. A cancel the carrier refuses puts the booking back to
待揽收 (it never stays 已取消 while the parcel travels).

Notices (``courier.notify``, key ``booking:<id>:<status>``) follow applications/jobs.py:

    pending ─▶ sending ─▶ sent
       ▲          │ ├──▶ rejected    (the provider refused for good)
       │          │ └──▶ uncertain   (the text may have gone out: never resent)
       └─ failed ◀┘                  (certainly not sent: the outbox retries)
"""
from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from ..applications.jobs import sender_for_app
from ..applications.models import Application
from ..core import outbox, sms, tasks
from ..core.clock import LOCAL_TZ, utcnow
from ..core.i18n import translate
from ..identity import residents
from . import (
    models,  # noqa: F401  (the tables are part of the schema wherever jobs are registered)
    services,
    states,
)
from .gateway import (
    CarrierError,
    CarrierEvent,
    CarrierRejected,
    CourierGateway,
    OrderRequest,
    OrderResult,
    QuoteRequest,
)
from .models import Booking, ReconciliationFinding
from .notices import CourierNotice
from .states import OrderState, Purpose, Status

log = logging.getLogger(__name__)

TEMPLATE = "courier_status"  # KIOSK_SMS_TEMPLATES maps it to the provider's approved template
POLL_LIMIT = 200  # quiet parcels polled per run
ERROR_LIMIT = 500


class OrderNotPlacedYet(RuntimeError):
    """The cancel waits for the placing of the order to finish (the outbox retries it)."""


# ---------------------------------------------------------------- placing

def _window(slot) -> tuple[datetime | None, datetime | None]:
    if slot is None:
        return None, None
    start = datetime.combine(slot.day, time.fromisoformat(slot.starts), tzinfo=LOCAL_TZ).astimezone(UTC)
    end = datetime.combine(slot.day, time.fromisoformat(slot.ends), tzinfo=LOCAL_TZ).astimezone(UTC)
    return start, end


def order_request(session: Session, booking: Booking) -> OrderRequest:
    """What the carrier is sent for ``booking`` (clear mobiles: only for the adapter's call)."""
    start, end = _window(booking.slot)
    number = None
    if booking.application_id is not None:
        number = session.scalar(sa.select(Application.number).where(Application.id == booking.application_id))
    return OrderRequest(
        order_no=booking.order_no, sender=services.gateway_party(booking=booking, side="sender"),
        recipient=services.gateway_party(booking=booking, side="recipient"),
        item_name=translate(f"courier.item_type.{booking.item_type}", "zh-CN"), pieces=booking.pieces,
        weight_grams=booking.weight_grams, insured_value_fen=booking.insured_value_fen, payer=booking.payer,
        pickup_start=start, pickup_end=end, company=booking.carrier_company,
        remark=f"办件编号 {number}" if number else None)


def place_order(session: Session, booking_id: int, *, gateway: CourierGateway | None = None, now=utcnow) -> str:
    """Place the order of ``booking_id`` at its carrier unless it was placed (or refused, or
    cancelled) already; returns the booking's order state. Does not commit (the outbox
    commits the result with the message's done mark).

    Raises CarrierUnavailable (the outbox retries; a repeat is the same order at the carrier)."""
    booking = session.get(Booking, booking_id)
    if booking is None:
        return "skipped"
    if booking.order_state != OrderState.PENDING:
        return booking.order_state  # placed by an earlier run, refused, or cancelled meanwhile (the cancel job acts)
    gateway = gateway or services.gateway_for(session, booking.carrier)
    try:
        result = gateway.create_order(order_request(session, booking))
    except CarrierRejected as exc:
        return _refused(session, booking, exc, now=now)
    _store(session, booking, result, now=now)
    if result.already_existed:
        log.info("booking %s: the carrier had the order already (a retry); its answer is stored", booking.order_no)
    return booking.order_state


def _store(session: Session, booking: Booking, result: OrderResult, *, now) -> None:
    values: dict[str, Any] = {"carrier_task_id": result.task_id or booking.carrier_task_id, "last_error": None,
                              "updated_at": now()}
    if result.waybill_no and not booking.waybill_no:
        values["waybill_no"] = result.waybill_no[:40]
    if result.company and not booking.carrier_company:
        values["carrier_company"] = result.company[:32]
    if result.label_png:
        values["label_png"] = result.label_png
    # A cancel asked for while the order was being placed keeps "cancelling": the cancel job acts on it.
    values["order_state"] = sa.case((Booking.order_state == OrderState.PENDING, OrderState.PLACED.value),
                                    else_=Booking.order_state)
    session.execute(sa.update(Booking).where(Booking.id == booking.id).values(**values)
                    .execution_options(synchronize_session=False))
    session.refresh(booking)


def _refused(session: Session, booking: Booking, exc: CarrierRejected, *, now) -> str:
    reason = str(exc)[:400] or "refused"
    moved = session.execute(sa.update(Booking)
                            .where(Booking.id == booking.id, Booking.order_state == OrderState.PENDING)
                            .values(order_state=OrderState.FAILED, last_error=reason, updated_at=now())
                            .execution_options(synchronize_session=False)).rowcount == 1
    if moved:
        # The pickup will not happen: its place goes back to others.
        services.release_slot(session, booking.slot_id)
        session.refresh(booking)
        code = f"（{exc.code}）" if exc.code else ""
        services.record_tracking(session, booking, [CarrierEvent(
            status=Status.EXCEPTION, raw_text=f"快递公司未接单{code}：{reason}"[:500], occurred_at=now(),
            raw_code="order_refused")], source="ours", now=now)
        log.warning("booking %s: the carrier refused the order: %s", booking.order_no, reason)
    session.refresh(booking)
    return booking.order_state


@outbox.handler(services.PLACE_TOPIC)
def run_place_order(payload: dict, *, key: str, session: Session) -> None:
    place_order(session, int(payload["booking_id"]))


# ---------------------------------------------------------------- the price

def quote_booking(session: Session, booking_id: int, *, gateway: CourierGateway | None = None) -> int | None:
    """Ask the carrier for the price of ``booking_id`` and keep it (``quote_fen``, once: a
    price kept already is not asked again); returns the price in fen, or None when the
    carrier will not quote it (CarrierRejected: logged, the booking shows no price). Does not
    commit. Raises CarrierUnavailable (the outbox retries)."""
    booking = session.get(Booking, booking_id)
    if booking is None:
        return None
    if booking.quote_fen is not None:
        return booking.quote_fen
    if booking.status in (Status.CANCELLED, Status.RETURNED) or booking.order_state == OrderState.FAILED:
        return None  # nothing will be paid for it
    try:
        gateway = gateway or services.gateway_for(session, booking.carrier)  # no account: no price, not a retry
        request = QuoteRequest(sender=services.gateway_party(booking=booking, side="sender"),
                               recipient=services.gateway_party(booking=booking, side="recipient"),
                               weight_grams=booking.weight_grams, company=booking.carrier_company)
        quote = gateway.quote(request)
    except CarrierRejected as exc:
        log.warning("booking %s: the carrier gives no price: %s", booking.order_no, exc)
        return None
    session.execute(sa.update(Booking).where(Booking.id == booking.id, Booking.quote_fen.is_(None))
                    .values(quote_fen=quote.price_fen).execution_options(synchronize_session=False))
    session.refresh(booking)
    return booking.quote_fen


@outbox.handler(services.QUOTE_TOPIC)
def run_quote(payload: dict, *, key: str, session: Session) -> None:
    quote_booking(session, int(payload["booking_id"]))


# ---------------------------------------------------------------- cancelling

def cancel_order(session: Session, booking_id: int, *, reason: str, gateway: CourierGateway | None = None,
                 now=utcnow) -> str:
    """Cancel ``booking_id``'s order at the carrier once its placing has finished; returns
    the order state. The carrier's yes (or a refusal of an order it never confirmed to us: it
    never got it) settles the cancel and gives the slot's place back
    (services.cancel_confirmed); a refusal of one it had confirmed means the parcel is out of
    our hands: the booking goes back to 待揽收, order placed, with the carrier's reason on its
    timeline and in ``last_error`` for the console (services.cancel_refused). Does not commit.

    Raises OrderNotPlacedYet, CarrierUnavailable (both: the outbox tries again later)."""
    booking = session.get(Booking, booking_id)
    if booking is None:
        return "skipped"
    if booking.order_state != OrderState.CANCELLING:
        return booking.order_state
    placing = session.scalar(sa.select(outbox.OutboxMessage.state).where(
        outbox.OutboxMessage.topic == services.PLACE_TOPIC, outbox.OutboxMessage.key == f"booking:{booking.id}"))
    if booking.carrier_task_id is None and placing in (outbox.PENDING, outbox.RUNNING):
        raise OrderNotPlacedYet(f"booking {booking.order_no}: the order is still being placed; cancel after")
    gateway = gateway or services.gateway_for(session, booking.carrier)
    try:
        gateway.cancel_order(booking.order_no, task_id=booking.carrier_task_id, reason=reason)
    except CarrierRejected as exc:
        if booking.carrier_task_id is None:
            log.info("booking %s: the carrier does not know the order (%s): nothing to cancel", booking.order_no, exc)
        else:
            # Out of our hands (picked up meanwhile): the booking shows the truth again, not 已取消.
            services.cancel_refused(session, booking, str(exc)[:400] or "refused", now=now)
            log.warning("booking %s: the carrier refused the cancellation: %s", booking.order_no, exc)
            return booking.order_state
    services.cancel_confirmed(session, booking, now=now)
    return booking.order_state


@outbox.handler(services.CANCEL_TOPIC)
def run_cancel_order(payload: dict, *, key: str, session: Session) -> None:
    cancel_order(session, int(payload["booking_id"]), reason=str(payload.get("reason") or "用户取消"))


# ---------------------------------------------------------------- notices

def message_params(booking: Booking, status: str) -> tuple[str, ...]:
    """{1} the waybill number (our order number until there is one), {2} what is sent,
    {3} what happened.

    Suggested template (register it with the provider): 您的{2}（单号{1}）{3}。详情请在自助终端或
    小程序“我的寄件”查看。"""
    what = translate(f"courier.purpose.{booking.purpose}", "zh-CN")
    return booking.waybill_no or booking.order_no, what, translate(f"courier.status.{status}", "zh-CN")


def phone_for(session: Session, booking: Booking) -> str | None:
    """Who hears of the parcel: the resident who booked it, else the applicant's side of the
    booking (the recipient of a result, the sender of materials), if that is a mobile."""
    if booking.resident_id is not None:
        from ..identity.models import Resident

        resident = session.get(Resident, booking.resident_id)
        try:
            phone = residents.phone_of(resident) if resident is not None else None
        except ValueError:
            phone = None
        if phone:
            return phone
    side = "recipient" if booking.purpose == Purpose.RESULT_TO_APPLICANT else "sender"
    try:
        number = services.mobile_of(booking, side)
    except ValueError:
        return None
    return number if residents.PHONE.match(number) else None


def notify(session: Session, booking_id: int, status: str, *, sender: sms.SmsSender, event_id: int | None = None,
           now=utcnow) -> str:
    """Send the notice of ``booking_id`` reaching ``status`` unless it was sent, refused or
    may have been sent already; returns the notice's state. Commits its own steps.

    Raises SmsTemporaryError when the text was certainly not sent (the outbox retries)."""
    booking = session.get(Booking, booking_id)
    if booking is None:
        return "skipped"
    notice = session.scalar(sa.select(CourierNotice).where(CourierNotice.booking_id == booking_id,
                                                           CourierNotice.status == status))
    if notice is None:
        notice = CourierNotice(booking_id=booking_id, status=status, event_id=event_id, template=TEMPLATE,
                               state="pending", created_at=now())
        session.add(notice)
        session.flush()
    phone = phone_for(session, booking)
    message = sms.SmsMessage(phone=phone, template=TEMPLATE, params=message_params(booking, status)) \
        if phone else None
    return sms.send_once(session, CourierNotice, notice, phone=phone, message=message,
                         key=f"courier:{booking_id}:{status}", sender=sender, now=now)


@outbox.handler(services.NOTIFY_TOPIC)
def run_notify(payload: dict, *, key: str, session: Session) -> None:
    notify(session, int(payload["booking_id"]), str(payload["status"]), sender=sender_for_app(),
           event_id=payload.get("event_id"))


# ---------------------------------------------------------------- polling quiet parcels

def poll_quiet(session: Session, *, quiet: timedelta, gateway: CourierGateway | None = None, limit: int = POLL_LIMIT,
               now=utcnow) -> int:
    """Ask the carrier for the tracking of parcels on their way that nobody has heard of
    (push or poll) for ``quiet``: the fallback of pushes. Each parcel is committed on its
    own; a carrier that does not answer leaves it for the next run. Returns how many were
    polled."""
    heard = sa.func.coalesce(Booking.last_tracked_at, Booking.created_at)
    rows = session.execute(
        sa.select(Booking.id, Booking.carrier, Booking.waybill_no, Booking.carrier_company)
        .where(Booking.status.not_in([str(s) for s in states.FINAL]), Booking.waybill_no.is_not(None),
               Booking.order_state.in_([OrderState.PLACED, OrderState.CANCELLING]), heard < now() - quiet)
        .order_by(heard, Booking.id).limit(limit)).all()
    session.commit()  # no transaction held open across the carrier's calls
    polled = 0
    for booking_id, carrier, waybill_no, company in rows:
        try:
            booking = session.get(Booking, booking_id)
            phone = services.mobile_of(booking, "recipient")
            session.commit()
            events = (gateway or services.gateway_for(session, carrier)).fetch_tracking(
                waybill_no=waybill_no, company=company, phone=phone)
            booking = session.get(Booking, booking_id)
            services.record_tracking(session, booking, events, source="poll", now=now)
            session.commit()
            polled += 1
        except CarrierError as exc:
            session.rollback()
            log.warning("courier poll of booking %s failed: %s", booking_id, exc)
        except Exception:
            session.rollback()
            log.exception("courier poll of booking %s failed", booking_id)
    return polled


@tasks.periodic("courier.poll_quiet", every=timedelta(minutes=1))
def poll_quiet_parcels(session: Session, config: Mapping[str, Any]) -> int:
    """Quiet parcels (none heard of for KIOSK_COURIER_POLL_QUIET_MINUTES) polled at the carrier."""
    minutes = float(config.get("KIOSK_COURIER_POLL_QUIET_MINUTES", 120))
    return poll_quiet(session, quiet=timedelta(minutes=minutes))


# ---------------------------------------------------------------- reconciliation

def _day_bounds(day: date) -> tuple[datetime, datetime]:
    start = datetime.combine(day, time(0), tzinfo=LOCAL_TZ).astimezone(UTC)
    return start, start + timedelta(days=1)


def _differences(booking: Booking, theirs: OrderResult) -> list[tuple[str, str | None, str | None]]:
    found = []
    if theirs.status is not None and str(theirs.status) != booking.status:
        found.append(("status_differs", booking.status, str(theirs.status)))
    if theirs.waybill_no and theirs.waybill_no != booking.waybill_no:
        found.append(("waybill_differs", booking.waybill_no, theirs.waybill_no))
    return found


def compare(session: Session, ours: list[Booking], theirs: list[OrderResult]) -> list[dict[str, Any]]:
    """The differences between our bookings of a day and the carrier's orders of that day:
    missing_at_carrier (ours, not cancelled or refused, unknown there), unknown_to_us (theirs,
    no booking has its order number), status_differs, waybill_differs."""
    by_no = {order.order_no: order for order in theirs}
    findings: list[dict[str, Any]] = []
    for booking in ours:
        order = by_no.pop(booking.order_no, None)
        if order is None:
            if booking.order_state in (OrderState.PENDING, OrderState.PLACED, OrderState.CANCELLING):
                findings.append(dict(kind="missing_at_carrier", booking_id=booking.id, order_no=booking.order_no,
                                     ours=f"{booking.status} / {booking.order_state}", theirs=None))
            continue
        findings.extend(dict(kind=kind, booking_id=booking.id, order_no=booking.order_no, ours=a, theirs=b)
                        for kind, a, b in _differences(booking, order))
    for order in by_no.values():
        known = session.scalar(sa.select(Booking).where(Booking.order_no == order.order_no))
        if known is None:
            findings.append(dict(kind="unknown_to_us", booking_id=None, order_no=order.order_no, ours=None,
                                 theirs=" ".join(str(x) for x in (order.status, order.waybill_no) if x) or None))
        else:  # booked on our side of midnight, placed on theirs
            findings.extend(dict(kind=kind, booking_id=known.id, order_no=known.order_no, ours=a, theirs=b)
                            for kind, a, b in _differences(known, order))
    return findings


def reconcile(session: Session, day: date, *, carriers: list[str] | None = None,
              gateway: CourierGateway | None = None, now=utcnow) -> int:
    """Compare our bookings made on ``day`` (China Standard Time) with each carrier's orders
    of that day and keep the differences as ReconciliationFinding rows (``run_on`` = day).
    Idempotent per (day, carrier): a run replaces the open findings of an earlier one, and a
    finding an admin resolved is not raised again. Commits per carrier; returns how many open
    findings there are. A carrier that does not answer is skipped (logged)."""
    start, end = _day_bounds(day)
    ours = list(session.scalars(sa.select(Booking).where(Booking.created_at >= start, Booking.created_at < end)
                                .order_by(Booking.id)))
    names = carriers or sorted({b.carrier for b in ours} | {services.configured_carrier()})
    moment = now()
    total = 0
    for carrier in names:
        try:
            theirs = (gateway or services.gateway_for(session, carrier)).list_orders(day)
        except CarrierError as exc:
            session.rollback()
            log.warning("courier reconciliation of %s for %s skipped: %s", carrier, day, exc)
            continue
        findings = compare(session, [b for b in ours if b.carrier == carrier], theirs)
        session.execute(sa.delete(ReconciliationFinding).where(
            ReconciliationFinding.run_on == day, ReconciliationFinding.carrier == carrier,
            ReconciliationFinding.resolved_at.is_(None)))
        resolved = set(session.execute(sa.select(ReconciliationFinding.kind, ReconciliationFinding.order_no).where(
            ReconciliationFinding.run_on == day, ReconciliationFinding.carrier == carrier)).all())
        for finding in findings:
            if (finding["kind"], finding["order_no"]) in resolved:
                continue
            session.add(ReconciliationFinding(run_on=day, carrier=carrier, found_at=moment,
                                              **{**finding, "ours": (finding["ours"] or None) and finding["ours"][:200],
                                                 "theirs": (finding["theirs"] or None) and finding["theirs"][:200]}))
            total += 1
        session.commit()
    return total


@tasks.periodic("courier.reconcile", every=timedelta(days=1))
def reconcile_yesterday(session: Session, config: Mapping[str, Any]) -> int:
    """Yesterday's (China Standard Time) bookings against the carriers' orders; runs at 08:00 CST."""
    yesterday = utcnow().astimezone(LOCAL_TZ).date() - timedelta(days=1)
    return reconcile(session, yesterday)
