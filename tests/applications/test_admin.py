"""The console's applications and department-client pages (applications/admin.py): the list
and its filters, an application with its timeline, clock stops, SMS notices and refused
events (masked personal data only), the overdue list, and department clients (created,
rotated, disabled; secrets shown once). Access per role over every /admin route is in
tests/test_admin_access.py."""
from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

from kiosk_backend.applications import admin, departments, services
from kiosk_backend.applications.deadlines import china_day
from kiosk_backend.applications.models import Application, DepartmentClient, Notification, RefusedEvent
from kiosk_backend.core.audit import AuditEntry
from kiosk_backend.core.clock import utcnow
from kiosk_backend.core.i18n import LANGUAGES, catalogue
from kiosk_backend.core.workdays import Calendar
from tests.conftest import APPLICANT_ID, APPLICANT_PHONE

TEMPLATES = Path(__file__).resolve().parents[2] / "kiosk_ui" / "templates" / "admin"
LONG_AGO = datetime(2025, 3, 3, 1, 0, tzinfo=UTC)  # a Monday, 09:00 in China


def rows_of(page: str) -> list[str]:
    """The application numbers linked from a page, in order."""
    return re.findall(r'href="/admin/applications/([0-9A-Z-]+)"', page)


@pytest.fixture
def staff_console(console):
    return console("boss", role="admin")


# ===================================================================== the list

def test_the_list_shows_newest_first_with_state_and_deadline_in_words(db, staff_console, make_application):
    client, _ = staff_console
    old = make_application("special_procedure", number="JX-2025-000001", received_at=LONG_AGO)
    new = make_application("received", number="JX-2026-000002", received_at=utcnow() - timedelta(hours=1))
    page = client.get("/admin/applications/").text
    assert rows_of(page) == [new.number, old.number]
    assert "特别程序" in page and "app-state-paused" in page and "计时暂停" in page
    assert "已接件" in page and "受理后开始计时" in page
    assert "张*" in page and "居民身份证换领" in page and "九江市公安局" in page
    without_slash = client.get("/admin/applications")
    assert without_slash.status_code == 308 and without_slash.headers["Location"].endswith("/admin/applications/")


def test_the_list_filters_by_state_mode_number_region_and_cross_province(db, staff_console, make_application):
    client, _ = staff_console
    accepted = make_application("accepted", number="JX-ACC-000001")
    refused = make_application("not_accepted", number="JX-REF-000002", mode="online")
    cross = make_application("in_progress", number="ZJ-CRS-000003", mode="proxy", handling_org="杭州市公安局",
                             handling_region="330100")

    def shown(query):
        response = client.get("/admin/applications/?" + query)
        assert response.status_code == 200
        return set(rows_of(response.text))

    assert shown("") == {accepted.number, refused.number, cross.number}
    assert shown("state=not_accepted") == {refused.number}
    assert shown("mode=online") == {refused.number}
    assert shown("q=acc-0000") == {accepted.number}  # part of the number, any case
    assert shown("q=%25") == set()  # LIKE wildcards are searched for, not expanded
    assert shown("cross=1") == {cross.number}
    assert shown("region=33") == {cross.number}  # a province prefix
    assert shown("region=360400") == {accepted.number, refused.number}
    assert shown("state=bogus") == set() and shown("region=x%00y") == set()  # applied as given: nothing matches
    assert shown("page=abc&state=") == {accepted.number, refused.number, cross.number}
    page = client.get("/admin/applications/").text
    assert "浙江省杭州市" in page  # the handling-region filter names the regions
    assert "跨省" in page


def test_the_overdue_filter_keeps_open_applications_past_their_deadline_with_the_clock_running(
        db, staff_console, make_application):
    client, _ = staff_console
    late = make_application("in_progress", received_at=LONG_AGO)
    make_application("special_procedure", received_at=LONG_AGO)  # the clock is stopped
    make_application("concluded", received_at=LONG_AGO)  # finished
    make_application("received", received_at=LONG_AGO)  # not accepted: no deadline
    make_application("accepted")  # 20 working days from March 2026: overdue now too, the clock runs
    page = client.get("/admin/applications/?overdue=1").text
    shown = rows_of(page)
    assert late.number in shown and len(shown) == 2


