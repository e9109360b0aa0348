"""Walks over every /admin route, whichever domain serves it (identity, fleet, sites,
catalog, core jobs): the access matrix per role, no PUT/PATCH/DELETE, CSRF refused on
every form, security headers and no inline script on every page. A new /admin route must
be added to MATRIX (and, if it takes a form, to body_for)."""
from __future__ import annotations

import json
import re
from dataclasses import dataclass

import pytest
import sqlalchemy as sa

from kiosk_backend.applications.models import DepartmentClient
from kiosk_backend.catalog.models import Item
from kiosk_backend.core import calendar_admin
from kiosk_backend.core.calendar_store import CalendarYear, shipped_calendar
from kiosk_backend.fleet.models import Alert, EnrolmentCode, Kiosk, KioskCommand
from kiosk_backend.identity.models import AdminSession
from kiosk_backend.sites.models import Site
from tests.conftest import World, catalog_file, login, site_form


@dataclass
class WorldWithApplications(World):
    """The console's world and what the applications pages name: an application and a
    department client. Neither belongs to a site: both scopes name the same ones. The
    courier pages name a booking and a pickup slot per site, and (admins only, no site) a
    carrier account, a handling authority and a reconciliation finding."""

    number: str = ""
    client_id: int = 0
    own_order_no: str = ""
    other_order_no: str = ""
    own_slot_id: int = 0
    other_slot_id: int = 0
    authority_id: int = 0
    finding_id: int = 0
    notice_id: int = 0

    def ids(self, scope: str) -> dict:
        own = scope == "own"
        return super().ids(scope) | {"number": self.number, "client_id": self.client_id,
                                     "order_no": self.own_order_no if own else self.other_order_no,
                                     "slot_id": self.own_slot_id if own else self.other_slot_id,
                                     "authority_id": self.authority_id, "finding_id": self.finding_id,
                                     "notice_id": self.notice_id,
                                     "carrier": "kuaidi100"}


@pytest.fixture
def world(world, db, make_application):
    from kiosk_backend.applications import departments

    agency, _secret = departments.create_client(db.session, name="九江市公安局", region_code="360400", actor="system")
    application = make_application("in_progress", client=agency)
    from kiosk_backend.applications.models import Notification
    from kiosk_backend.core.clock import utcnow

    notice = Notification(event_id=application.events[-1].id, application_id=application.id, template="t",
                          state="rejected", attempts=1, created_at=utcnow(), last_error="余额不足")
    db.session.add(notice)
    db.session.commit()
    return WorldWithApplications(**vars(world), number=application.number, client_id=agency.id,
                                 notice_id=notice.id, **_courier_world(db, world))


def _courier_world(db, world) -> dict:
    """A booking and a free slot at each site, a 快递100 account, an authority, a finding."""
    from datetime import timedelta

    from kiosk_backend.core.actors import SYSTEM
    from kiosk_backend.core.clock import LOCAL_TZ, utcnow
    from kiosk_backend.courier import authorities, carriers, services
    from kiosk_backend.courier.models import PickupSlot, ReconciliationFinding
    from kiosk_backend.identity.models import Resident

    tomorrow = utcnow().astimezone(LOCAL_TZ).date() + timedelta(days=1)
    resident = Resident(provider="demo", subject="matrix", name="张三", phone_masked="139****9000")
    db.session.add(resident)
    out = {}
    for scope, site in (("own", world.own_site), ("other", world.other_site)):
        booked, free = (PickupSlot(site_id=site.id, day=tomorrow, starts=starts, ends=ends, capacity=5)
                        for starts, ends in (("09:00", "11:00"), ("14:00", "16:00")))
        db.session.add_all([booked, free])
        db.session.flush()
        party = services.PartyIn(name="张三", mobile="13900139000", province_code="36", city_code="3604",
                                 county_code="360403", address="浔阳路 1 号 2 单元 301")
        booking = services.book(db.session, services.BookingIn(
            purpose="standalone", sender=party, recipient=party, item_type="materials", pieces=1, weight_grams=500,
            insured_value_fen=0, payer="sender", pickup_mode="counter", site_id=site.id, slot_id=booked.id),
            resident=resident, channel="mobile", actor=SYSTEM)
        out[f"{scope}_order_no"], out[f"{scope}_slot_id"] = booking.order_no, free.id
    carriers.save_account(db.session, "kuaidi100", {"key": "k" * 16, "customer": "C" * 16, "secret": "s" * 16}, {},
                          actor=SYSTEM)
    out["authority_id"] = authorities.save_authority(db.session, authorities.AuthorityIn(**AUTHORITY),
                                                     actor=SYSTEM).id
    finding = ReconciliationFinding(run_on=tomorrow, carrier="demo", kind="unknown_to_us", order_no="KBX",
                                    found_at=utcnow())
    db.session.add(finding)
    db.session.commit()
    return out | {"finding_id": finding.id}


