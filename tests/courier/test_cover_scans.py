"""The handling authority scans the cover sheet on arrival (courier/cover_scans.py,
``POST /api/v1/departments/cover-scans``): one signed request signs for the parcel (已签收)
and puts 办理机关已签收申请材料 on the application's timeline, once."""
from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta

import pytest
import sqlalchemy as sa

from kiosk_backend.applications import departments, progress
from kiosk_backend.applications.models import Application, RefusedEvent
from kiosk_backend.core.actors import SYSTEM
from kiosk_backend.core.i18n import translate
from kiosk_backend.core.outbox import OutboxMessage
from kiosk_backend.core.workdays import Calendar
from kiosk_backend.courier import services
from kiosk_backend.courier.coversheet import cover_payload
from kiosk_backend.courier.gateway import CarrierEvent
from kiosk_backend.courier.models import Booking, TrackingEvent
from kiosk_backend.courier.states import Status

from ..applications.department_support import Department
from ..races import run_in_threads

SCANS = "/api/v1/departments/cover-scans"


@pytest.fixture
def make_department(app, db):
    def _make(name: str = "九江市公安局", region: str | None = "360400") -> Department:
        client, secret = departments.create_client(db.session, name=name, region_code=region, actor=SYSTEM)
        db.session.commit()
        return Department(app.test_client(), client.key_id, secret, client.id, name)

    return _make


@pytest.fixture
def dept(make_department) -> Department:
    return make_department()


@pytest.fixture
def leg(db, dept, make_application, make_booking):
    """An accepted application of ``dept`` and its materials leg (not yet given a waybill)."""
    from kiosk_backend.applications.models import DepartmentClient

    def _make(purpose: str = "materials_to_authority", *, department: Department | None = None, state="accepted"):
        client = db.session.get(DepartmentClient, (department or dept).client_id)
        application = make_application(state, client=client)
        booking = make_booking(purpose=purpose, application_number=application.number, item_type="materials",
                               payer="government")
        return application, booking

    return _make


def payload_of(application, booking, *, waybill: str | None = None) -> str:
    return cover_payload(application_number=application.number, order_no=booking.order_no,
                         waybill_no=waybill if waybill is not None else booking.waybill_no)


def scan(dept: Department, payload: str, **extra):
    return dept.send("POST", SCANS, {"payload": payload, **extra})


def events_of(db, booking) -> list[TrackingEvent]:
    db.session.expire_all()
    return list(db.session.scalars(sa.select(TrackingEvent).where(TrackingEvent.booking_id == booking.id)
                                   .order_by(TrackingEvent.id)))


def status_of(db, booking) -> str:
    db.session.expire_all()
    return db.session.get(Booking, booking.id).status


def timeline_words(db, application) -> list[str]:
    db.session.expire_all()
    fresh = db.session.get(Application, application.id)
    view = progress.view(fresh, calendar=Calendar.shipped(), today=date(2026, 3, 20))
    return [translate(entry["action_key"], "zh-CN") for entry in view["timeline"]]


def test_a_scan_signs_for_the_parcel_and_the_timeline_says_the_authority_received_the_materials(db, dept, leg):
    application, booking = leg()
    assert "办理机关已签收申请材料" not in timeline_words(db, application)
    answer = scan(dept, payload_of(application, booking), note="收件人 王五")
    assert answer.status_code == 201, answer.get_json()
    body = answer.get_json()
    assert body["recorded"] is True
    assert (body["application_number"], body["order_no"], body["booking_status"], body["application_state"]) == (
        application.number, booking.order_no, "delivered", "accepted")
    assert status_of(db, booking) == Status.DELIVERED
    scanned = events_of(db, booking)[-1]
    assert (scanned.status, scanned.source, scanned.applied, scanned.location) == ("delivered", "scan", True, dept.name)
    assert scanned.raw_text == "【九江市公安局】扫描封面签收：收件人 王五"
    assert "办理机关已签收申请材料" in timeline_words(db, application)
    # The application's state machine has no step for it: the state is as it was.
    assert db.session.get(Application, application.id).state == "accepted"
    # The resident hears of 签收 once, as from a carrier.
    assert db.session.scalar(sa.select(sa.func.count()).select_from(OutboxMessage).where(
        OutboxMessage.key == f"booking:{booking.id}:delivered")) == 1


def test_scanning_the_sheet_again_answers_200_with_the_first_result_and_records_nothing(db, dept, leg):
    application, booking = leg()
    first = scan(dept, payload_of(application, booking), scanned_at="2026-12-01T10:00:00+08:00")
    again = scan(dept, payload_of(application, booking), scanned_at="2026-12-01T11:00:00+08:00", note="再扫")
    assert (first.status_code, again.status_code) == (201, 200), again.get_json()
    assert again.get_json() == {**first.get_json(), "recorded": False}
    assert [e.source for e in events_of(db, booking)].count("scan") == 1