def test_the_list_is_paged_fifty_at_a_time(db, staff_console, make_application):
    client, _ = staff_console
    made = [make_application("received", received_at=LONG_AGO + timedelta(minutes=i)).number for i in range(51)]
    first = client.get("/admin/applications/").text
    assert rows_of(first) == made[::-1][:50] and "page=2" in first and "下一页" in first
    second = client.get("/admin/applications/?page=2").text
    assert rows_of(second) == [made[0]] and "page=1" in second and "下一页" not in second

# ===================================================================== one application

def test_the_detail_shows_the_timeline_with_who_and_when_and_only_masked_personal_data(
        db, staff_console, make_application):
    client, _ = staff_console
    agency, _secret = departments.create_client(db.session, name="九江市公安局", region_code="360400", actor="system")
    application = make_application("received", number="JX-2026-000100", name="李小明", client=agency)
    services.apply_event(db.session, application.number, services.NewEvent(
        action="request_supplement", occurred_at=application.received_at + timedelta(hours=2), missing=("户口簿原件",),
        note=f"已电话告知 {APPLICANT_PHONE}，身份证 {APPLICANT_ID}", event_id="evt-0001",
        extra={"contact": f"+86 {APPLICANT_PHONE}"}), actor=f"department:{agency.key_id}", actor_name="九江市公安局",
        client=agency, calendar=Calendar.shipped())
    db.session.commit()
    page = client.get(f"/admin/applications/{application.number}").text
    assert "接件" in page and "一次性告知补正材料" in page and "已接件" in page and "待补正" in page
    assert "evt-0001" in page and f"department:{agency.key_id}" in page and "户口簿原件" in page
    assert "李*明" in page and "1101**********002X" in page and "138****8000" in page
    assert APPLICANT_ID not in page and APPLICANT_PHONE not in page and "李小明" not in page
    assert APPLICANT_ID[4:14] not in page  # not even the birth date part
    assert "已电话告知 138****8000" in page  # free text keeps its words, the numbers masked
    assert client.get(f"/admin/applications/{application.number.lower()}").status_code == 200


def test_the_detail_lists_clock_stops_closed_and_running(db, staff_console, make_application):
    client, _ = staff_console
    resumed = make_application("special_procedure", received_at=LONG_AGO)
    services.apply_event(db.session, resumed.number, services.NewEvent(
        action="resume", occurred_at=LONG_AGO + timedelta(days=10)), actor="system", actor_name="九江市公安局",
        calendar=Calendar.shipped())
    db.session.commit()
    page = client.get(f"/admin/applications/{resumed.number}").text
    pause = db.session.get(Application, resumed.id).pauses[0]
    assert pause["kind"] == "special_procedure"
    assert pause["start"] in page and pause["end"] in page and "特别程序" in page and "仍在暂停" not in page
    waiting = make_application("special_procedure")
    page = client.get(f"/admin/applications/{waiting.number}").text
    assert "仍在暂停" in page and waiting.paused_since.isoformat() in page and "计时暂停" in page
    untouched = client.get(f"/admin/applications/{make_application('accepted').number}").text
    assert "没有暂停计时" in untouched