AUTHORITY = {"org_name": "深圳市社会保险基金管理局", "region_code": "440300", "recipient_name": "跨省通办收件窗口",
             "phone": "0755-83358000", "province_code": "44", "city_code": "4403", "county_code": "440304",
             "address": "福田区福华一路 1 号", "postcode": "518048"}


# What a valid request to each route sends (besides the CSRF token).
def body_for(endpoint: str) -> dict:
    return {
        "admin.fleet.send_command": {"kind": "show_message", "text": "今日下午停电检修", "seconds": "60"},
        "admin.sites.edit": site_form(),
        "admin.sites.new": site_form(code="JZ09", name="新网点"),
        "admin.fleet.new_code": {"valid_hours": "24", "profile": "post-office-portrait"},
        "admin.fleet.reenrol": {"confirm": "1"},
        "admin.catalog.import_page": {"file": catalog_file()},
        "admin.identity.login": {"username": "nobody", "password": "wrong password"},
        "admin.applications.departments.index": {"name": "九江市市场监督管理局", "region_code": "360400"},
        "admin.courier.site_slots": {"day_from": _tomorrow(), "day_to": _tomorrow(), "starts": "16:00", "ends": "17:00",
                                     "capacity": "3"},
        "admin.courier.capacity": {"capacity": "7"},
        "admin.courier.times": {"starts": "14:30", "ends": "16:30"},
        "admin.courier.accounts.index": {"carrier": "demo", "setting_step_minutes": "3"},
        "admin.courier.accounts.rotate": {"new_salt": "1"},
        "admin.courier.authorities.index": {**AUTHORITY, "org_name": "杭州市社会保险管理服务中心", "region_code": "330100",
                                            "province_code": "33", "city_code": "3301", "county_code": "330105",
                                            "address": "拱墅区环城北路 288 号", "postcode": "310006"},
        "admin.courier.authorities.edit": {**AUTHORITY, "address": "福田区福华一路 1 号社保大厦"},
        # The calendar: edit the year in the URL (CALENDAR_YEAR), add 2030, import 2031.
        "admin.calendar.edit": {**calendar_admin.form_values(shipped_calendar().arrangement(CALENDAR_YEAR)),
                                "workdays": ""},
        "admin.calendar.new": {"year": "2030", "title": "t", "number": "n", "published": "2029-11-01",
                               "days_off": "2030-01-01 元旦", "workdays": ""},
        "admin.calendar.import_json": {"json": json.dumps({"year": 2031, "days_off": [], "workdays": [], "source": {
            "title": "t", "number": "n", "published": "2030-11-01"}})},
    }.get(endpoint, {})


CALENDAR_YEAR = 2026  # the <year> of the calendar's routes: a shipped year


def _tomorrow() -> str:
    from datetime import timedelta

    from kiosk_backend.core.clock import LOCAL_TZ, utcnow

    return (utcnow().astimezone(LOCAL_TZ).date() + timedelta(days=1)).isoformat()
