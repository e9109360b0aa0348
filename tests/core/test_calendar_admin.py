"""The console's calendar pages through the test client (core/calendar_admin.py): the
overview and its notices, a year's month grids, editing and adding years by form and by
JSON, export, revert, roles and CSRF."""
from __future__ import annotations

import io
import json
import re
from datetime import date

import pytest
import sqlalchemy as sa

from kiosk_backend.core import audit, calendar_store
from kiosk_backend.core.calendar_admin import day_lines, form_data, holiday_summary, month_grids
from kiosk_backend.core.calendar_store import CalendarYear
from kiosk_backend.core.clock import LOCAL_TZ, utcnow
from kiosk_backend.core.errors import Invalid
from kiosk_backend.core.i18n import catalogue
from kiosk_backend.core.workdays import DATA_DIR, CalendarYearMissing
from tests.core.test_calendar_store import year_2027

D = date


def form_2027(**changes) -> dict:
    """The console's form for the made-up 2027 of test_calendar_store."""
    form = {"year": "2027", "title": "测试用 2027 年放假安排", "number": "测试〔2026〕1号", "published": "2026-11-10",
            "url": "", "days_off": "2027-01-01~2027-01-03 元旦\n\n2027-02-06 至 2027-02-14 春节\n",
            "workdays": "2027-02-20 春节"}
    form.update(changes)
    return form


def stored(db) -> list[int]:
    db.session.expire_all()
    return list(db.session.scalars(sa.select(CalendarYear.year).order_by(CalendarYear.year)))


def field_error(html: str, field: str) -> str | None:
    """The error shown right after the field's input or text area, if any."""
    found = re.search(rf'id="{field}"[^>]*>(?:[^<]*</textarea>)?<span class="field-error" role="alert"[^>]*>(.*?)</span>',
                      html, re.S)
    return found.group(1) if found else None


@pytest.fixture
def admin(console):
    return console("admin")


@pytest.fixture
def manager(console, make_site):
    return console("manager", role="site_manager", sites=[make_site()])


# ---- pages ---------------------------------------------------------------------------------

def test_the_overview_lists_the_years_with_their_source_and_the_services_notices(app, db, admin):
    client, _csrf = admin
    db.session.add(CalendarYear(year=2030, data={"year": 2030}, revision="r" * 32,  # a broken row: an error notice
                                updated_at=utcnow(), updated_by="sql"))
    db.session.commit()
    page = client.get("/admin/calendar/").text
    assert "国务院办公厅关于2026年部分节假日安排的通知" in page and "国办发明电〔2025〕7号" in page
    assert 'href="/admin/calendar/2026.json"' in page and 'href="/admin/calendar/new"' in page
    today = utcnow().astimezone(LOCAL_TZ).date()
    overview = calendar_store.years_overview(db.session, today=today,
                                             warn_from_month=app.config["KIOSK_CALENDAR_WARN_MONTH"])
    assert ("error", "calendar.notice.broken", 2030) in [(n.level, n.key, n.year) for n in overview.notices]
    for notice in overview.notices:
        text = catalogue()[notice.key]["zh-CN"].format(year=notice.year)
        shown = re.search(rf'<p class="calendar-notice notice-{notice.level}" role="(\w+)">(?:(?!</p>).)*{re.escape(text)}',
                          page, re.S)
        assert shown and shown.group(1) == ("status" if notice.level == "info" else "alert"), notice
    english = client.get("/admin/calendar/?lang=en").text
    assert "The stored data of 2030 no longer passes the checks" in english


def test_a_year_page_shows_days_off_and_make_up_workdays_apart(app, db, admin):
    client, _csrf = admin
    page = client.get("/admin/calendar/2026").text
    # 15 Feb 2026 (Sunday) is off for 春节; Saturday 14 Feb is worked: colour class, mark and name.
    assert re.search(r'<td class="off" title="春节"><span class="num">15</span><span class="mark">休</span>'
                     r'<span class="visually-hidden">春节</span></td>', page)
    assert re.search(r'<td class="work" title="春节"><span class="num">14</span><span class="mark">班</span>', page)
    assert '<td class="weekend"><span class="num">7</span></td>' in page  # an ordinary Saturday
    assert page.count("<caption>") == 12 and page.count('class="off"') == 33 and page.count('class="work"') == 6
    assert "2026-02-15 ~ 2026-02-23" in page  # the holidays' summary
    english = client.get("/admin/calendar/2026?lang=en").text
    assert "<caption>February</caption>" in english and '<span class="mark">off</span>' in english