def test_the_detail_shows_each_events_sms_notice_and_the_refused_events_of_its_number(
        db, staff_console, make_application):
    client, _ = staff_console
    application = make_application("accepted", number="JX-2026-000200")
    accept = application.events[-1]
    db.session.add(Notification(event_id=accept.id, application_id=application.id, template="accepted",
                                state="uncertain", attempts=2, created_at=utcnow(),
                                last_error=f"timeout sending to {APPLICANT_PHONE}"))
    agency, _ = departments.create_client(db.session, name="九江市公安局", actor="system")
    db.session.add(RefusedEvent(client_id=agency.id, event_id="evt-late", number=application.number, action="start",
                                reason="out_of_order", message="This event happened before the newest event.",
                                payload={"applicant": {"id_number": APPLICANT_ID}}, received_at=utcnow()))
    db.session.add(RefusedEvent(client_id=agency.id, event_id="evt-other", number="JX-2026-999999", action="start",
                                reason="unknown_application", message="No such application.", received_at=utcnow()))
    db.session.commit()
    page = client.get(f"/admin/applications/{application.number}").text
    assert "不确定是否送达" in page and "已尝试 2 次" in page and "timeout sending to 138****8000" in page
    assert "不发短信" in page  # the 接件 event sends no text
    assert "evt-late" in page and "事件顺序颠倒" in page and "This event happened before" in page
    assert "evt-other" not in page  # another number's
    assert APPLICANT_ID not in page and APPLICANT_PHONE not in page  # the refused payload is not shown
    queued = client.get(f"/admin/applications/{make_application('accepted').number}").text
    assert "已排队（尚无发送记录）" in queued  # 受理 is texted; the worker has not written its record yet
    silent = client.get(f"/admin/applications/{make_application('accepted', phone=None).number}").text
    assert "已排队" not in silent and "不发短信" in silent  # no mobile number, no text


@pytest.mark.parametrize("number", ["JX-NO-SUCH-1", "bad number!", "x"])
def test_an_unknown_or_malformed_number_is_a_404(db, staff_console, number):
    client, _ = staff_console
    response = client.get(f"/admin/applications/{number}")
    assert response.status_code == 404 and "没有找到" in response.text

# ===================================================================== overdue

def test_the_overdue_page_lists_the_most_overdue_first_with_the_days_overdue(db, staff_console, make_application):
    client, _ = staff_console
    later = make_application("in_progress", received_at=LONG_AGO + timedelta(days=60))
    earliest = make_application("accepted", received_at=LONG_AGO)
    middle = make_application("in_progress", received_at=LONG_AGO + timedelta(days=30))
    make_application("special_procedure", received_at=LONG_AGO)  # the clock is stopped
    make_application("delivered", received_at=LONG_AGO)  # finished
    page = client.get("/admin/applications/overdue").text
    shown = rows_of(page)
    assert shown[:3] == [earliest.number, middle.number, later.number] and len(shown) == 3
    today = china_day(utcnow())
    for application in (earliest, middle, later):
        days = (today - db.session.get(Application, application.id).deadline).days
        assert f"已超期 {days} 天" in page
    assert "共 3 件" in page and "没有期限待定的办件" in page


def test_the_overdue_ordering_follows_the_deadline_for_a_fixed_day(db, make_application):
    earliest = make_application("accepted", received_at=LONG_AGO)
    later = make_application("in_progress", received_at=LONG_AGO + timedelta(days=14))
    make_application("in_progress", received_at=LONG_AGO + timedelta(days=200))  # not yet due on that day
    day = db.session.get(Application, later.id).deadline + timedelta(days=1)
    assert [a.number for a in services.overdue(db.session, today=day)] == [earliest.number, later.number]
    assert admin.overdue_count(db.session, today=day) == 2
    assert {a.number for a in admin.search(db.session, today=day, overdue=True)} == {earliest.number, later.number}


def test_applications_whose_deadline_waits_for_a_calendar_year_are_listed_with_a_way_to_the_calendar(
        db, staff_console, make_application):
    client, _ = staff_console
    waiting = make_application("accepted", promise_days=2000)  # reaches years without holiday data
    year = db.session.get(Application, waiting.id).deadline_missing_year
    assert year is not None
    page = client.get("/admin/applications/overdue").text
    unknown = page.split('id="deadline-unknown"')[1]
    assert waiting.number in unknown and f"缺少 {year} 年" in unknown
    assert 'href="/admin/calendar/"' in unknown
    assert client.get("/admin/calendar/").status_code == 200
    assert waiting.number not in page.split('id="deadline-unknown"')[0]

# ===================================================================== department clients

