"""Courier demo data for `kiosk demo`: pickup slots at the demo sites, the handling
authorities' addresses, the demo carrier's account, the demo residents' home addresses and
about fifteen bookings in every kind of state, so that the console, the kiosk and the phone
have something to show from the first start.

Everything is made through the services the surfaces use — sites' slots with
services.ensure_slots, addresses with authorities.save_authority and services.save_address,
bookings with services.prefill + services.book, orders placed by jobs.place_order with the
demo carrier (as the worker would), cancellations with services.cancel and tracking with
services.record_tracking — so that the data obeys the same rules as real data.

Two kinds of history:

- **Finished parcels** (已签收, 退回, 已取消) get a history of a few days with China Post-like
  traces written here (raw codes ``demo.*``: the demo carrier's). Being final, nothing
  polls them again.
- **Parcels under way** are booked a few minutes before loading, and their traces are what
  the demo carrier itself reports by then (its schedule runs from the booking's creation,
  KIOSK_DEMO_CARRIER_STEP_MINUTES apart); a detour (投递失败, 异常, 待自取) is added after its
  last step. The worker's polling then moves them on like any new booking: a second
  delivery attempt, the parcel signed for.

The authorities' addresses, postcodes and office lines are plausible, made up for the
demo (the demo catalog's 江州 is fictional, see fleet/cli.py DEMO_SITES); admins register
the real ones in the console.

Loading flushes and never commits (the caller commits once). Slots, addresses and the
carrier account are made where missing on every start (the next 14 days always have
windows); the bookings only once: when any demo resident has a booking, none is added.
"""
from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta

import sqlalchemy as sa
from sqlalchemy.orm import Session

from ..applications import demo as applications_demo
from ..applications.models import Application
from ..core.actors import SYSTEM, Actor, ActorKind
from ..core.clock import LOCAL_TZ, utcnow
from ..fleet.cli import DEMO_SITES
from ..identity import residents
from ..identity.models import Resident
from ..identity.providers import demo_residents
from ..sites import divisions
from ..sites import services as sites
from ..sites.models import Site
from . import authorities, carriers, demo_carrier, jobs, services
from .gateway import CarrierEvent
from .models import Booking, PickupSlot, SavedAddress
from .states import Purpose, Status

DAYS_AHEAD = 14
DAYS_BEHIND = 16  # the finished parcels' pickups were booked in these days
# Windows by site code, Monday to Friday; the post office opens on Saturday mornings too.
WINDOWS = {
    "JZ01": (("09:00", "11:00", 8), ("14:00", "16:00", 8), ("16:00", "17:30", 4)),
    "JZ02": (("10:00", "12:00", 4), ("14:30", "16:30", 4)),
    "JZ03": (("09:00", "11:30", 3), ("14:30", "17:00", 3)),
}
SATURDAY = {"JZ01": (("09:00", "12:00", 4),)}
NEARLY_FULL = ("JZ01", "09:00", 4)  # the next working day's first window at JZ01: 3 of 4 booked by the demo


# ---------------------------------------------------------------- where things go

@dataclass(frozen=True)
class City:
    """Where a handling region's offices are, by default at its government service centre."""

    province: str
    city: str
    county: str
    address: str
    postcode: str
    area_code: str
    window: str  # the recipient at the office