def test_a_year_without_data_says_so_and_offers_to_enter_it(app, db, admin):
    client, _csrf = admin
    page = client.get("/admin/calendar/2031").text
    assert "2031年没有放假安排数据" in page and 'href="/admin/calendar/2031/edit"' in page
    assert "<caption>" not in page and "2031.json" not in page
    assert client.get("/admin/calendar/2031.json").status_code == 404
    assert client.get("/admin/calendar/1900").status_code == 404  # no year a calendar may hold


def test_export_gives_the_year_in_the_shipped_files_shape(app, db, admin):
    client, _csrf = admin
    response = client.get("/admin/calendar/2026.json")
    assert response.status_code == 200 and response.mimetype == "application/json"
    assert response.headers["Content-Disposition"] == 'attachment; filename="2026.json"'
    assert json.loads(response.text) == json.loads((DATA_DIR / "2026.json").read_text(encoding="utf-8"))


# ---- editing by form -------------------------------------------------------------------------

def test_the_edit_form_is_filled_with_the_year_as_runs_of_days(app, db, admin):
    client, _csrf = admin
    page = client.get("/admin/calendar/2026/edit").text
    assert "2026-02-15~2026-02-23 春节\n2026-04-04~2026-04-06 清明节" in page
    assert "2026-01-04 元旦\n2026-02-14 春节\n2026-02-28 春节" in page
    assert 'value="国办发明电〔2025〕7号"' in page and 'value="2025-11-04"' in page


def test_an_admin_edits_a_year_and_is_sent_to_it(app, db, admin):
    client, csrf = admin
    form = {**form_2027(), "title": "国务院办公厅关于2026年部分节假日安排的通知", "number": "国办发明电〔2025〕7号",
            "published": "2025-11-04", "url": "https://www.gov.cn/zhengce/content/202511/content_7047090.htm",
            "days_off": day_lines(calendar_store.shipped_calendar().arrangement(2026).days_off) + "\n2026-10-08 国庆节",
            "workdays": "2026-01-04 元旦\n2026-02-14 春节\n2026-02-28 春节\n2026-05-09 劳动节\n2026-09-20 国庆节"}
    response = client.post("/admin/calendar/2026/edit", data={**form, "csrf_token": csrf})
    assert response.status_code == 303 and response.headers["Location"].endswith("/admin/calendar/2026?saved=1")
    assert "2026年放假安排已保存" in client.get(response.headers["Location"]).text
    assert stored(db) == [2026]
    cal = calendar_store.calendar(db.session)
    assert not cal.is_workday(D(2026, 10, 8)) and not cal.is_workday(D(2026, 10, 10))  # 10 Oct no longer worked
    [entry] = audit.search(db.session, action="calendar.save_year")
    assert entry.actor == "admin"
    assert entry.details["days_off_added"] == ["2026-10-08"] and entry.details["workdays_removed"] == ["2026-10-10"]
    page = client.get("/admin/calendar/2026").text
    assert "已修改" in page and "2026-10-08" in page.split("与随系统发布的数据相比")[1]


def test_saving_the_form_unchanged_stores_nothing(app, db, admin):
    client, csrf = admin
    page = client.get("/admin/calendar/2026/edit").text
    values = dict(re.findall(r'<input id="(\w+)" name="\w+"[^>]*value="([^"]*)"', page))
    values |= dict(re.findall(r'<textarea id="(\w+)"[^>]*>([^<]*)</textarea>', page))
    response = client.post("/admin/calendar/2026/edit", data={**values, "csrf_token": csrf})
    assert response.status_code == 303
    assert stored(db) == [] and audit.search(db.session, action="calendar.") == []


def test_an_admin_adds_a_missing_year_and_deadlines_reach_it(app, db, admin):
    client, csrf = admin
    with pytest.raises(CalendarYearMissing):
        calendar_store.calendar(db.session).add_workdays(D(2026, 12, 30), 2)
    response = client.post("/admin/calendar/new", data={**form_2027(), "csrf_token": csrf})
    assert response.status_code == 303 and response.headers["Location"].endswith("/admin/calendar/2027?saved=1")
    assert calendar_store.calendar(db.session).add_workdays(D(2026, 12, 30), 2) == D(2027, 1, 4)
    assert calendar_store.year_status(db.session, 2027).arrangement == calendar_store.check_year(year_2027())