def _client_row(db, name: str) -> DepartmentClient:
    db.session.expire_all()
    return db.session.scalar(sa.select(DepartmentClient).where(DepartmentClient.name == name))


def test_creating_a_client_shows_its_secret_once_and_never_in_an_address(db, staff_console):
    client, csrf = staff_console
    response = client.post("/admin/applications/departments/",
                           data={"csrf_token": csrf, "name": " 九江市市场监督管理局 ", "region_code": "360400"})
    assert response.status_code == 303
    created = _client_row(db, "九江市市场监督管理局")
    secret = departments.secrets_for(created)[0]
    assert secret not in response.headers["Location"]
    page = client.get(response.headers["Location"]).text
    assert secret in page and created.key_id in page and "只显示这一次" in page
    again = client.get(response.headers["Location"]).text
    assert secret not in again and created.key_id in again
    listing = client.get("/admin/applications/departments/").text
    assert created.key_id in listing and secret not in listing and "江西省九江市" in listing
    audit = db.session.scalar(sa.select(AuditEntry).where(AuditEntry.action == "department_client.create"))
    assert audit.actor == "boss" and audit.details["key_id"] == created.key_id and secret not in str(audit.details)


def test_a_secret_waiting_for_one_client_is_not_shown_on_another_clients_page(db, staff_console):
    client, csrf = staff_console
    other, _ = departments.create_client(db.session, name="九江市人社局", actor="system")
    db.session.commit()
    response = client.post("/admin/applications/departments/", data={"csrf_token": csrf, "name": "九江市民政局"})
    secret = departments.secrets_for(_client_row(db, "九江市民政局"))[0]
    assert secret not in client.get(f"/admin/applications/departments/{other.id}").text
    assert secret in client.get(response.headers["Location"]).text


@pytest.mark.parametrize("form, field", [
    ({"name": ""}, "name"), ({"name": "   "}, "name"), ({"name": "x" * 201}, "name"), ({"name": "a\x00b"}, "name"),
    ({"name": "九江市公安局", "region_code": "3604"}, "region_code"), ({}, "name"),
])
def test_a_bad_client_form_comes_back_with_the_field_named_and_nothing_created(db, staff_console, form, field):
    client, csrf = staff_console
    response = client.post("/admin/applications/departments/", data={"csrf_token": csrf, **form})
    assert response.status_code == 422
    assert 'name="name"' in response.text and "field-error" in response.text
    assert db.session.scalar(sa.select(sa.func.count()).select_from(DepartmentClient)) == 0


def test_rotating_shows_the_new_secret_once_and_when_the_old_one_stops(db, staff_console):
    client, csrf = staff_console
    agency, old = departments.create_client(db.session, name="九江市公安局", actor="system")
    db.session.commit()
    response = client.post(f"/admin/applications/departments/{agency.id}/rotate", data={"csrf_token": csrf})
    assert response.status_code == 303
    page = client.get(response.headers["Location"]).text
    rotated = _client_row(db, "九江市公安局")
    new = departments.secrets_for(rotated)[0]
    assert new != old and departments.secrets_for(rotated) == [new, old]
    assert new in page and old not in page and "旧密钥在" in page and "前仍可使用" in page
    assert new not in client.get(response.headers["Location"]).text
    assert rotated.rotated_at is not None


def test_disabling_refuses_the_client_and_enabling_brings_it_back(db, staff_console):
    client, csrf = staff_console
    agency, secret = departments.create_client(db.session, name="九江市公安局", actor="system")
    db.session.commit()
    response = client.post(f"/admin/applications/departments/{agency.id}/disable", data={"csrf_token": csrf})
    assert response.status_code == 302
    assert "已停用" in client.get(response.headers["Location"]).text
    disabled = _client_row(db, "九江市公安局")
    assert not disabled.active and disabled.disabled_at is not None and departments.secrets_for(disabled) == []
    rotate = client.post(f"/admin/applications/departments/{agency.id}/rotate", data={"csrf_token": csrf})
    assert rotate.status_code == 409  # a disabled client gets no new secret
    client.post(f"/admin/applications/departments/{agency.id}/enable", data={"csrf_token": csrf})
    assert departments.secrets_for(_client_row(db, "九江市公安局")) == [secret]
    actions = db.session.scalars(sa.select(AuditEntry.action).where(AuditEntry.action.like("department_client.%")))
    assert sorted(actions) == ["department_client.create", "department_client.disable", "department_client.enable"]


