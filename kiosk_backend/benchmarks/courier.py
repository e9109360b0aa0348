"""Booking and tracking lookups with many bookings (``kiosk bench courier``). PERFORMANCE.md's
budget: booking p95 ≤ 50 ms in-process with 100,000 applications and 100,000 bookings in
the database.

A scratch database (a temporary SQLite file, or a fresh schema in the PostgreSQL database
named by --database-url / KIOSK_BENCH_DATABASE_URL, dropped afterwards) is migrated to head
and gets ten pickup sites with two windows a day for three months, ``applications``
applications (bench progress's filler: the demo catalog's items, real digests) and N
bookings with about five tracking events each. Bookings and events are written with bulk
INSERTs (through services.book one by one, 100,000 would take the better part of an hour),
shaped as the services leave them: order numbers of services' form, mobiles sealed with the
deployment's key (a pool of 1,000 numbers), the demo carrier's waybill numbers, statuses and
timelines along the journey (states.next_status), slots' places counted, a third of them
legs of applications. One resident has 10 bookings, some for their own applications.

Measured in-process, each call in a fresh session as a request has, n calls each:

- tracking lookup: services.get_for_resident + services.view for the resident with 10
  bookings (the booking page of the phone and the kiosk), and the list of their bookings
  with the views (services.for_resident);
- a carrier's event to its booking by waybill (services.find_by_carrier_event), and
  recording a new event (services.record_tracking + commit), on parcels under way;
- booking: services.book + commit (validation, the slot's conditional UPDATE, the booking and
  its first event, the outbox message, the audit entry), three in four standalone and one in
  four the result leg of one of the resident's applications, into fresh slots.

The query plans of the lookups are printed with them, and the budget line last.
"""
from __future__ import annotations

import logging
import os
import platform
import random
import re
import statistics
import time
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from datetime import time as clock_time
from typing import Any

import sqlalchemy as sa

from . import scratch_app

BUDGET_MS = 50.0
BUDGET_COUNT = 100_000
BUSY = 10  # bookings of the resident whose lookups are measured
CHUNK = 5_000
SITES = 10
HISTORY_DAYS = 90
WINDOWS = (("09:00", "11:00"), ("14:00", "16:00"))
MOBILES = 1_000  # sealed numbers reused across rows (sealing 200,000 would only cost filling time)
BASE32 = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
COUNTIES = ("360403", "360402", "360404", "360423", "360424", "360425", "360426", "360428", "360429", "360430")
DESTINATIONS = (("44", "4403", "440303"), ("33", "3301", "330106"), ("11", "1101", "110105"), ("36", "3601", "360102"),
                ("36", "3604", "360402"), ("42", "4201", "420106"), ("51", "5101", "510104"))
# How a year's bookings end up: most are signed for.
STATUS_WEIGHTS = {"delivered": 60, "in_transit": 8, "pending_pickup": 8, "cancelled": 8, "accepted": 5,
                  "out_for_delivery": 4, "failed_delivery": 2, "returned": 2, "awaiting_collection": 2,
                  "exception": 1}
# The events that bring a parcel to its status (after our own "booked" entry).
PATHS = {
    "pending_pickup": (),
    "cancelled": ("cancelled",),
    "accepted": ("accepted",),
    "in_transit": ("accepted", "in_transit", "in_transit"),
    "exception": ("accepted", "in_transit", "exception"),
    "out_for_delivery": ("accepted", "in_transit", "in_transit", "out_for_delivery"),
    "failed_delivery": ("accepted", "in_transit", "out_for_delivery", "failed_delivery"),
    "awaiting_collection": ("accepted", "in_transit", "out_for_delivery", "awaiting_collection"),
    "delivered": ("accepted", "in_transit", "in_transit", "out_for_delivery", "delivered"),
    "returned": ("accepted", "in_transit", "out_for_delivery", "failed_delivery", "out_for_delivery",
                 "failed_delivery", "returned"),
}
TEXTS = {
    "cancelled": "已取消预约", "accepted": "【九江市浔阳营业厅】已收寄",
    "in_transit": "离开【九江市邮件处理中心】，下一站【{city}邮件处理中心】",
    "exception": "【九江市邮件处理中心】邮件滞留：航班延误", "out_for_delivery": "【{city}投递支局】正在投递",
    "failed_delivery": "【{city}投递支局】投递失败：收件人不在", "awaiting_collection": "【{city}邮政驿站】已投递至驿站",
    "delivered": "【{city}投递支局】已妥投", "returned": "【{city}投递支局】邮件已退回寄件人",
}
UNDER_WAY = ("accepted", "in_transit", "out_for_delivery")