QUERIES = {"admin.fleet.usage_json": ["site={site_id}", "kiosk={kiosk_id}", ""],
           "admin.fleet.code_qr": ["code=ACDEF-GHJKM"]}


# endpoint, method → (admin, site manager on own site, site manager on another site, helper, anonymous).
# "login" = redirected to the login page. A 302 elsewhere means the action was done.
LOGIN = "login"
MATRIX = {
    ("admin.fleet.grid", "GET"): (200, 200, 200, 403, LOGIN),
    ("admin.fleet.alerts", "GET"): (200, 200, 200, 403, LOGIN),
    ("admin.fleet.ack_alert", "POST"): (302, 302, 404, 403, LOGIN),
    ("admin.identity.audit_log", "GET"): (200, 403, 403, 403, LOGIN),
    ("admin.catalog.import_page", "GET"): (200, 403, 403, 403, LOGIN),
    ("admin.catalog.import_page", "POST"): (200, 403, 403, 403, LOGIN),
    ("admin.fleet.code_qr", "GET"): (200, 200, 200, 403, LOGIN),
    ("admin.fleet.kiosk", "GET"): (200, 200, 404, 403, LOGIN),
    ("admin.fleet.kiosk_action", "POST"): (302, 302, 404, 403, LOGIN),
    ("admin.fleet.send_command", "POST"): (302, 302, 404, 403, LOGIN),
    ("admin.identity.login", "GET"): (200, 200, 200, 200, 200),
    ("admin.identity.login", "POST"): (401, 401, 401, 401, 401),
    ("admin.identity.logout", "POST"): (LOGIN, LOGIN, LOGIN, LOGIN, LOGIN),  # revoked: checked after the walk
    ("admin.fleet.sites", "GET"): (200, 200, 200, 403, LOGIN),
    ("admin.fleet.site", "GET"): (200, 200, 404, 403, LOGIN),
    ("admin.fleet.new_code", "POST"): (303, 303, 404, 403, LOGIN),  # post/redirect/get: the code is shown once
    ("admin.fleet.reenrol", "POST"): (302, 302, 404, 403, LOGIN),
    ("admin.sites.edit", "GET"): (200, 403, 403, 403, LOGIN),
    ("admin.sites.edit", "POST"): (302, 403, 403, 403, LOGIN),
    ("admin.sites.new", "GET"): (200, 403, 403, 403, LOGIN),
    ("admin.sites.new", "POST"): (302, 403, 403, 403, LOGIN),
    ("admin.fleet.usage", "GET"): (200, 200, 200, 403, LOGIN),
    ("admin.fleet.usage_json", "GET"): (200, 200, 404, 403, LOGIN),
    ("admin.not_found", "GET"): (404, 404, 404, 403, LOGIN),  # any URL under /admin that is no page
    ("admin.not_found", "POST"): (404, 404, 404, 403, LOGIN),
    ("admin.jobs.page", "GET"): (200, 403, 403, 403, LOGIN),
    ("admin.identity.logins", "GET"): (200, 200, 200, 403, LOGIN),  # a manager sees their sites' logins only
    ("admin.jobs.retry", "POST"): (404, 403, 403, 403, LOGIN),  # no message named: 404
    # Applications belong to no site: site managers read every one (masked data only, no action).
    ("admin.applications.index", "GET"): (200, 200, 200, 403, LOGIN),
    ("admin.applications.overdue", "GET"): (200, 200, 200, 403, LOGIN),
    ("admin.applications.detail", "GET"): (200, 200, 200, 403, LOGIN),
    ("admin.applications.resend_notice", "POST"): (303, 403, 403, 403, LOGIN),  # admins resend a rejected text
    # Department clients (their secrets) are for admins only; a new secret is shown once (PRG).
    ("admin.applications.departments.index", "GET"): (200, 403, 403, 403, LOGIN),
    ("admin.applications.departments.index", "POST"): (303, 403, 403, 403, LOGIN),
    ("admin.applications.departments.client", "GET"): (200, 403, 403, 403, LOGIN),
    ("admin.applications.departments.rotate", "POST"): (303, 403, 403, 403, LOGIN),
    ("admin.applications.departments.disable", "POST"): (302, 403, 403, 403, LOGIN),
    ("admin.applications.departments.enable", "POST"): (302, 403, 403, 403, LOGIN),
    ("admin.calendar.overview", "GET"): (200, 200, 200, 403, LOGIN),  # managers see the calendar, admins edit it
    ("admin.calendar.year", "GET"): (200, 200, 200, 403, LOGIN),
    ("admin.calendar.export", "GET"): (200, 200, 200, 403, LOGIN),
    ("admin.calendar.edit", "GET"): (200, 403, 403, 403, LOGIN),
    ("admin.calendar.edit", "POST"): (303, 403, 403, 403, LOGIN),  # post/redirect/get
    ("admin.calendar.new", "GET"): (200, 403, 403, 403, LOGIN),
    ("admin.calendar.new", "POST"): (303, 403, 403, 403, LOGIN),
    ("admin.calendar.import_json", "GET"): (200, 403, 403, 403, LOGIN),
    ("admin.calendar.import_json", "POST"): (303, 403, 403, 403, LOGIN),
    ("admin.calendar.revert", "POST"): (303, 403, 403, 403, LOGIN),  # nothing stored yet: a no-op
    # Courier: bookings and pickup slots belong to a site (another site's are 404 to a site
    # manager, like its kiosks); carrier accounts, authorities and reconciliation are admins'.
    ("admin.courier.index", "GET"): (200, 200, 200, 403, LOGIN),  # a manager's list shows their sites only
    ("admin.courier.booking", "GET"): (200, 200, 404, 403, LOGIN),
    ("admin.courier.slots", "GET"): (200, 200, 200, 403, LOGIN),
    ("admin.courier.site_slots", "GET"): (200, 200, 404, 403, LOGIN),
    ("admin.courier.site_slots", "POST"): (303, 303, 404, 403, LOGIN),
    ("admin.courier.capacity", "POST"): (303, 303, 404, 403, LOGIN),
    ("admin.courier.times", "POST"): (303, 303, 404, 403, LOGIN),
    ("admin.courier.accounts.index", "GET"): (200, 403, 403, 403, LOGIN),
    ("admin.courier.accounts.index", "POST"): (303, 403, 403, 403, LOGIN),
    ("admin.courier.accounts.rotate", "POST"): (303, 403, 403, 403, LOGIN),
    ("admin.courier.accounts.disable", "POST"): (303, 403, 403, 403, LOGIN),
    ("admin.courier.accounts.enable", "POST"): (303, 403, 403, 403, LOGIN),
    ("admin.courier.authorities.index", "GET"): (200, 403, 403, 403, LOGIN),
    ("admin.courier.authorities.index", "POST"): (303, 403, 403, 403, LOGIN),
    ("admin.courier.authorities.edit", "GET"): (200, 403, 403, 403, LOGIN),
    ("admin.courier.authorities.edit", "POST"): (303, 403, 403, 403, LOGIN),
    ("admin.courier.reconciliation.index", "GET"): (200, 403, 403, 403, LOGIN),
    ("admin.courier.reconciliation.run", "POST"): (303, 403, 403, 403, LOGIN),  # queued for the worker
    ("admin.courier.reconciliation.resolve", "POST"): (303, 403, 403, 403, LOGIN),
}
COLUMNS = {"admin": 0, "manager-own": 1, "manager-other": 2, "helper": 3, "anonymous": 4}