def test_a_clients_page_lists_its_recently_refused_events_with_reason_and_message(db, staff_console, make_application):
    client, _ = staff_console
    agency, _ = departments.create_client(db.session, name="九江市公安局", actor="system")
    other, _ = departments.create_client(db.session, name="九江市人社局", actor="system")
    known = make_application("received", number="JX-2026-000300")
    for i, (number, reason) in enumerate([(known.number, "illegal_transition"), ("JX-NONE-0001", "unknown_application"),
                                          (None, "some_new_reason")]):
        db.session.add(RefusedEvent(client_id=agency.id, event_id=f"evt-{i}", number=number, action="conclude",
                                    reason=reason, message=f"refused #{i} for {APPLICANT_PHONE}",
                                    received_at=utcnow() - timedelta(minutes=i)))
    db.session.add(RefusedEvent(client_id=other.id, event_id="evt-other", number=None, action="accept",
                                reason="out_of_order", message="other", received_at=utcnow()))
    db.session.commit()
    page = client.get(f"/admin/applications/departments/{agency.id}").text
    assert page.index("evt-0") < page.index("evt-1") < page.index("evt-2")  # newest first
    assert "当前状态不允许该操作" in page and "办件不存在" in page and "some_new_reason" in page
    assert f'href="/admin/applications/{known.number}"' in page
    assert 'href="/admin/applications/JX-NONE-0001"' not in page  # no link to a page that is not there
    assert "refused #0 for 138****8000" in page and APPLICANT_PHONE not in page
    assert "evt-other" not in page
    listing = client.get("/admin/applications/departments/").text
    assert re.search(rf'departments/{agency.id}#refused">3<', listing)


def test_forms_without_the_csrf_token_are_refused_and_change_nothing(db, staff_console):
    client, _ = staff_console
    agency, secret = departments.create_client(db.session, name="九江市公安局", actor="system")
    db.session.commit()
    for url, data in [("/admin/applications/departments/", {"name": "九江市民政局"}),
                      (f"/admin/applications/departments/{agency.id}/rotate", {}),
                      (f"/admin/applications/departments/{agency.id}/disable", {}),
                      (f"/admin/applications/departments/{agency.id}/enable", {})]:
        assert client.post(url, data=data).status_code == 400
        assert client.post(url, data={**data, "csrf_token": "forged"}).status_code == 400
    row = _client_row(db, "九江市公安局")
    assert row.active and row.rotated_at is None and departments.secrets_for(row) == [secret]
    assert db.session.scalar(sa.select(sa.func.count()).select_from(DepartmentClient)) == 1

# ===================================================================== roles

def test_a_site_manager_reads_applications_but_cannot_touch_department_clients(
        db, console, make_site, make_application):
    client, csrf = console("li", role="site_manager", sites=[make_site()])
    agency, secret = departments.create_client(db.session, name="九江市公安局", actor="system")
    application = make_application("accepted", client=agency)
    assert client.get("/admin/applications/").status_code == 200
    assert client.get("/admin/applications/overdue").status_code == 200
    detail = client.get(f"/admin/applications/{application.number}").text
    assert "九江市公安局" in detail and f"/departments/{agency.id}" not in detail  # the name, no way in
    assert "部门接入" not in client.get("/admin/applications/").text  # not in the menu either
    for url in ("/admin/applications/departments/", f"/admin/applications/departments/{agency.id}"):
        assert client.get(url).status_code == 403
    for url, data in [("/admin/applications/departments/", {"name": "九江市民政局"}),
                      (f"/admin/applications/departments/{agency.id}/rotate", {}),
                      (f"/admin/applications/departments/{agency.id}/disable", {})]:
        assert client.post(url, data={**data, "csrf_token": csrf}).status_code == 403
    row = _client_row(db, "九江市公安局")
    assert row.active and departments.secrets_for(row) == [secret]
    assert db.session.scalar(sa.select(sa.func.count()).select_from(DepartmentClient)) == 1