def test_a_sheet_printed_before_the_waybill_and_one_printed_after_are_the_same_parcel(db, dept, leg):
    application, booking = leg()
    db.session.execute(sa.update(Booking).where(Booking.id == booking.id).values(waybill_no="EA000000001CN"))
    db.session.commit()
    early = payload_of(application, booking, waybill="")
    assert scan(dept, early).status_code == 201
    assert scan(dept, payload_of(application, booking, waybill="EA000000001CN")).status_code == 200
    wrong = scan(dept, payload_of(application, booking, waybill="EA999999999CN"))
    assert wrong.status_code == 422 and "payload" in wrong.get_json()["errors"]


def test_a_scan_never_moves_the_parcel_backwards_and_is_recorded_at_the_newest_step_or_later(db, dept, leg):
    application, booking = leg()
    out = datetime(2026, 12, 1, 2, 0, tzinfo=UTC)
    services.record_tracking(db.session, booking, [CarrierEvent(status=Status.OUT_FOR_DELIVERY, raw_text="派送中",
                                                                occurred_at=out, event_id="c-1")], source="push")
    db.session.commit()
    answer = scan(dept, payload_of(application, booking), scanned_at="2026-12-01T09:00:00+08:00")  # 01:00 UTC
    assert answer.status_code == 201, answer.get_json()
    assert answer.get_json()["booking_status"] == "delivered"
    assert answer.get_json()["scanned_at"] == "2026-12-01T02:00:00+00:00"


def test_a_scan_after_the_carrier_reported_it_signed_for_keeps_it_so(db, dept, leg):
    application, booking = leg()
    services.record_tracking(db.session, booking, [CarrierEvent(status=Status.DELIVERED, raw_text="已签收",
                                                                occurred_at=datetime(2026, 12, 1, 2, 0, tzinfo=UTC),
                                                                event_id="c-9")], source="push")
    db.session.commit()
    answer = scan(dept, payload_of(application, booking))
    assert answer.status_code == 201 and answer.get_json()["booking_status"] == "delivered"
    assert timeline_words(db, application).count("办理机关已签收申请材料") == 1


def test_a_bad_signature_is_a_401_and_records_nothing(db, dept, leg):
    application, booking = leg()
    answer = dept.send("POST", SCANS, {"payload": payload_of(application, booking)}, secret="not-the-secret")
    assert answer.status_code == 401
    assert answer.headers["WWW-Authenticate"].startswith("KIOSK-HMAC-SHA256")
    assert status_of(db, booking) == Status.PENDING_PICKUP


@pytest.mark.parametrize("payload", ["hello", "KIOSK-COVER:2:A:B:C", "KIOSK-COVER:1:TEST00000001::",
                                     "KIOSK-COVER:1::KB20261201ABCDEFGH:"])
def test_a_text_that_is_not_a_cover_sheet_of_an_application_is_a_422_naming_the_payload(db, dept, leg, payload):
    leg()
    answer = scan(dept, payload)
    assert answer.status_code == 422, answer.get_json()
    body = answer.get_json()
    assert set(body["errors"]) == {"payload"}
    assert body["message"].startswith("payload: ") and body["message_zh"]  # in both languages


def test_a_body_without_a_payload_is_a_422_naming_it(db, dept):
    answer = dept.send("POST", SCANS, {"note": "x"})
    assert answer.status_code == 422 and "payload" in answer.get_json()["errors"]["json"]


def test_the_order_number_of_another_application_is_a_422(db, dept, leg):
    application, _booking = leg()
    _other_application, other_booking = leg()
    answer = scan(dept, payload_of(application, other_booking))
    assert answer.status_code == 422 and "payload" in answer.get_json()["errors"]
    assert status_of(db, other_booking) == Status.PENDING_PICKUP


def test_another_departments_application_is_a_404(db, dept, leg, make_department):
    application, booking = leg()
    other = make_department("九江市市场监督管理局")
    answer = scan(other, payload_of(application, booking))
    assert answer.status_code == 404
    assert answer.get_json()["message_zh"] == "没有找到与该编号和验证信息相符的办件。"  # as an unknown number
    assert status_of(db, booking) == Status.PENDING_PICKUP
    assert scan(dept, payload_of(application, booking)).status_code == 201  # its own department signs for it


def test_the_sheet_of_the_result_sent_home_is_refused(db, dept, leg):
    application, booking = leg("result_to_applicant", state="concluded")
    answer = scan(dept, payload_of(application, booking))
    assert answer.status_code == 422 and "payload" in answer.get_json()["errors"]
    assert status_of(db, booking) == Status.PENDING_PICKUP and not [
        e for e in events_of(db, booking) if e.source == "scan"]


def test_a_cancelled_booking_is_a_409(db, dept, leg):
    application, booking = leg()
    db.session.execute(sa.update(Booking).where(Booking.id == booking.id).values(status=Status.CANCELLED))
    db.session.commit()
    assert scan(dept, payload_of(application, booking)).status_code == 409


def test_a_scan_in_the_future_is_a_422_naming_scanned_at(db, dept, leg):
    application, booking = leg()
    later = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    answer = scan(dept, payload_of(application, booking), scanned_at=later)
    assert answer.status_code == 422 and "scanned_at" in answer.get_json()["errors"]