# ---------------------------------------------------------------- numbers

def _percentile(samples: list[float], p: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


def _stats(samples: list[float]) -> dict[str, float]:
    return {"p50": statistics.median(samples), "p95": _percentile(samples, 95), "p99": _percentile(samples, 99)}


def _line(what: str, stats: dict[str, float], detail: str) -> str:
    return f"{what} p95 {stats['p95']:.2f} ms, p50 {stats['p50']:.2f} ms, p99 {stats['p99']:.2f} ms ({detail})"


def order_no(serial: int, moment: datetime) -> str:
    """An order number of services.new_order_no's form, unique by ``serial``."""
    digits, value = [], serial
    for _ in range(8):
        value, rest = divmod(value, 32)
        digits.append(BASE32[rest])
    return "KB" + moment.astimezone(_china()).strftime("%Y%m%d") + "".join(reversed(digits))


def _china():
    from ..core.clock import LOCAL_TZ

    return LOCAL_TZ


# ---------------------------------------------------------------- filling

class Filler:
    """Rows for the sites' slots, the residents and N bookings with their events."""

    def __init__(self, db, count: int, *, now: datetime, owner_hash: str | None, owned: list[tuple[int, str]],
                 applications: int, seed: int = 2260):
        from ..identity import residents

        self.db, self.count, self.now = db, count, now
        self.rng = random.Random(seed)
        self.keys = residents.data_keys()
        self.owner_hash, self.owned, self.applications = owner_hash, owned, applications
        self.mobiles = []
        for i in range(MOBILES):
            number = f"139{i:08d}"
            self.mobiles.append((residents.encrypt_phone(number, keys=self.keys), residents.mask_phone(number)))
        self.site_ids: list[int] = []
        self.slots: dict[tuple[int, date], list[int]] = {}
        self.taken: dict[int, int] = {}
        self.busy_orders: list[str] = []
        self.waybills: list[str] = []
        self.under_way: list[int] = []
        self.events = 0
        self.legs: set[tuple[int, str]] = set()  # one booking per application leg (uq_courier_booking_live_leg)
        self.resident_count = 1 + max(1, (count - BUSY) // 3)

    def _sites(self) -> None:
        from ..core.actors import SYSTEM
        from ..sites import services as sites

        for i in range(SITES):
            site = sites.create_site(self.db.session, actor=SYSTEM, code=f"BZ{i + 1:02d}", kind="post_office",
                                     name=f"基准测试网点 {i + 1}", province_code="36", city_code="3604",
                                     county_code=COUNTIES[i % len(COUNTIES)], address=f"浔阳路 {i + 1} 号")
            self.site_ids.append(site.id)
        self.db.session.flush()

    def _slot_rows(self) -> list[dict]:
        today = self.now.astimezone(_china()).date()
        rows, slot_id = [], 0
        for site_id in self.site_ids:
            for offset in range(-HISTORY_DAYS, 15):
                day = today + timedelta(days=offset)
                for starts, ends in WINDOWS:
                    slot_id += 1
                    self.slots.setdefault((site_id, day), []).append(slot_id)
                    rows.append({"id": slot_id, "site_id": site_id, "day": day, "starts": starts, "ends": ends,
                                 "capacity": 0, "taken": 0})
        return rows

    def _residents(self) -> list[dict]:
        from ..identity import residents

        busy_phone = "13800000010"
        rows = [{"id": 1, "provider": "bench", "subject": "busy", "name": "王秀英", "id_number_hash": self.owner_hash,
                 "id_number_masked": "4405**********0183", "phone_encrypted": residents.encrypt_phone(busy_phone,
                                                                                                      keys=self.keys),
                 "phone_hash": None, "phone_masked": residents.mask_phone(busy_phone), "last_login_at": self.now,
                 "created_at": self.now, "updated_at": self.now}]
        rows += [{"id": i + 1, "provider": "bench", "subject": f"r{i}", "name": "张三", "id_number_hash": None,
                  "id_number_masked": None, "phone_encrypted": None, "phone_hash": None, "phone_masked": None,
                  "last_login_at": None, "created_at": self.now, "updated_at": self.now}
                 for i in range(1, self.resident_count)]
        return rows

    def _booking_rows(self, start: int, stop: int, moments: list[datetime]) -> tuple[list[dict], list[dict]]:
        from ..courier import demo_carrier, states

        rng, bookings, events = self.rng, [], []
        names, weights = list(STATUS_WEIGHTS), list(STATUS_WEIGHTS.values())
        for i in range(start, stop):
            booking_id = i + 1
            created = moments[i]
            busy = i % (self.count // BUSY or 1) == 0 and len(self.busy_orders) < BUSY
            resident_id = 1 if busy else 2 + rng.randrange(self.resident_count - 1)
            status = rng.choices(names, weights)[0]
            site_id = rng.choice(self.site_ids)
            day = created.astimezone(_china()).date()
            slot_id = self.slots[(site_id, day)][-1]  # the afternoon window of the day it was booked
            if status != "cancelled":
                self.taken[slot_id] = self.taken.get(slot_id, 0) + 1
            application_id, purpose = None, "standalone"
            if busy and self.owned and len(self.busy_orders) % 2 == 0:
                application_id, purpose = self.owned[len(self.busy_orders) // 2 % len(self.owned)][0], \
                    "result_to_applicant"
            elif self.applications and rng.random() < 1 / 3:
                application_id = 1 + rng.randrange(self.applications)
                purpose = rng.choice(("materials_to_authority", "result_to_applicant"))
            if application_id is not None:
                if (application_id, purpose) in self.legs:  # a leg is booked once: this one goes alone
                    application_id, purpose = None, "standalone"
                else:
                    self.legs.add((application_id, purpose))
            province, city, county = rng.choice(DESTINATIONS)
            sender_mobile, recipient_mobile = rng.choice(self.mobiles), rng.choice(self.mobiles)
            placed = status != "pending_pickup" or rng.random() < 0.9
            waybill = demo_carrier.waybill_for(booking_id) if placed else None
            number = order_no(booking_id, created)
            path = PATHS[status]
            moment, timeline = created, []
            timeline.append(self._event(booking_id, "ours:booked", "pending_pickup", None, "已预约上门/网点揽收，等待快递员揽收",
                                        None, created, "ours", True))
            current = "pending_pickup"
            for n, step in enumerate(path, start=1):
                moment = min(self.now - timedelta(minutes=1), moment + timedelta(hours=rng.choice((2, 5, 9, 20))))
                applied = states.next_status(current, step) is not None
                current = step if applied else current
                source = "ours" if step == "cancelled" else rng.choice(("push", "poll"))
                text = TEXTS[step].format(city={"4403": "深圳市", "3301": "杭州市", "1101": "北京市"}.get(city, "九江市"))
                timeline.append(self._event(booking_id, f"id:{waybill}-{n}" if source != "ours" else "ours:cancelled",
                                            step, f"demo.{step}" if source != "ours" else None, text,
                                            "九江市浔阳区" if n < 3 else None, moment, source, applied))
            if busy:
                self.busy_orders.append(number)
            if waybill:
                self.waybills.append(waybill)
            if status in UNDER_WAY and placed:
                self.under_way.append(booking_id)
            bookings.append({
                "id": booking_id, "order_no": number, "purpose": purpose, "application_id": application_id,
                "resident_id": resident_id, "channel": rng.choice(("kiosk", "mobile", "api")), "kiosk_id": None,
                "helper_id": None, "sender_name": "张三", "sender_mobile_encrypted": sender_mobile[0],
                "sender_mobile_masked": sender_mobile[1], "sender_province": "36", "sender_city": "3604",
                "sender_county": "360403", "sender_address": "浔阳路 1 号 2 单元 301", "sender_postcode": "332000",
                "recipient_name": "李四", "recipient_mobile_encrypted": recipient_mobile[0],
                "recipient_mobile_masked": recipient_mobile[1], "recipient_province": province,
                "recipient_city": city, "recipient_county": county, "recipient_address": "人民路 100 号 3 栋 402",
                "recipient_postcode": None, "item_type": "licence" if purpose == "result_to_applicant" else "materials",
                "pieces": 1, "weight_grams": rng.choice((200, 500, 800)), "insured_value_fen": 0,
                "payer": "government" if application_id else "sender", "pickup_mode": rng.choice(("counter", "home")),
                "site_id": site_id, "slot_id": slot_id, "quote_fen": 1500, "carrier": "demo",
                "carrier_company": "ems" if placed else None, "waybill_no": waybill,
                "carrier_task_id": demo_carrier.task_id_for(number) if placed else None, "label_png": None,
                "order_state": ("cancelled" if status == "cancelled" else "placed" if placed else "pending"),
                "last_error": None, "status": current, "status_at": moment, "last_tracked_at": moment if path else None,
                "cancelled_at": moment if status == "cancelled" else None, "version": 1 + len(path),
                "created_at": created, "updated_at": moment,
            })
            events.extend(timeline)
        self.events += len(events)
        return bookings, events

    @staticmethod
    def _event(booking_id, key, status, code, text, location, moment, source, applied) -> dict:
        return {"booking_id": booking_id, "dedupe_key": key, "status": status, "raw_code": code, "raw_text": text,
                "location": location, "occurred_at": moment, "received_at": moment, "source": source,
                "applied": applied}

    def fill(self) -> None:
        from ..courier.models import Booking, PickupSlot, TrackingEvent
        from ..identity.models import Resident

        session = self.db.session
        self._sites()
        slot_rows = self._slot_rows()
        session.execute(sa.insert(Resident.__table__), self._residents())
        # Booking times over the last HISTORY_DAYS, in office hours, oldest first (ids follow time).
        today = self.now.astimezone(_china()).date()
        moments = []
        for _ in range(self.count):
            day = today - timedelta(days=self.rng.randrange(1, HISTORY_DAYS))
            local = datetime.combine(day, clock_time(8 + self.rng.randrange(5), self.rng.randrange(60)), _china())
            moments.append(local.astimezone(UTC))
        moments.sort()
        booking_chunks = []
        for start in range(0, self.count, CHUNK):
            booking_chunks.append(self._booking_rows(start, min(self.count, start + CHUNK), moments))
        for row in slot_rows:  # each window holds its bookings and a few places more
            row["taken"] = self.taken.get(row["id"], 0)
            row["capacity"] = row["taken"] + 5
        session.execute(sa.insert(PickupSlot.__table__), slot_rows)
        for bookings, events in booking_chunks:
            session.execute(sa.insert(Booking.__table__), bookings)
            session.execute(sa.insert(TrackingEvent.__table__), events)
        if self.db.engine.dialect.name == "postgresql":
            for table in ("identity_resident", "courier_pickup_slot", "courier_booking"):
                session.execute(sa.text(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                                        f"(SELECT max(id) FROM {table}))"))
        session.commit()
        with self.db.engine.begin() as conn:  # statistics, as autovacuum / a periodic ANALYZE keep them
            conn.execute(sa.text("ANALYZE"))


# ---------------------------------------------------------------- measuring

def _timed(session, calls, call: Callable, before: Callable | None = None) -> list[float]:
    samples = []
    for args in calls:
        if before is not None:  # not measured: what the world did between two requests
            before(*args)
            session.close()
        started = time.perf_counter()
        call(*args)
        samples.append((time.perf_counter() - started) * 1000)
        session.close()  # the next call starts afresh, as the next request does
    return samples


def _plans(db, number: str, waybill: str) -> list[str]:
    postgres = db.engine.dialect.name == "postgresql"
    explain = "EXPLAIN " if postgres else "EXPLAIN QUERY PLAN "
    queries = {
        "booking by order number": ("SELECT * FROM courier_booking WHERE order_no = :v", number),
        "my bookings": ("SELECT * FROM courier_booking WHERE resident_id = :v ORDER BY created_at DESC, id DESC "
                        "LIMIT 50", 1),
        "booking by waybill": ("SELECT * FROM courier_booking WHERE carrier = 'demo' AND waybill_no = :v", waybill),
        "timeline": ("SELECT * FROM courier_tracking_event WHERE booking_id IN (:v) ORDER BY occurred_at", 1),
    }
    lines = []
    with db.engine.connect() as conn:
        for name, (sql, value) in queries.items():
            rows = [str(row[0] if postgres else row[-1]).strip() for row in conn.execute(sa.text(explain + sql),
                                                                                         {"v": value})]
            steps = [re.sub(r"\s+\(cost=.*?\)", "", step) for step in rows
                     if not postgres or re.search(r"Scan|Sort Key|Index Cond", step)]
            lines.append(f"    plan {name}: {' | '.join(steps[:4])}")
    return lines


def run_courier_benchmark(counts: list[int], n: int = 2000, *, applications: int = BUDGET_COUNT,
                          echo: Callable[[str], None] = print, database_url: str | None = None) -> list[dict]:
    from ..catalog import services as catalog

    dialect = "postgresql" if database_url else "sqlite"
    echo(f"machine: {platform.machine()}, {platform.python_implementation()} {platform.python_version()}, "
         f"{os.cpu_count() or 1} cores, load {os.getloadavg()[0]:.1f}; database: {dialect}")
    results = []
    for count in counts:
        logging.disable(logging.INFO)  # quiet while the scratch database is migrated
        with scratch_app(database_url) as (app, db):
            logging.disable(logging.WARNING)  # the services' notes about each booking and event
            try:
                missing = [table for table in db.metadata.sorted_tables if not sa.inspect(db.engine).has_table(table.name)]
                if missing:  # a model newer than the migrations (a branch before its migration): made from the model
                    echo(f"note: no migration creates {', '.join(t.name for t in missing)} yet; created from the models")
                    db.metadata.create_all(bind=db.engine, tables=missing)
                if applications:
                    catalog.load_demo_catalog(db.session)
                    db.session.commit()
                results.append(_measure(app, db, count, n, applications, dialect, echo))
            finally:
                logging.disable(logging.NOTSET)
    return results


def _measure(app, db, count: int, n: int, applications: int, dialect: str, echo: Callable[[str], None]) -> dict:
    from ..applications.models import Application
    from ..core.actors import Actor, ActorKind
    from ..core.clock import utcnow
    from ..courier import services
    from ..courier.gateway import CarrierEvent
    from ..courier.models import Booking, PickupSlot
    from ..identity.models import Resident
    from .progress import Filler as ApplicationFiller

    now = utcnow()
    owner_hash, owned = None, []
    if applications:
        started = time.perf_counter()
        apps = ApplicationFiller(db, applications, now=now)
        apps.fill()
        owner_hash = apps.people[0].fields["applicant_id_hash"]
        owned = [tuple(row) for row in db.session.execute(
            sa.select(Application.id, Application.number).where(Application.applicant_id_hash == owner_hash)
            .order_by(Application.id))]
        echo(f"built {applications} applications ({apps.events} timeline events) in "
             f"{time.perf_counter() - started:.1f} s (bench progress's filler)")
    started = time.perf_counter()
    filler = Filler(db, count, now=now, owner_hash=owner_hash, owned=owned, applications=applications)
    filler.fill()
    echo(f"built {count} bookings and {filler.events} tracking events, {len(filler.slots) * len(WINDOWS)} pickup slots "
         f"at {SITES} sites in {time.perf_counter() - started:.1f} s (bulk INSERT)")
    size = f"n={n}, bookings={count}, {dialect}"
    row: dict[str, Any] = {"bookings": count, "applications": applications, "database": dialect}
    rng = random.Random(7)

    def resident() -> Resident:
        return db.session.get(Resident, 1)

    # Tracking lookup: one booking of the resident with BUSY, and their list.
    picks = [rng.choice(filler.busy_orders) for _ in range(n)]

    def one(number: str) -> None:
        services.view(services.get_for_resident(db.session, number, resident()))

    row["lookup"] = _stats(_timed(db.session, ((p,) for p in picks), one))
    echo(_line("tracking lookup", row["lookup"], f"{size}; get_for_resident + view, timeline included"))

    def mine() -> None:
        found = services.for_resident(db.session, resident())
        if len(found) != len(filler.busy_orders):
            raise AssertionError(f"my bookings: {len(found)} instead of {len(filler.busy_orders)}")
        for booking in found:
            services.view(booking)

    row["mine"] = _stats(_timed(db.session, (() for _ in range(n)), mine))
    echo(_line("my bookings + views", row["mine"], f"{size}; {len(filler.busy_orders)} bookings with timelines"))

    waybills = [rng.choice(filler.waybills) for _ in range(n)]

    def by_waybill(waybill: str) -> None:
        event = CarrierEvent(status="in_transit", raw_text="离开【九江市邮件处理中心】", occurred_at=now,
                             waybill_no=waybill)
        if services.find_by_carrier_event(db.session, "demo", event) is None:
            raise AssertionError(f"no booking with waybill {waybill}")

    row["find"] = _stats(_timed(db.session, ((w,) for w in waybills), by_waybill))
    echo(_line("carrier event → booking", row["find"], f"{size}; find_by_carrier_event by waybill"))

    moving = [rng.choice(filler.under_way) for _ in range(n)]

    def record(k: int, booking_id: int) -> None:
        booking = db.session.get(Booking, booking_id)
        event = CarrierEvent(status="in_transit", raw_text=f"到达【南昌市邮件处理中心】 #{k}",
                             occurred_at=utcnow(), raw_code="demo.arrive", location="南昌市",
                             event_id=f"bench-{k}", waybill_no=booking.waybill_no)
        services.record_tracking(db.session, booking, [event], source="push")
        db.session.commit()

    row["record"] = _stats(_timed(db.session, enumerate(moving), record))
    echo(_line("record tracking", row["record"], f"{size}; record_tracking of a new event + commit"))

    # Booking: fresh slots from tomorrow on, enough places for every call.
    tomorrow = now.astimezone(_china()).date() + timedelta(days=1)
    fresh = []
    for k in range(20):
        slot = PickupSlot(site_id=filler.site_ids[k % SITES], day=tomorrow + timedelta(days=k // SITES),
                          starts="16:00", ends="17:30", capacity=n // 20 + 1, taken=0)
        db.session.add(slot)
        fresh.append(slot)
    db.session.commit()
    slots = [(slot.id, slot.site_id) for slot in fresh]
    # The handling authorities of the resident's applications are registered (a leg's
    # authority side is always its registered address).
    from ..courier.models import HandlingAuthority

    for org, region in {(a.handling_org, a.handling_region) for a in db.session.scalars(
            sa.select(Application).where(Application.id.in_([app_id for app_id, _ in owned])))}:
        if services.find_authority(db.session, Application(handling_org=org, handling_region=region)) is None:
            db.session.add(HandlingAuthority(org_name=org, region_code=region, recipient_name="收件窗口",
                                             phone="0792-8888888", province_code="36", city_code="3604",
                                             county_code="360403", address="浔阳路 1 号", postcode="332000"))
    db.session.commit()
    actor = Actor(ActorKind.RESIDENT, "1", "王秀英")
    sender = services.PartyIn(name="王秀英", mobile="13800000010", province_code="36", city_code="3604",
                              county_code="360403", address="滨江新区湖滨路 26 号 3 栋 502 室", postcode="332000")

    def book(k: int) -> None:
        slot_id, site_id = slots[k % len(slots)]
        province, city, county = DESTINATIONS[k % len(DESTINATIONS)]
        recipient = services.PartyIn(name="李四", mobile=f"137{k:08d}", province_code=province, city_code=city,
                                     county_code=county, address="人民路 100 号 3 栋 402")
        leg = bool(owned) and k % 4 == 0
        data = services.BookingIn(
            purpose="result_to_applicant" if leg else "standalone", sender=recipient if leg else sender,
            recipient=sender if leg else recipient, item_type="licence" if leg else "materials", pieces=1,
            weight_grams=500, insured_value_fen=0, payer="government" if leg else "sender", pickup_mode="counter",
            site_id=site_id, slot_id=slot_id, application_number=owned[k % len(owned)][1] if leg else None)
        services.book(db.session, data, resident=resident(), channel="mobile", actor=actor)
        db.session.commit()

    def free_leg(k: int) -> None:
        """A leg is booked once while live: the one booked before is returned (not measured)."""
        if owned and k % 4 == 0:
            application_id = owned[k % len(owned)][0]
            db.session.execute(sa.update(Booking).where(Booking.application_id == application_id,
                                                        Booking.purpose == "result_to_applicant")
                               .values(status="returned", order_state="cancelled"))
            db.session.commit()

    row["book"] = _stats(_timed(db.session, ((k,) for k in range(n)), book, before=free_leg))
    echo(_line("booking", row["book"], f"{size}; services.book + commit: slot taken, outbox, audit"
                                       f"{'; 1 in 4 a leg of an own application' if owned else ''}"))
    for line in _plans(db, filler.busy_orders[0], filler.waybills[0]):
        echo(line)
    scope = "" if count >= BUDGET_COUNT else f" (measured with {count}; the budget is stated for 100,000)"
    if applications < BUDGET_COUNT:
        scope += f" ({applications} applications; the budget is stated with 100,000)"
    for what, key in (("booking", "book"), ("tracking lookup", "lookup")):
        p95 = row[key]["p95"]
        verdict = "within budget" if p95 <= BUDGET_MS else "OVER BUDGET"
        echo(f"budget: {what} p95 ≤ {BUDGET_MS:.0f} ms in-process with 100,000 bookings → {p95:.2f} ms, "
             f"{verdict}{scope}; machine load now {os.getloadavg()[0]:.1f}")
    return row