def test_helpers_have_no_console_and_anonymous_visitors_go_to_the_login(app, db, console, make_application):
    application = make_application("received")
    urls = ["/admin/applications/", "/admin/applications/overdue", f"/admin/applications/{application.number}",
            "/admin/applications/departments/"]
    helper, _ = console("helper1", role="helper")
    anonymous = app.test_client()
    for url in urls:
        assert helper.get(url).status_code == 403
        response = anonymous.get(url)
        assert response.status_code == 302 and "/admin/login" in response.headers["Location"]


def test_the_menu_links_applications_for_everyone_and_department_clients_for_admins(db, staff_console, console):
    admin_client, _ = staff_console
    page = admin_client.get("/admin/").text
    assert 'href="/admin/applications/"' in page and 'href="/admin/applications/departments/"' in page
    manager, _ = console("li", role="site_manager")
    page = manager.get("/admin/").text
    assert 'href="/admin/applications/"' in page and 'href="/admin/applications/departments/"' not in page

# ===================================================================== words

def test_the_pages_speak_english_too(db, staff_console, make_application):
    client, _ = staff_console
    application = make_application("special_procedure")
    agency, _ = departments.create_client(db.session, name="Jiujiang Police", actor="system")
    db.session.commit()
    pages = [client.get(url + "?lang=en").text for url in (
        "/admin/applications/", f"/admin/applications/{application.number}", "/admin/applications/overdue",
        "/admin/applications/departments/", f"/admin/applications/departments/{agency.id}")]
    assert "Special procedure" in pages[0] and "Clock stopped" in pages[0]
    assert "Timeline" in pages[1] and "Clock stops" in pages[1]
    assert "Overdue applications" in pages[2]
    assert "Department clients" in pages[3] and "Recently refused pushes" in pages[4]
    for page in pages:
        assert not re.search(r">\s*admin\.(applications|departments)\.", page), "a key shown instead of words"


def test_every_console_key_of_these_pages_is_in_the_catalogue_in_both_languages():
    known = catalogue()
    used = set()
    for path in [*TEMPLATES.glob("applications*.html"), *TEMPLATES.glob("department_client*.html")]:
        used |= set(re.findall(r"t\('((?:admin\.(?:applications|departments)|application|deadline)\.[a-z_.]+[a-z_])'(?!\s*~)",
                               path.read_text(encoding="utf-8")))
    used |= {"admin.applications.nav", "admin.departments.nav"}
    used |= {f"admin.applications.sms_state.{s}" for s in
             ("pending", "sending", "sent", "failed", "rejected", "uncertain", "skipped")}
    used |= {f"admin.applications.pause.{k}" for k in ("special_procedure", "supplement")}
    used |= {f"admin.departments.done.{k}" for k in ("disable", "enable")}
    used |= {f"admin.departments.issued.{k}" for k in ("created", "rotated")}
    used |= {f"admin.departments.reason.{r}" for r in ("unknown_application", "illegal_transition", "out_of_order",
                                                       "event_id_reused", "changed_meanwhile", "number_taken")}
    assert len(used) > 60
    missing = [(key, lang) for key in sorted(used) for lang in LANGUAGES if not known.get(key, {}).get(lang)]
    assert not missing

# ===================================================================== masking free text