def test_concurrent_scans_of_one_sheet_record_it_once(app, db, dept, leg):
    application, booking = leg()
    payload = payload_of(application, booking)

    def work(_i):
        return scan(dept.using(app.test_client()), payload).status_code

    results = run_in_threads(app, 6, work)
    assert sorted(results) == [200] * 5 + [201], results
    assert [e.source for e in events_of(db, booking)].count("scan") == 1
    assert status_of(db, booking) == Status.DELIVERED


def test_every_department_route_refuses_an_unsigned_request_this_one_included(app, client):
    rules = [rule for rule in app.url_map.iter_rules() if rule.rule.startswith("/api/v1/departments/")]
    assert SCANS in {rule.rule for rule in rules}
    for rule in rules:
        path = re.sub(r"<[^>]+>", "TEST00000001", rule.rule)
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            answer = client.open(path, method=method, json={"payload": "KIOSK-COVER:1:A:B:"})
            assert answer.status_code == 401, (method, path)
            assert answer.headers["WWW-Authenticate"].startswith("KIOSK-HMAC-SHA256")


def test_signed_generated_scans_keep_the_documented_contract(app, db, dept, leg, make_department, subtests):
    """schemathesis on this operation, signed (tests/applications/test_department_api.py's
    middleware): generated and real bodies, never a 5xx, every answer as documented."""
    import schemathesis
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st
    from schemathesis import GenerationMode
    from schemathesis.specs.openapi.checks import positive_data_acceptance

    from ..applications.test_department_api import SIGN, signing_middleware

    mine = [leg(), leg()]
    theirs = leg(department=make_department("九江市市场监督管理局"))
    result = leg("result_to_applicant", state="concluded")
    bodies = [{"payload": payload_of(*pair)} for pair in (*mine, theirs, result)]
    bodies += [{"payload": payload_of(*mine[0]), "scanned_at": "2026-12-01T10:00:00+08:00", "note": "签收"},
               {"payload": payload_of(mine[1][0], theirs[1])}]

    config = schemathesis.Config.from_dict({"output": {"sanitization": {"enabled": False}}})
    api = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", signing_middleware(app, dept.key_id, dept.secret),
                                         config=config)

    @api.auth(refresh_interval=None)
    class _Sign:
        def get(self, case, ctx):
            return SIGN

        def set(self, case, data, ctx):
            case.headers = {**(case.headers or {}), "X-Kiosk-Signature": data}

    [operation] = [r.ok() for r in api.get_all_operations() if r.ok().path == SCANS]
    strategies = [operation.as_strategy(generation_mode=mode, auth_storage=api.auth)
                  for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE)]
    strategies += [operation.as_strategy(auth_storage=api.auth, body=body) for body in bodies]

    @settings(max_examples=60, derandomize=True, database=None, deadline=None,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
    @given(case=st.one_of(strategies))
    def fuzz(case):
        response = case.call()
        assert response.status_code < 500, case.as_curl_command()
        case.validate_response(response, excluded_checks=[positive_data_acceptance])

    with subtests.test(operation.label):
        fuzz()
    assert status_of(db, mine[0][1]) == Status.DELIVERED and status_of(db, theirs[1]) == Status.PENDING_PICKUP


def test_the_consoles_booking_page_names_the_scan_as_the_source_in_words(db, dept, leg, console):
    application, booking = leg()
    assert scan(dept, payload_of(application, booking)).status_code == 201
    client, _ = console("boss", role="admin")
    page = client.get(f"/admin/courier/bookings/{booking.order_no}").text
    assert "办理机关扫码" in page and "【九江市公安局】扫描封面签收" in page


def test_refused_scans_are_kept_with_their_reason_and_shown_on_the_applications_console_page(db, dept, leg, console):
    application, booking = leg()
    _other_application, other_booking = leg()
    result_application, result_booking = leg("result_to_applicant", state="concluded")
    assert scan(dept, payload_of(application, other_booking)).status_code == 422
    assert scan(dept, payload_of(result_application, result_booking)).status_code == 422
    assert scan(dept, "hello").status_code == 422
    assert dept.send("POST", SCANS, {"note": "x"}).status_code == 422
    assert scan(dept, payload_of(application, booking)).status_code == 201  # accepted ones are not refusals
    db.session.expire_all()
    kept = [(r.number, r.action, r.reason) for r in db.session.scalars(sa.select(RefusedEvent).order_by(RefusedEvent.id))]
    assert kept == [(application.number, "cover_scan", "not_this_application"),
                    (result_application.number, "cover_scan", "not_materials_leg"),
                    (None, "cover_scan", "not_a_cover_sheet"), (None, "cover_scan", "invalid")]
    client, _ = console("boss", role="admin")
    page = client.get(f"/admin/applications/{application.number}").text
    assert "扫描寄递封面" in page and "寄件不属于该办件" in page


def test_a_scan_time_before_the_booking_is_taken_as_the_booking_time(db, dept, leg):
    application, booking = leg()
    answer = scan(dept, payload_of(application, booking), scanned_at="2001-01-01T08:00:00+08:00")
    assert answer.status_code == 201
    db.session.expire_all()
    stored = db.session.get(Booking, booking.id)
    assert stored.status == Status.DELIVERED and stored.status_at >= stored.created_at