def admin_rules(app):
    return [rule for rule in app.url_map.iter_rules() if rule.rule.startswith("/admin")]


def requests_for(app, ids: dict):
    """(endpoint, method, url) for every method of every /admin rule, with real ids.

    Kiosk actions come in the order authorize, rotate, revoke; revoke and logout last so
    that they do not spoil the requests after them.
    """
    adapter = app.url_map.bind("localhost")
    out = []
    for rule in admin_rules(app):
        values = [{}]
        if "action" in rule.arguments:
            values = [{"action": a} for a in ("authorize", "rotate", "revoke")]
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            for extra in values:
                args = {k: ids[k] for k in rule.arguments if k in ids} | {"unknown": "no/such/page",
                                                                          "year": CALENDAR_YEAR} | extra
                args = {k: v for k, v in args.items() if k in rule.arguments}
                url = adapter.build(rule.endpoint, args, method=method)
                for query in QUERIES.get(rule.endpoint, [""]):
                    out.append((rule.endpoint, method, url + ("?" + query.format(**ids) if query else "")))

    def order(request):
        endpoint, method, url = request
        return (method != "GET", endpoint == "admin.identity.logout", url.endswith("/revoke"))

    return sorted(out, key=order)

# ===================================================================== the access matrix

def test_the_matrix_lists_every_admin_route_and_method(app):
    routes = {(rule.endpoint, m) for rule in admin_rules(app) for m in rule.methods - {"HEAD", "OPTIONS"}}
    assert routes == set(MATRIX), "add new /admin routes to MATRIX"