def test_the_add_form_refuses_a_year_that_has_data(app, db, admin):
    client, csrf = admin
    response = client.post("/admin/calendar/new", data={**form_2027(year="2026", days_off="2026-01-01 元旦",
                                                                     workdays=""), "csrf_token": csrf})
    assert response.status_code == 409
    assert "2026 年已有放假安排" in field_error(response.text, "year")
    assert stored(db) == []


@pytest.mark.parametrize(("changes", "field", "zh", "en"), [
    ({"days_off": "2027-01-01 元旦\n元旦 2027-01-02"}, "days_off", "第 2 行：请以日期开头", "line 2: begin with a date"),
    ({"days_off": "2027-01-01 元旦\n\n2027-02-30 春节"}, "days_off", "第 3 行：没有这一天", "line 3: no such date"),
    ({"days_off": "2027-01-01 元旦\n2027-01-02"}, "days_off", "第 2 行：2027-01-02 未写节日名称", "line 2: the holiday of 2027-01-02 is not named"),
    ({"days_off": "2027-01-01 元旦\n2028-01-02 元旦"}, "days_off", "第 2 行：2028-01-02 不在 2027 年内", "line 2: 2028-01-02 is not in 2027"),
    ({"days_off": "2027-01-01~2027-03-01 长假"}, "days_off", "第 1 行：", "line 1: 2027-01-01~2027-03-01 is not a run"),
    ({"days_off": "2027-01-01~2027-01-03 元旦\n2027-01-03 元旦"}, "days_off", "第 2 行：2027-01-03 重复列出", "line 2: 2027-01-03 listed twice"),
    ({"workdays": "2027-02-20 春节\n2027-02-22 春节"}, "workdays", "第 2 行：2027-02-22 是工作日", "line 2: 2027-02-22 is a weekday"),
    ({"workdays": "2027-02-06"}, "workdays", "第 1 行：2027-02-06 同时被列为放假日", "line 1: 2027-02-06 is also a day off"),
    ({"days_off": "2027-01-01 元旦\n2027-01-02 元\x00旦"}, "days_off", "第 2 行：含有无法保存的字符", "line 2: contains a character"),
    ({"days_off": "2027-01-01~2027-01-31 x\n" * 12}, "days_off", "第 12 行：总天数超过 366 天", "line 12: more than 366 days"),
    ({"title": " "}, "title", "必填", "Required"),
    ({"published": ""}, "published", "必填", "Required"),
    ({"published": "soon"}, "published", "不是 YYYY-MM-DD 格式的日期", "not a YYYY-MM-DD date"),
    ({"url": "javascript:alert(1)"}, "url", "应为 http:// 或 https:// 开头的网址", "must be an http:// or https:// address"),
    ({"year": "27"}, "year", "请填写四位数的年份", "A year of four digits"),
])
def test_a_bad_form_is_shown_again_with_the_mistake_at_its_field_and_nothing_saved(app, db, admin, changes, field,
                                                                                    zh, en):
    client, csrf = admin
    data = {**form_2027(**changes), "csrf_token": csrf}
    response = client.post("/admin/calendar/new", data=data)
    assert response.status_code == 422
    shown = field_error(response.text, field)
    assert shown and zh in shown and " / " not in shown, shown  # in the console's language only
    assert changes[field].strip() in response.text or not changes[field].strip()  # what was typed is kept
    english = client.post("/admin/calendar/new?lang=en", data=data)
    assert en in field_error(english.text, field)
    assert stored(db) == [] and audit.search(db.session, action="calendar.") == []


def test_the_form_reads_the_date_formats_people_type():
    data = form_data({**form_2027(), "days_off": "2027/1/1 元旦\n2027年1月2日元旦\n2027.1.3~2027.1.3 元旦",
                      "workdays": "", "published": "2026/11/10"}, year=2027)
    assert data["days_off"] == [{"date": f"2027-01-0{d}", "name": "元旦"} for d in (1, 2, 3)]
    assert data["source"]["published"] == "2026-11-10" and data["workdays"] == [] and "url" not in data["source"]
    with pytest.raises(Invalid) as raised:
        form_data({**form_2027(), "year": "abcd", "title": ""})
    assert set(raised.value.errors) == {"year", "title"}  # every field's format at once