@pytest.mark.parametrize("text, shown", [
    (f"身份证 {APPLICANT_ID} 已核验", "身份证 1101**********002X 已核验"),
    (f"id={APPLICANT_ID.lower()}", "id=1101**********002X"),
    ("旧证 110105491231002", "旧证 1101*******1002"),
    (f"call +86 {APPLICANT_PHONE} or +86{APPLICANT_PHONE}", "call 138****8000 or 138****8000"),
    (f"手机{APPLICANT_PHONE}。", "手机138****8000。"),
    ("event evt-20260302-0001, 2 attempts", "event evt-20260302-0001, 2 attempts"),  # no personal number
    ("order 123456789012345678901", "order 123456789012345678901"),  # longer runs are something else
    ("JX-2026-000001", "JX-2026-000001"),
])
def test_free_text_is_shown_with_id_and_mobile_numbers_masked(text, shown):
    assert admin.scrub(text) == shown


def test_event_details_are_shown_as_pairs_with_lists_joined_and_numbers_masked():
    assert admin.detail_pairs({"missing": ["户口簿原件", "照片"], "contact": APPLICANT_PHONE, "count": 2}) == [
        ("missing", "户口簿原件、照片"), ("contact", "138****8000"), ("count", "2")]
    assert admin.detail_pairs(None) == []


# ===================================================================== resending a text

def _notice(db, application, state, attempts=1):
    notice = Notification(event_id=application.events[-1].id, application_id=application.id, template="accepted",
                          state=state, attempts=attempts, created_at=utcnow(), last_error="FailedOperation.InsufficientBalanceInSmsPackage")
    db.session.add(notice)
    db.session.commit()
    return notice


def _resend(client, csrf, number, notice_id):
    return client.post(f"/admin/applications/{number}/notices/{notice_id}/resend", data={"csrf_token": csrf})


@pytest.mark.parametrize("state", ["rejected", "uncertain"])
def test_an_admin_sends_a_rejected_or_uncertain_text_again_once(db, staff_console, make_application, state):
    from kiosk_backend.applications import jobs
    from kiosk_backend.core import outbox
    from kiosk_backend.core.sms import LoggingSender

    client, csrf = staff_console
    application = make_application("accepted", number="JX-2026-000410")
    notice = _notice(db, application, state)
    page = client.get(f"/admin/applications/{application.number}").text
    assert "重发短信" in page and (("可能收到两条" in page) == (state == "uncertain"))
    response = _resend(client, csrf, application.number, notice.id)
    assert response.status_code == 303
    assert "已重新排队发送" in client.get(response.headers["Location"]).text
    db.session.expire_all()
    again = db.session.get(Notification, notice.id)
    assert (again.state, again.last_error) == ("pending", None)
    messages = db.session.scalars(sa.select(outbox.OutboxMessage).where(
        outbox.OutboxMessage.key == f"event:{notice.event_id}:resend:1")).all()
    assert [m.payload for m in messages] == [{"event_id": notice.event_id}]
    assert _resend(client, csrf, application.number, notice.id).status_code == 409  # already waiting
    audit = db.session.scalars(sa.select(AuditEntry).where(AuditEntry.action == "applications.sms_resend")).all()
    assert [(a.target, a.details["was"]) for a in audit] == [(application.number, state)]
    sender = LoggingSender()
    assert jobs.notify(db.session, notice.event_id, sender=sender) == "sent"
    assert len(sender.sent) == 1 and db.session.get(Notification, notice.id).attempts == 2


@pytest.mark.parametrize("state", ["sent", "pending", "skipped"])
def test_a_text_that_was_sent_or_still_waits_is_not_sent_again(db, staff_console, make_application, state):
    client, csrf = staff_console
    application = make_application("accepted")
    notice = _notice(db, application, state)
    assert _resend(client, csrf, application.number, notice.id).status_code == 409
    db.session.expire_all()
    assert db.session.get(Notification, notice.id).state == state


def test_a_notice_of_another_application_is_not_found(db, staff_console, make_application):
    client, csrf = staff_console
    notice = _notice(db, make_application("accepted"), "rejected")
    other = make_application("accepted")
    assert _resend(client, csrf, other.number, notice.id).status_code == 404
    assert _resend(client, csrf, "JX-NO-SUCH-1", notice.id).status_code == 404