CITIES = {
    "440300": City("44", "4403", "440304", "福田区福中三路 2012 号市民中心 B 区", "518035", "0755", "跨省通办收件窗口"),
    "330100": City("33", "3301", "330102", "上城区解放东路 18 号市民中心 G 座", "310016", "0571", "跨省通办收件窗口"),
    "110105": City("11", "1101", "110105", "朝阳区霞光里 9 号政务服务中心", "100125", "010", "跨省通办收件窗口"),
    # 江州 stands on 九江's codes (fleet/cli.py): its service centre is on 市民大道, like site JZ01.
    "360400": City("36", "3604", "360403", "滨江新区市民大道 1 号政务服务中心", "332000", "0710", "综合受理窗口"),
}
# Offices of their own (county, address, postcode); the others receive at the service centre.
OFFICES = {
    "深圳市社会保险基金管理局": ("440304", "福田区福华一路 1 号社保大厦", "518048"),
    "深圳市住房公积金管理中心": ("440304", "福田区红荔西路 8009 号", "518034"),
    "深圳市公安局出入境管理局": ("440304", "福田区福强路 4001 号", "518048"),
    "广东省深圳市深圳公证处": ("440304", "福田区福中路 269 号", "518026"),
    "杭州市社会保险管理服务中心": ("330105", "拱墅区环城北路 288 号", "310006"),
    "杭州住房公积金管理中心": ("330102", "上城区解放东路 18 号市民中心 H 座", "310016"),
    "浙江省杭州市国立公证处": ("330106", "西湖区文三路 90 号", "310012"),
    "北京市中信公证处": ("110105", "朝阳区东三环中路 7 号", "100020"),
    "北京市朝阳区社会保险事业管理中心": ("110105", "朝阳区朝阳门外大街 16 号", "100020"),
    "北京市公安局朝阳分局": ("110105", "朝阳区朝阳北路 69 号", "100025"),
    "北京住房公积金管理中心朝阳管理部": ("110105", "朝阳区东四环中路 76 号", "100124"),
}


def _office_line(org: str, area_code: str) -> str:
    """A fixed office line for ``org`` (8 digits; 7 after 0710 like the demo catalog's)."""
    digits = int(hashlib.sha256(org.encode()).hexdigest()[:8], 16)
    if area_code == "0710":
        return f"0710-88{digits % 100_000:05d}"
    return f"{area_code}-8{digits % 10_000_000:07d}"


def authority_in(org: str, region: str) -> authorities.AuthorityIn | None:
    """The demo address of a handling org, or None for a region the demo has no city for."""
    city = CITIES.get(region)
    if city is None:
        return None
    county, address, postcode = OFFICES.get(org, (city.county, city.address, city.postcode))
    return authorities.AuthorityIn(org_name=org, region_code=region, recipient_name=city.window,
                                   phone=_office_line(org, city.area_code), province_code=city.province,
                                   city_code=city.city, county_code=county, address=address, postcode=postcode)


# The demo residents' homes (by subject), all in 江州 (on 九江's codes).
HOMES = {
    "demo-1": ("360403", "滨江新区湖滨路 26 号白水湖小区 3 栋 502 室", "332000"),
    "demo-2": ("360402", "经开区通达路 88 号长虹花园 12 栋 1 单元 801 室", "332005"),
    "demo-3": ("360403", "滨江新区市民大道 200 号江州府 6 栋 1102 室", "332000"),
    "demo-4": ("360402", "经开区长虹大道 399 号 2 栋 301 室", "332005"),
    "demo-5": ("360404", "沙河街镇柴桑大道 58 号 1 栋 203 室", "332100"),
}


# ---------------------------------------------------------------- loading

@dataclass
class Loaded:
    slots: int = 0
    authorities: int = 0
    addresses: int = 0
    account: bool = False
    bookings: dict[str, int] = field(default_factory=dict)  # by status

    @property
    def booked(self) -> int:
        return sum(self.bookings.values())


def _china(moment: datetime) -> datetime:
    return moment.astimezone(LOCAL_TZ)


def _windows_of(code: str, day: date):
    if day.weekday() < 5:
        return WINDOWS.get(code, ())
    if day.weekday() == 5:
        return SATURDAY.get(code, ())
    return ()


def next_working_day(today: date) -> date:
    day = today + timedelta(days=1)
    while day.weekday() >= 5:
        day += timedelta(days=1)
    return day