def test_the_forms_lines_read_back_to_the_same_year():
    for year in (2025, 2026):
        arrangement = calendar_store.shipped_calendar().arrangement(year)
        source = arrangement.source
        form = {"title": source.title, "number": source.number, "published": source.published.isoformat(),
                "url": source.url, "days_off": day_lines(arrangement.days_off), "workdays": day_lines(arrangement.workdays)}
        assert calendar_store.check_year(form_data(form, year=year)) == arrangement


def test_month_grids_and_the_holiday_summary():
    arrangement = calendar_store.shipped_calendar().arrangement(2025)
    months = month_grids(arrangement)
    assert [m.month for m in months] == list(range(1, 13))
    january = [day for week in months[0].weeks for day in week if day is not None]
    assert len(january) == 31 and all(len(week) == 7 for week in months[0].weeks)
    assert months[0].weeks[0][:2] == [None, None]  # 1 Jan 2025 is a Wednesday
    by_day = {day.day: day for day in january}
    assert (by_day[D(2025, 1, 26)].kind, by_day[D(2025, 1, 26)].mark) == ("work", "calendar.mark.work")
    assert (by_day[D(2025, 1, 28)].kind, by_day[D(2025, 1, 28)].name) == ("off", "春节")
    assert by_day[D(2025, 1, 25)].kind == "weekend" and by_day[D(2025, 1, 24)].mark is None
    summary = {h.name: h for h in holiday_summary(arrangement)}
    assert summary["春节"].runs == [(D(2025, 1, 28), D(2025, 2, 4))] and summary["春节"].days == 8
    assert summary["春节"].workdays == [D(2025, 1, 26), D(2025, 2, 8)]
    assert summary["国庆节、中秋节"].workdays == [D(2025, 9, 28), D(2025, 10, 11)]
    assert month_grids(None) == [] and holiday_summary(None) == []
    assert all(catalogue().get(f"calendar.month.{m}", {}).get(lang) for m in range(1, 13) for lang in ("zh-CN", "en"))


# ---- JSON ------------------------------------------------------------------------------------

def test_an_admin_pastes_or_uploads_a_year_as_json(app, db, admin):
    client, csrf = admin
    pasted = client.post("/admin/calendar/import", data={"json": json.dumps(year_2027(), ensure_ascii=False),
                                                         "csrf_token": csrf})
    assert pasted.status_code == 303 and pasted.headers["Location"].endswith("/admin/calendar/2027?saved=1")
    exported = client.get("/admin/calendar/2027.json").data
    upload = (io.BytesIO(exported.replace("测试用".encode(), "再次测试".encode())), "2027.json")
    uploaded = client.post("/admin/calendar/import", data={"file": upload, "json": "", "csrf_token": csrf},
                           content_type="multipart/form-data")
    assert uploaded.status_code == 303
    assert calendar_store.year_status(db.session, 2027).arrangement.source.title == "再次测试 2027 年放假安排"
    assert len(audit.search(db.session, action="calendar.save_year")) == 2


@pytest.mark.parametrize(("text", "zh"), [
    ("", "请粘贴 JSON 或选择文件"),
    ("{not json", "不是有效的 JSON"),
    ("[" * 100 + "]" * 100, "嵌套层数过多"),
    (json.dumps(year_2027(workdays=[{"date": "2027-02-22"}])), "workdays[0].date：2027-02-22 是工作日"),
    (json.dumps(year_2027(source={"title": "t"})), "source.number：缺少此项"),
    (json.dumps({"year": 2027, "source": {"title": "t", "number": "n", "published": "2026-11-01"}}), "days_off：缺少此项"),
])
def test_bad_json_is_shown_at_the_text_area_and_nothing_saved(app, db, admin, text, zh):
    client, csrf = admin
    response = client.post("/admin/calendar/import", data={"json": text, "csrf_token": csrf})
    assert response.status_code == 422
    assert zh in field_error(response.text, "json")
    assert stored(db) == []


def test_an_upload_that_is_not_utf8_or_too_large_is_refused(app, db, admin):
    client, csrf = admin
    for content, zh in ((b"\xff\xfe{}", "不是 UTF-8"), (b" " * (256 * 1024 + 1), "超过 256 KB")):
        response = client.post("/admin/calendar/import", data={"file": (io.BytesIO(content), "x.json"), "csrf_token": csrf},
                               content_type="multipart/form-data")
        assert response.status_code == 422 and zh in field_error(response.text, "json")
    assert stored(db) == []