def test_no_admin_route_accepts_put_patch_or_delete(app):
    for rule in admin_rules(app):
        assert not rule.methods & {"PUT", "PATCH", "DELETE"}, rule


@pytest.mark.parametrize("who", list(COLUMNS))
def test_access_matrix_over_every_admin_route(app, db, world, who):
    client = app.test_client()
    csrf = ""
    if who != "anonymous":
        csrf = login(client, {"manager-own": "manager", "manager-other": "manager"}.get(who, who))
    scope = "other" if who == "manager-other" else "own"
    ids = world.ids(scope)
    before = _state(db, world, scope)
    wrong = []
    for endpoint, method, url in requests_for(app, ids):
        expected = MATRIX[(endpoint, method)][COLUMNS[who]]
        if endpoint == "admin.fleet.usage_json" and "?" not in url:  # no site or kiosk named: like the usage page
            expected = MATRIX[("admin.fleet.usage", "GET")][COLUMNS[who]]
        if method == "POST":
            data = {**body_for(endpoint), "csrf_token": csrf}
            response = client.post(url, data=data, content_type="multipart/form-data")
        else:
            response = client.get(url)
        got = response.status_code
        if expected == LOGIN:
            ok = got == 302 and "/admin/login" in response.headers["Location"]
        elif expected == 302:
            ok = got == 302 and "/admin/login" not in response.headers["Location"]
        else:
            ok = got == expected
        if not ok:
            wrong.append(f"{method} {url}: expected {expected}, got {got}")
    assert not wrong, "\n".join(wrong)
    if who in ("manager-other", "helper", "anonymous"):
        assert _state(db, world, scope) == before, "a refused request changed something"
    if who != "anonymous":  # the walk ended with logout
        assert db.session.scalar(sa.select(AdminSession.revoked_at)) is not None
        assert "/admin/login" in client.get("/admin/").headers["Location"]