def ensure_demo_slots(session: Session, *, today: date) -> int:
    """Windows at every demo site from DAYS_BEHIND days ago to DAYS_AHEAD days on (made
    where missing); returns how many slots were made."""
    before = session.scalar(sa.select(sa.func.count()).select_from(PickupSlot))
    found = sites.sites_by_codes(session, WINDOWS)
    code, starts, capacity = NEARLY_FULL
    if code in found:
        windows = tuple((s, e, capacity if s == starts else c) for s, e, c in WINDOWS[code])
        services.ensure_slots(session, found[code].id, next_working_day(today), windows, actor=SYSTEM)
    for offset in range(-DAYS_BEHIND, DAYS_AHEAD):
        day = today + timedelta(days=offset)
        for site_code, site in found.items():
            windows = _windows_of(site_code, day)
            if windows:
                services.ensure_slots(session, site.id, day, windows, actor=SYSTEM)
    return session.scalar(sa.select(sa.func.count()).select_from(PickupSlot)) - before


def ensure_authorities(session: Session) -> int:
    """An address for each handling org of the demo residents' applications (and the known
    offices of the 跨省通办 cities); returns how many were registered now."""
    hashes = list(applications_demo._resident_hashes(demo_residents()))
    wanted = set(session.execute(sa.select(Application.handling_org, Application.handling_region)
                                 .where(Application.applicant_id_hash.in_(hashes))).all())
    for org, (county, _address, _postcode) in OFFICES.items():
        region = next(code for code in CITIES if code[:4] == county[:4] or code == county)
        wanted.add((org, region))
    made = 0
    for org, region in sorted(wanted):
        data = authority_in(org, region)
        if data is None or authorities.find(session, org, region) is not None:
            continue
        authorities.save_authority(session, data, actor=SYSTEM)
        made += 1
    return made


def ensure_account(session: Session) -> bool:
    """The demo carrier's account (no credentials; its step is KIOSK_DEMO_CARRIER_STEP_MINUTES);
    True when made now."""
    if carriers.get_account(session, demo_carrier.NAME) is not None:
        return False
    carriers.save_account(session, demo_carrier.NAME, {}, {}, actor=SYSTEM)
    return True


def demo_people(session: Session) -> dict[str, Resident]:
    """The demo residents as identity knows them after a first login (made if missing)."""
    return {claims.subject: residents.upsert_from_claims(session, provider="demo", claims=claims, actor=SYSTEM)
            for claims in demo_residents()}


def ensure_homes(session: Session, people: dict[str, Resident]) -> int:
    made = 0
    for subject, resident in people.items():
        if subject not in HOMES or session.scalar(sa.select(SavedAddress.id)
                                                  .where(SavedAddress.resident_id == resident.id).limit(1)):
            continue
        county, address, postcode = HOMES[subject]
        home = services.PartyIn(name=resident.name, mobile=None, province_code=county[:2], city_code=county[:4],
                                county_code=county, address=address, postcode=postcode)
        services.save_address(session, resident, home, label="家", is_default=True, actor=SYSTEM)
        made += 1
    return made


def already_booked(session: Session) -> bool:
    """Whether any demo resident has a booking (the demo's, or one a tester made)."""
    return session.scalar(sa.select(Booking.id).join(Resident, Resident.id == Booking.resident_id)
                          .where(Resident.provider == "demo").limit(1)) is not None


def load_demo_courier(session: Session, *, now: Callable[[], datetime] = utcnow) -> Loaded:
    """Slots, authorities, the demo account and home addresses where missing; the demo
    bookings once. Flushes; the caller commits.

    Raises what the services raise; the demo's data is meant never to make them."""
    moment = now()
    today = _china(moment).date()
    loaded = Loaded()
    loaded.slots = ensure_demo_slots(session, today=today)
    loaded.authorities = ensure_authorities(session)
    loaded.account = ensure_account(session)
    if sites.get_site_by_code(session, DEMO_SITES[0]["code"]) is None:
        return loaded  # no demo sites: nowhere to book a pickup
    people = demo_people(session)
    loaded.addresses = ensure_homes(session, people)
    if not already_booked(session):
        for booking in Stories(session, people, moment).tell():
            loaded.bookings[booking.status] = loaded.bookings.get(booking.status, 0) + 1
    session.flush()
    return loaded