# ---- revert ----------------------------------------------------------------------------------

def test_revert_brings_the_shipped_year_back_and_an_added_year_needs_the_confirm_box(app, db, admin):
    client, csrf = admin
    calendar_store.save_year(db.session, {**year_2027(), "year": 2026, "days_off": [{"date": "2026-01-01", "name": "元旦"}],
                                          "workdays": []}, actor="admin")
    calendar_store.save_year(db.session, year_2027(), actor="admin")
    db.session.commit()
    page = client.get("/admin/calendar/2026").text
    assert 'action="/admin/calendar/2026/revert"' in page and 'name="confirm"' not in page
    response = client.post("/admin/calendar/2026/revert", data={"csrf_token": csrf})
    assert response.status_code == 303 and response.headers["Location"].endswith("/admin/calendar/2026")
    assert stored(db) == [2027]
    page = client.get("/admin/calendar/2027").text
    assert re.search(r'<input type="checkbox" name="confirm" value="1" required>', page)
    assert client.post("/admin/calendar/2027/revert", data={"csrf_token": csrf}).status_code == 422
    assert stored(db) == [2027]
    response = client.post("/admin/calendar/2027/revert", data={"csrf_token": csrf, "confirm": "1"})
    assert response.status_code == 303 and response.headers["Location"].endswith("/admin/calendar/")
    assert stored(db) == []
    assert [e.action for e in audit.search(db.session, action="calendar.")][:2] == ["calendar.delete_year",
                                                                                  "calendar.revert_year"]


# ---- roles and CSRF --------------------------------------------------------------------------

def test_a_site_manager_sees_the_calendar_but_cannot_change_it(app, db, manager):
    client, csrf = manager
    page = client.get("/admin/calendar/").text
    assert 'href="/admin/calendar/"' in page  # in the console's navigation
    assert "/edit" not in page and "/admin/calendar/new" not in page and "/admin/calendar/import" not in page
    year_page = client.get("/admin/calendar/2026")
    assert year_page.status_code == 200 and "/revert" not in year_page.text and "/edit" not in year_page.text
    assert client.get("/admin/calendar/2026.json").status_code == 200
    for url in ("/admin/calendar/2026/edit", "/admin/calendar/new", "/admin/calendar/import"):
        assert client.get(url).status_code == 403
    assert client.post("/admin/calendar/new", data={**form_2027(), "csrf_token": csrf}).status_code == 403
    assert client.post("/admin/calendar/import", data={"json": json.dumps(year_2027()), "csrf_token": csrf}).status_code == 403
    assert client.post("/admin/calendar/2026/revert", data={"csrf_token": csrf}).status_code == 403
    assert stored(db) == [] and audit.search(db.session, action="calendar.") == []


def test_anonymous_visitors_are_sent_to_the_login(app, db):
    client = app.test_client()
    for url in ("/admin/calendar/", "/admin/calendar/2026", "/admin/calendar/2026.json", "/admin/calendar/2026/edit"):
        response = client.get(url)
        assert response.status_code == 302 and "/admin/login" in response.headers["Location"]
    response = client.post("/admin/calendar/new", data=form_2027())
    assert response.status_code == 302 and "/admin/login" in response.headers["Location"]
    assert stored(db) == []


@pytest.mark.parametrize("token", [None, "forged"])
def test_a_form_without_the_right_csrf_token_is_refused(app, db, admin, token):
    client, _csrf = admin
    extra = {} if token is None else {"csrf_token": token}
    assert client.post("/admin/calendar/new", data={**form_2027(), **extra}).status_code == 400
    assert client.post("/admin/calendar/import", data={"json": json.dumps(year_2027()), **extra}).status_code == 400
    assert stored(db) == []


def test_every_calendar_form_carries_the_csrf_token(app, db, admin):
    client, csrf = admin
    calendar_store.save_year(db.session, year_2027(), actor="admin")
    db.session.commit()
    for url in ("/admin/calendar/2027", "/admin/calendar/2027/edit", "/admin/calendar/new", "/admin/calendar/import"):
        forms = re.findall(r'<form method="post".*?</form>', client.get(url).text, re.S)
        forms = [form for form in forms if "/logout" not in form]
        assert forms and all(f'name="csrf_token" value="{csrf}"' in form for form in forms), url