def _state(db, world, scope: str) -> dict:
    """What the requests of a matrix walk could change on the site they name."""
    db.session.expire_all()
    ids = world.ids(scope)
    kiosk = db.session.get(Kiosk, ids["kiosk_id"])
    return {
        "kiosk": (kiosk.state, kiosk.rotate_requested, kiosk.credential_hash),
        "commands": db.session.scalar(sa.select(sa.func.count()).select_from(KioskCommand)
                                      .where(KioskCommand.kiosk_id == kiosk.id)),
        "alert": db.session.get(Alert, ids["alert_id"]).acknowledged_at,
        "codes": db.session.scalar(sa.select(sa.func.count()).select_from(EnrolmentCode)
                                   .where(EnrolmentCode.site_id == ids["site_id"])),
        "site": db.session.get(Site, ids["site_id"]).name,
        "sites": db.session.scalar(sa.select(sa.func.count()).select_from(Site)),
        "items": db.session.scalar(sa.select(sa.func.count()).select_from(Item)),
        "department_clients": sorted(db.session.execute(sa.select(DepartmentClient.id, DepartmentClient.active,
                                                                  DepartmentClient.secret_encrypted)).all()),
        "calendar": db.session.scalar(sa.select(sa.func.count()).select_from(CalendarYear)),
        "courier": _courier_state(db, ids),
    }


def _courier_state(db, ids: dict) -> dict:
    from kiosk_backend.core.outbox import OutboxMessage
    from kiosk_backend.courier.models import CarrierAccount, HandlingAuthority, PickupSlot, ReconciliationFinding

    slot = db.session.get(PickupSlot, ids["slot_id"])
    return {
        "slot": (slot.capacity, slot.starts, slot.ends),
        "slots": db.session.scalar(sa.select(sa.func.count()).select_from(PickupSlot)),
        "accounts": sorted(db.session.execute(sa.select(CarrierAccount.carrier, CarrierAccount.active,
                                                        CarrierAccount.credentials_encrypted,
                                                        CarrierAccount.settings)).all()),
        "authorities": sorted(db.session.execute(sa.select(HandlingAuthority.org_name, HandlingAuthority.address)).all()),
        "findings": sorted(db.session.execute(sa.select(ReconciliationFinding.id, ReconciliationFinding.resolved_at)).all()),
        "outbox": db.session.scalar(sa.select(sa.func.count()).select_from(OutboxMessage)),
    }

# ===================================================================== security headers

def test_every_admin_page_sends_security_headers_and_has_no_inline_script(app, db, world):
    client = app.test_client()
    login(client, "admin")
    ids = world.ids("own")
    pages = [url for endpoint, method, url in requests_for(app, ids)
             if method == "GET" and endpoint not in ("admin.fleet.code_qr", "admin.fleet.usage_json", "admin.not_found",
                                                     "admin.calendar.export")]
    for url in pages:
        response = client.get(url)
        assert response.status_code == 200, url
        csp = response.headers["Content-Security-Policy"]
        assert "script-src 'self'" in csp and "unsafe-inline" not in csp, url
        assert response.headers["X-Frame-Options"] == "DENY" and response.headers["Cache-Control"] == "no-store"
        assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", response.text), f"inline script on {url}"
        assert not re.search(r"\son[a-z]+=\"", response.text), f"inline event handler on {url}"

# ===================================================================== CSRF on every form

def _snapshot(db) -> dict:
    db.session.expire_all()
    out = {}
    with db.engine.connect() as conn:
        for table in db.metadata.sorted_tables:
            rows = conn.execute(sa.select(table)).all()
            out[table.name] = sorted(map(repr, rows))
    return out


@pytest.mark.parametrize("token", [None, "", "forged-token"])
def test_every_form_without_the_right_csrf_token_is_refused_and_changes_nothing(app, db, world, token):
    client = app.test_client()
    login(client, "admin")
    posts = [(endpoint, url) for endpoint, method, url in requests_for(app, world.ids("own"))
             if method == "POST" and endpoint != "admin.identity.login"]
    assert len(posts) >= 10
    before = _snapshot(db)
    for endpoint, url in posts:
        data = body_for(endpoint)
        if token is not None:
            data["csrf_token"] = token
        response = client.post(url, data=data, content_type="multipart/form-data")
        assert response.status_code == 400, (url, response.status_code)
    assert _snapshot(db) == before