def to_try(session: Session) -> tuple[str, str] | None:
    """(resident's name, application number) of a demo application whose result is ready to
    be sent home (办结) and has no booking yet, handled in another province if there is one."""
    hashes = {residents.keyed_hash("id", residents.normalize_id_number(c.id_number)): c.name
              for c in demo_residents() if c.id_number}
    booked = sa.select(Booking.application_id).where(Booking.application_id.is_not(None))
    found = list(session.scalars(sa.select(Application).where(
        Application.applicant_id_hash.in_(list(hashes)), Application.state == "concluded",
        Application.outcome == "approved", Application.id.not_in(booked)).order_by(Application.received_at.desc(), Application.id.desc())))
    found.sort(key=lambda a: a.handling_region[:2] == a.receiving_region[:2])  # 跨省通办 first
    return (hashes[found[0].applicant_id_hash], found[0].number) if found else None


# ---------------------------------------------------------------- the bookings

@dataclass(frozen=True)
class Trace:
    """One trace line of a finished parcel: status, raw code, text, location, hours after booking."""

    status: Status
    code: str
    text: str
    location: str
    hours: float


class Stories:
    """The demo bookings: which resident, which application, which site and slot, and what
    happened to each parcel."""

    def __init__(self, session: Session, people: dict[str, Resident], moment: datetime):
        self.session, self.people, self.moment = session, people, moment
        self.today = _china(moment).date()
        self.sites = sites.sites_by_codes(session, WINDOWS)
        self.hashes = {residents.keyed_hash("id", residents.normalize_id_number(c.id_number)): c.subject
                       for c in demo_residents() if c.id_number}
        self.used: set[int] = set()
        self.step: timedelta = self._carrier(moment).step  # the demo carrier's time between two states

    # -------------------------------------------------------------- choosing

    def _application(self, states: tuple[str, ...], *, cross: bool | None = True) -> Application | None:
        """A demo application in one of ``states`` not used yet (handled in another province,
        or here), the oldest first."""
        query = (sa.select(Application).where(Application.applicant_id_hash.in_(list(self.hashes)),
                                              Application.state.in_(states))
                 .order_by(Application.received_at, Application.id))
        for application in self.session.scalars(query):
            elsewhere = application.handling_region[:2] != application.receiving_region[:2]
            if application.id in self.used or (cross is not None and elsewhere != cross):
                continue
            if application.state == "concluded" and application.outcome != "approved":
                continue  # a refusal is not sent home (the kiosk offers the result leg for approvals only)
            if authorities.find(self.session, application.handling_org, application.handling_region) is None:
                continue
            self.used.add(application.id)
            return application
        return None

    def _resident_of(self, application: Application | None, fallback: str) -> Resident:
        subject = self.hashes.get(application.applicant_id_hash) if application is not None else None
        return self.people[subject or fallback]

    def _slot(self, site: Site, at: datetime, *, day: date | None = None, starts: str | None = None) -> PickupSlot:
        """A slot of ``site`` still open at ``at``: the given day and start, else the first one."""
        local = _china(at)
        query = sa.select(PickupSlot).where(PickupSlot.site_id == site.id, PickupSlot.taken < PickupSlot.capacity)
        if day is not None:
            query = query.where(PickupSlot.day == day)
        if starts is not None:
            query = query.where(PickupSlot.starts == starts)
        for slot in self.session.scalars(query.where(PickupSlot.day >= local.date())
                                         .order_by(PickupSlot.day, PickupSlot.starts)):
            if (slot.day, slot.ends) > (local.date(), local.strftime("%H:%M")):
                return slot
        raise LookupError(f"the demo has no open slot at {site.code} after {local:%Y-%m-%d %H:%M}")

    def _working_day_back(self, days: int) -> date:
        day = self.today
        while days > 0:
            day -= timedelta(days=1)
            if day.weekday() < 5:
                days -= 1
        return day

    # -------------------------------------------------------------- booking

    def _book(self, purpose: str, application: Application | None, *, subject: str, site_code: str, at: datetime,
              pickup_mode: str = "counter", day: date | None = None, starts: str | None = None,
              channel: str = "kiosk", standalone_to: services.PartyIn | None = None) -> Booking:
        """Book as a resident does: the form prefilled (services.prefill), the slot chosen."""
        resident = self._resident_of(application, subject)
        prefill = services.prefill(self.session, resident=resident, purpose=purpose,
                                   application_number=application.number if application is not None else None)
        site = self.sites[site_code]
        slot = self._slot(site, at, day=day, starts=starts)

        def party_in(values: dict) -> services.PartyIn:
            mobile = values["mobile"] if not (values["uses_resident_mobile"] or values["address_id"]) else None
            return services.PartyIn(name=values["name"], mobile=mobile, province_code=values["province_code"],
                                    city_code=values["city_code"], county_code=values["county_code"],
                                    address=values["address"], postcode=values["postcode"])

        recipient = standalone_to or party_in(prefill.recipient)
        data = services.BookingIn(
            purpose=purpose, sender=party_in(prefill.sender), recipient=recipient, item_type=prefill.item_type,
            pieces=1, weight_grams=300 if prefill.item_type == "licence" else 800,
            insured_value_fen=0 if prefill.payer == "government" else 20_000, payer=prefill.payer,
            pickup_mode=pickup_mode, site_id=site.id, slot_id=slot.id,
            application_number=application.number if application is not None else None,
            sender_uses_resident_mobile=prefill.sender["uses_resident_mobile"],
            recipient_uses_resident_mobile=(prefill.recipient["uses_resident_mobile"] if standalone_to is None
                                            else False),
            sender_address_id=prefill.sender["address_id"],
            recipient_address_id=prefill.recipient["address_id"] if standalone_to is None else None)
        actor = Actor(ActorKind.RESIDENT, str(resident.id), resident.name)
        booking = services.book(self.session, data, resident=resident, channel=channel, actor=actor,
                                now=lambda: at)
        # Placed with the demo carrier as the worker would (its outbox message then finds it placed).
        jobs.place_order(self.session, booking.id, gateway=self._carrier(at), now=lambda: at)
        return booking

    def _carrier(self, at: datetime):
        return carriers.gateway_for(self.session, demo_carrier.NAME, now=lambda: at)

    def _history(self, booking: Booking, traces: list[Trace]) -> Booking:
        """A finished parcel's traces, as the carrier reported them hour by hour."""
        start = booking.created_at
        for n, trace in enumerate(traces, start=1):
            at = start + timedelta(hours=trace.hours)
            event = CarrierEvent(status=trace.status, raw_text=trace.text, occurred_at=at, raw_code=trace.code,
                                 location=trace.location, event_id=f"{booking.waybill_no}-h{n}",
                                 order_no=booking.order_no, waybill_no=booking.waybill_no,
                                 company=booking.carrier_company)
            services.record_tracking(self.session, booking, [event], source="poll", now=lambda at=at: at,
                                     notify=False)
        return booking

    def _live(self, booking: Booking, detour: Trace | None = None) -> Booking:
        """What the demo carrier reports of a parcel booked minutes ago, and a detour after it."""
        carrier = self._carrier(self.moment)
        events = carrier.fetch_tracking(waybill_no=booking.waybill_no, company=booking.carrier_company, phone=None)
        if detour is not None:
            at = self.moment - timedelta(seconds=20)
            events.append(CarrierEvent(status=detour.status, raw_text=detour.text, occurred_at=at,
                                       raw_code=detour.code, location=detour.location,
                                       event_id=f"{booking.waybill_no}-x", order_no=booking.order_no,
                                       waybill_no=booking.waybill_no, company=booking.carrier_company))
        services.record_tracking(self.session, booking, events, source="poll", now=lambda: self.moment,
                                 notify=False)
        return booking

    def _past(self, days: int, hour: int = 9, minute: int = 30) -> datetime:
        day = self._working_day_back(days)
        return datetime.combine(day, time(hour, minute), LOCAL_TZ).astimezone(self.moment.tzinfo)

    def _minutes_ago(self, steps: float, extra_seconds: int = 40) -> datetime:
        return self.moment - self.step * steps - timedelta(seconds=extra_seconds)

    # -------------------------------------------------------------- the stories

    def tell(self) -> list[Booking]:
        made: list[Booking] = []

        def add(booking: Booking | None) -> None:
            if booking is not None:
                made.append(booking)

        done = ("delivered", "rated")  # results sent home by post in the past
        ready = ("concluded",)  # results waiting to be sent home now
        waiting = ("received", "accepted", "supplemented", "in_progress")
        # Finished parcels, booked days ago.
        add(self._result_delivered(self._application(done), days=6))
        add(self._materials_delivered(self._application(waiting), days=5))
        add(self._standalone_delivered(days=4))
        add(self._result_returned(self._application(done), days=9))
        add(self._materials_cancelled(self._application(waiting), days=2))
        # Parcels under way, as the demo carrier reports them now.
        add(self._live_leg(Purpose.RESULT_TO_APPLICANT, self._application(ready), steps=3, site="JZ01"))
        add(self._live_leg(Purpose.MATERIALS_TO_AUTHORITY, self._application(waiting), steps=2, site="JZ01"))
        add(self._live_standalone(steps=1))
        add(self._live_leg(Purpose.RESULT_TO_APPLICANT, self._application(ready, cross=None), steps=3, site="JZ02",
                           detour=lambda home, _office: Trace(
                               Status.FAILED_DELIVERY, "demo.failed",
                               f"【{home.city}{home.short}投递支局】投递失败：收件人电话无人接听，已预约明日再次投递",
                               home.full, 0)))
        add(self._live_leg(Purpose.MATERIALS_TO_AUTHORITY, self._application(waiting), steps=2, site="JZ01",
                           detour=lambda home, _office: Trace(
                               Status.EXCEPTION, "demo.held", f"【{home.city}邮件处理中心】邮件滞留：航班延误，改发下一航班",
                               home.city, 0)))
        add(self._live_leg(Purpose.RESULT_TO_APPLICANT, self._application(ready, cross=None), steps=3, site="JZ03",
                           pickup_mode="home",
                           detour=lambda home, _office: Trace(
                               Status.AWAITING_COLLECTION, "demo.station",
                               f"【{home.city}{home.short}邮政驿站】已投递至驿站，请凭取件码 6-2-1305 领取", home.full, 0)))
        # Waiting for the courier: three on the next working day's first window at JZ01 (nearly full).
        day = next_working_day(self.today)
        code, starts, _capacity = NEARLY_FULL
        add(self._pending(Purpose.MATERIALS_TO_AUTHORITY, self._application(waiting), day=day, starts=starts,
                          subject="demo-1"))
        add(self._pending(Purpose.RESULT_TO_APPLICANT, self._application(ready, cross=None), day=day, starts=starts,
                          subject="demo-2"))
        add(self._pending(Purpose.STANDALONE, None, day=day, starts=starts, subject="demo-3"))
        add(self._pending(Purpose.STANDALONE, None, day=None, starts=None, subject="demo-5", site="JZ03",
                          pickup_mode="home"))
        return made

    # Finished ---------------------------------------------------------------

    def _result_delivered(self, application: Application | None, *, days: int) -> Booking | None:
        if application is None:
            return None
        booking = self._book(Purpose.RESULT_TO_APPLICANT, application, subject="demo-4", site_code="JZ01",
                             at=self._past(days), channel="mobile")
        home, office = place(booking, "recipient"), place(booking, "sender")
        return self._history(booking, [
            Trace(Status.ACCEPTED, "demo.accept", f"【{office.city}{office.short}营业厅】已收寄", office.full, 6),
            Trace(Status.IN_TRANSIT, "demo.depart", f"离开【{office.city}邮件处理中心】，下一站【南昌市邮件处理中心】",
                  office.city, 10),
            Trace(Status.IN_TRANSIT, "demo.arrive", "到达【南昌市邮件处理中心】", "南昌市", 26),
            Trace(Status.IN_TRANSIT, "demo.depart", f"离开【南昌市邮件处理中心】，下一站【{home.city}邮件处理中心】",
                  "南昌市", 30),
            Trace(Status.OUT_FOR_DELIVERY, "demo.deliver",
                  f"【{home.city}{home.short}投递支局】正在投递，投递员：张师傅，电话：13607921234", home.full, 46),
            Trace(Status.DELIVERED, "demo.signed", f"【{home.city}{home.short}投递支局】已妥投，签收人：本人", home.full, 50),
        ])

    def _materials_delivered(self, application: Application | None, *, days: int) -> Booking | None:
        if application is None:
            return None
        booking = self._book(Purpose.MATERIALS_TO_AUTHORITY, application, subject="demo-1", site_code="JZ01",
                             at=self._past(days, 10, 5))
        home, office = place(booking, "sender"), place(booking, "recipient")
        return self._history(booking, [
            Trace(Status.ACCEPTED, "demo.accept", f"【{home.city}{home.short}营业厅】已收寄", home.full, 5),
            Trace(Status.IN_TRANSIT, "demo.depart", f"离开【{home.city}邮件处理中心】，下一站【{office.city}邮件处理中心】",
                  home.city, 9),
            Trace(Status.IN_TRANSIT, "demo.arrive", f"到达【{office.city}邮件处理中心】", office.city, 30),
            Trace(Status.OUT_FOR_DELIVERY, "demo.deliver", f"【{office.city}{office.short}投递支局】正在投递", office.full, 44),
            Trace(Status.DELIVERED, "demo.signed", f"【{office.city}{office.short}投递支局】已妥投，签收单位：收件窗口",
                  office.full, 47),
        ])

    def _standalone_delivered(self, *, days: int) -> Booking | None:
        friend = services.PartyIn(name="王建华", mobile="13900000021", province_code="36", city_code="3601",
                                  county_code="360102", address="八一大道 357 号 5 栋 1 单元 602 室", postcode="330006")
        booking = self._book(Purpose.STANDALONE, None, subject="demo-2", site_code="JZ02", at=self._past(days, 11, 10),
                             standalone_to=friend)
        home, there = place(booking, "sender"), place(booking, "recipient")
        return self._history(booking, [
            Trace(Status.ACCEPTED, "demo.accept", f"【{home.city}{home.short}营业厅】已收寄", home.full, 4),
            Trace(Status.IN_TRANSIT, "demo.depart", f"离开【{home.city}邮件处理中心】，下一站【{there.city}邮件处理中心】",
                  home.city, 8),
            Trace(Status.OUT_FOR_DELIVERY, "demo.deliver", f"【{there.city}{there.short}投递支局】正在投递", there.full, 22),
            Trace(Status.DELIVERED, "demo.signed", f"【{there.city}{there.short}投递支局】已妥投，签收人：家人代收",
                  there.full, 25),
        ])

    def _result_returned(self, application: Application | None, *, days: int) -> Booking | None:
        if application is None:
            return None
        booking = self._book(Purpose.RESULT_TO_APPLICANT, application, subject="demo-3", site_code="JZ01",
                             at=self._past(days, 14, 20), channel="mobile")
        home, office = place(booking, "recipient"), place(booking, "sender")
        branch = f"【{home.city}{home.short}投递支局】"
        return self._history(booking, [
            Trace(Status.ACCEPTED, "demo.accept", f"【{office.city}{office.short}营业厅】已收寄", office.full, 3),
            Trace(Status.IN_TRANSIT, "demo.depart", f"离开【{office.city}邮件处理中心】，下一站【{home.city}邮件处理中心】",
                  office.city, 8),
            Trace(Status.OUT_FOR_DELIVERY, "demo.deliver", f"{branch}正在投递", home.full, 40),
            Trace(Status.FAILED_DELIVERY, "demo.failed", f"{branch}投递失败：收件人不在，电话无人接听", home.full, 44),
            Trace(Status.OUT_FOR_DELIVERY, "demo.deliver", f"{branch}再次投递", home.full, 64),
            Trace(Status.FAILED_DELIVERY, "demo.failed", f"{branch}投递失败：收件人拒收", home.full, 67),
            Trace(Status.RETURNED, "demo.return", f"{branch}邮件已退回寄件人", home.full, 70),
        ])

    def _materials_cancelled(self, application: Application | None, *, days: int) -> Booking | None:
        if application is None:
            return None
        at = self._past(days, 15, 40)
        booking = self._book(Purpose.MATERIALS_TO_AUTHORITY, application, subject="demo-5", site_code="JZ02", at=at)
        # Changed their mind a minute later (the worker then cancels the order at the carrier).
        actor = Actor(ActorKind.RESIDENT, str(booking.resident_id), "")
        return services.cancel(self.session, booking, actor=actor, reason="改为到窗口当面递交",
                               now=lambda: at + timedelta(minutes=1))

    # Under way ---------------------------------------------------------------

    def _live_leg(self, purpose: str, application: Application | None, *, steps: int, site: str,
                  pickup_mode: str = "counter",
                  detour: Callable[[Place, Place], Trace] | None = None) -> Booking | None:
        """A leg under way; ``detour(resident's place, authority's place)`` says what went wrong."""
        if application is None:
            return None
        booking = self._book(purpose, application, subject="demo-1", site_code=site, pickup_mode=pickup_mode,
                             at=self._minutes_ago(steps))
        mine, theirs = ("recipient", "sender") if purpose == Purpose.RESULT_TO_APPLICANT else ("sender", "recipient")
        return self._live(booking, detour(place(booking, mine), place(booking, theirs)) if detour else None)

    def _live_standalone(self, *, steps: int) -> Booking:
        colleague = services.PartyIn(name="刘芳", mobile="13900000022", province_code="36", city_code="3604",
                                     county_code="360402", address="经开区长虹大道 1 号市人社局 3 楼人事科",
                                     postcode="332005")
        booking = self._book(Purpose.STANDALONE, None, subject="demo-4", site_code="JZ01",
                             at=self._minutes_ago(steps), standalone_to=colleague)
        return self._live(booking)

    def _pending(self, purpose: str, application: Application | None, *, day: date | None, starts: str | None,
                 subject: str, site: str = "JZ01", pickup_mode: str = "counter") -> Booking | None:
        if purpose != Purpose.STANDALONE and application is None:
            return None
        relative = services.PartyIn(name="欧阳建国", mobile="13900000023", province_code="11", city_code="1101",
                                    county_code="110105", address="朝阳区望京西园三区 311 号楼 2 单元 1201 室",
                                    postcode="100102")
        return self._book(purpose, application, subject=subject, site_code=site, pickup_mode=pickup_mode, day=day,
                          starts=starts, at=self.moment - timedelta(seconds=30), channel="mobile",
                          standalone_to=relative if purpose == Purpose.STANDALONE else None)


@dataclass(frozen=True)
class Place:
    """A party's place as China Post's traces name it (as the demo carrier does): the city by
    its division name (北京市 for a municipality), the county without 区/县/市."""

    city: str
    short: str
    full: str


def place(booking: Booking, side: str) -> Place:
    city_code, county_code = getattr(booking, f"{side}_city"), getattr(booking, f"{side}_county")
    city = divisions.city(city_code) or ""
    if not city or city in divisions.PLACEHOLDER_CITY_NAMES:
        city = divisions.province(city_code[:2]) or city
    county = divisions.county(county_code) or ""
    short = county[:-1] if len(county) > 2 and county[-1] in "区县市旗" else county
    return Place(city=city, short=short, full=city + (county if county != city else ""))
