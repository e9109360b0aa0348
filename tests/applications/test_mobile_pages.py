"""Phone pages of applications (applications/mobile.py): my applications, and the page the
kiosk receipt's QR code opens — the applicant's own view when logged in, else the second
factor (last 4 characters of the ID or mobile number) with the same answer for a wrong one
and an unknown number."""
from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest

from kiosk_backend.identity import mobile as identity_mobile

from ..conftest import APPLICANT_ID, APPLICANT_PHONE
from .test_api import B_ITEM, b_marks, make_b, token_for

SAME_ORIGIN = {"Origin": "http://localhost"}
START = datetime(2026, 3, 2, 1, 0, tzinfo=UTC)
DAY = timedelta(days=1)


def logged_in(app, db, resident):
    """A phone with ``resident``'s session (as /m/login sets it)."""
    client = app.test_client()
    client.set_cookie(identity_mobile.COOKIE, token_for(db, resident, "mobile"), path=identity_mobile.COOKIE_PATH)
    return client


@pytest.fixture
def phone_a(app, db, make_resident):
    return logged_in(app, db, make_resident("张三", id_number=APPLICANT_ID))


def post_tail(client, number, tail, *, form_number=None, headers=SAME_ORIGIN):
    data = {"tail": tail, **({"number": number if form_number is None else form_number} if form_number != "" else {})}
    return client.post(f"/m/applications/{number}", data=data, headers=headers)


def without(html: str, number: str) -> str:
    """The page with the number it was asked about blanked out, to compare pages about two numbers."""
    return html.replace(number, "<number>")


def numbers_listed(html: str) -> list[str]:
    return re.findall(r'data-number="([^"]+)"', html)


# ---------------------------------------------------------------- my applications

def test_my_applications_need_a_login_and_come_back_after_it(client):
    answer = client.get("/m/applications?page=2")
    assert answer.status_code == 302
    assert answer.headers["Location"] == "/m/login?next=/m/applications?page%3D2"


def test_my_applications_are_mine_newest_first_with_state_symbol_deadline_and_next_step(phone_a, make_application):
    make_application("received", number="AAAA00000001", received_at=START)
    make_application("supplement_requested", number="AAAA00000002", received_at=START + 2 * DAY)
    make_application("not_accepted", number="AAAA00000003", received_at=START + DAY)
    make_b(make_application, received_at=START + 4 * DAY)
    page = phone_a.get("/m/applications")
    assert page.status_code == 200 and page.headers["Cache-Control"] == "no-store"
    html = page.text
    assert numbers_listed(html) == ["AAAA00000002", "AAAA00000003", "AAAA00000001"]
    assert '<span class="app-symbol" aria-hidden="true">⚠</span>' in html and "待补正" in html
    assert 'class="app-state tone-refused" data-state="not_accepted"' in html and "不予受理" in html
    assert "受理后开始计时" in html and "下一步：请补交以下材料" in html
    assert 'href="/m/applications/AAAA00000002"' in html
    assert "已登录：张*" in html
    assert not any(mark in html for mark in b_marks("BBBB00000001"))


def test_my_applications_in_english(phone_a, make_application):
    make_application("supplement_requested", number="AAAA00000001")
    html = phone_a.get("/m/applications?lang=en").text
    assert "My applications" in html and "Documents missing" in html and "Hand in the documents listed below" in html


def test_the_phone_list_pages_by_20(phone_a, make_application):
    for n in range(21):
        make_application(number=f"AAAA{n:08d}", received_at=START + n * timedelta(hours=1))
    first = phone_a.get("/m/applications").text
    assert len(numbers_listed(first)) == 20 and numbers_listed(first)[0] == "AAAA00000020"
    assert 'rel="next" href="/m/applications?page=2"' in first and 'rel="prev"' not in first
    second = phone_a.get("/m/applications?page=2").text
    assert numbers_listed(second) == ["AAAA00000000"] and 'rel="prev" href="/m/applications?page=1"' in second
    assert 'rel="next"' not in second
    assert phone_a.get("/m/applications?page=-5").status_code == 200  # out of range: the first page


def test_a_resident_without_an_id_number_sees_an_empty_list_and_why(app, db, make_resident, make_application):
    make_application(number="AAAA00000001")
    html = logged_in(app, db, make_resident("张三")).get("/m/applications").text
    assert 'id="app-notice"' in html and "您的账号没有关联身份证号" in html
    assert numbers_listed(html) == [] and "AAAA00000001" not in html


def test_a_resident_without_applications_is_told_so(phone_a):
    html = phone_a.get("/m/applications").text
    assert 'id="app-empty"' in html and "您名下暂无办件" in html and 'id="app-notice"' not in html


# ---------------------------------------------------------------- one application, logged in

def test_my_own_application_shows_state_deadline_next_step_details_and_timeline(phone_a, make_application):
    make_application("supplement_requested", number="AAAA00000001", handling_region="440500")
    page = phone_a.get("/m/applications/aaaa00000001")
    assert page.status_code == 200 and page.headers["Cache-Control"] == "no-store"
    html = page.text
    assert 'id="application" data-number="AAAA00000001"' in html
    assert 'data-state="supplement_requested"' in html and "⚠" in html and "待补正" in html
    assert "请补交以下材料" in html and "<li>户口簿原件</li>" in html
    assert 'data-deadline="not_started"' in html and "受理后开始计时" in html
    assert "1101**********002X" in html and "138****8000" in html and "张*" in html
    assert APPLICANT_ID not in html and APPLICANT_PHONE not in html and "张三" not in html
    assert "本地办理（跨省通办）" in html and "20 个工作日" in html
    assert html.index('data-action="receive"') < html.index('data-action="request_supplement"')
    assert 'href="/m/applications"' in html  # back to my list


def test_a_finished_application_says_so_with_a_tick(phone_a, make_application):
    make_application("delivered", number="AAAA00000001")
    html = phone_a.get("/m/applications/AAAA00000001").text
    assert 'class="app-state tone-done"' in html and "✓" in html and "结果已送达" in html
    assert 'data-deadline="finished"' in html and "承诺办结日期" in html and "2026-03-31" in html
    assert "窗口领取" in html and "请对本次服务作出评价" in html


def test_a_not_accepted_application_is_not_said_to_be_decided(phone_a, make_application):
    make_application("not_accepted", number="AAAA00000001")
    for page in ("/m/applications", "/m/applications/AAAA00000001"):
        html = phone_a.get(page + "?lang=zh-CN").text
        assert "不予受理" in html and "未受理，不计办理时限" in html and "已办结" not in html, page
        english = phone_a.get(page + "?lang=en").text
        assert "Not accepted: no time limit" in english and "Decided" not in english, page
    assert 'data-deadline="not_accepted"' in phone_a.get("/m/applications/AAAA00000001").text


# ---------------------------------------------------------------- the QR code's page without the applicant

def test_not_logged_in_the_qr_page_asks_for_the_last_4_or_a_login(client, make_application):
    make_application(number="AAAA00000001")
    page = client.get("/m/applications/AAAA00000001")
    assert page.status_code == 200 and page.headers["Cache-Control"] == "no-store"
    html = page.text
    assert 'id="app-verify"' in html and 'action="/m/applications/AAAA00000001"' in html
    assert '<input type="hidden" name="number" value="AAAA00000001">' in html
    assert 'name="tail"' in html and 'href="/m/login?next=/m/applications/AAAA00000001"' in html
    assert "居民身份证换领" not in html and "张*" not in html


def test_someone_elses_and_unknown_numbers_get_the_same_page(app, db, phone_a, client, make_application):
    make_b(make_application)
    for phone in (phone_a, client):
        theirs = phone.get("/m/applications/BBBB00000001")
        unknown = phone.get("/m/applications/NOSUCH000001")
        assert theirs.status_code == unknown.status_code == 200
        assert without(theirs.text, "BBBB00000001") == without(unknown.text, "NOSUCH000001")
        assert not any(mark in theirs.text for mark in b_marks("BBBB00000001")[1:])


def test_a_text_that_is_no_application_number_is_not_found(client):
    for path in ("/m/applications/ab", "/m/applications/%E7%99%BD%E7%99%BD%E7%99%BD%E7%99%BD%E7%99%BD%E7%99%BD"):
        assert client.get(path).status_code == 404
        assert post_tail(client, path.rsplit("/", 1)[1], "002X", form_number="ab").status_code == 404


@pytest.mark.parametrize("tail", ["002X", "002x", "8000"])
def test_the_last_4_of_the_id_or_phone_show_the_masked_application(client, make_b_and_a, tail):
    answer = post_tail(client, "AAAA00000001", tail)
    assert answer.status_code == 200 and answer.headers["Cache-Control"] == "no-store"
    html = answer.text
    assert 'id="application" data-number="AAAA00000001"' in html and "办理中" in html
    assert "1101**********002X" in html and "张*" in html and APPLICANT_ID not in html and "张三" not in html
    assert "为保护个人信息" in html and 'href="/m/applications"' not in html  # not "my" list: nobody logged in


@pytest.fixture
def make_b_and_a(make_application):
    make_application("in_progress", number="AAAA00000001")
    make_b(make_application)


def test_a_wrong_tail_and_an_unknown_number_get_the_same_404_page(client, make_b_and_a):
    wrong = post_tail(client, "BBBB00000001", "002X")  # A's tail on B's application
    unknown = post_tail(client, "NOSUCH000001", "0014")  # B's tail on nobody's number
    assert wrong.status_code == unknown.status_code == 404
    assert without(wrong.text, "BBBB00000001") == without(unknown.text, "NOSUCH000001")
    assert 'id="app-verify-error"' in wrong.text and "没有找到与该编号和验证信息相符的办件" in wrong.text
    assert not any(mark in wrong.text for mark in b_marks("BBBB00000001")[1:])


@pytest.mark.parametrize("tail", ["02X", "002Y", "", "0" * 50])
def test_a_malformed_tail_is_a_422_on_the_same_page_naming_it(client, make_b_and_a, tail):
    answer = post_tail(client, "AAAA00000001", tail)
    assert answer.status_code == 422
    assert 'id="app-verify"' in answer.text and 'aria-invalid="true"' in answer.text
    assert "tail" in answer.text and 'id="application"' not in answer.text


@pytest.mark.parametrize("form_number", ["", "BBBB00000001"])
def test_the_form_must_carry_the_pages_number_which_the_rate_limit_counts(client, make_b_and_a, form_number):
    answer = post_tail(client, "AAAA00000001", "002X", form_number=form_number)
    assert answer.status_code == 422 and 'id="application"' not in answer.text
    assert 'id="app-verify-error"' in answer.text and B_ITEM not in answer.text


def test_a_form_posted_from_another_site_is_refused(client, make_b_and_a):
    answer = post_tail(client, "AAAA00000001", "002X", headers={"Origin": "https://evil.example.com"})
    assert answer.status_code == 403 and 'id="application"' not in answer.text


def test_a_logged_in_phone_can_still_use_the_second_factor_for_someone_else(phone_a, make_b_and_a):
    page = phone_a.get("/m/applications/BBBB00000001")
    assert 'id="app-verify"' in page.text and 'href="/m/applications"' in page.text  # back to mine, no login link
    shown = post_tail(phone_a, "BBBB00000001", "0014")
    assert shown.status_code == 200 and "欧**娜" in shown.text and B_ITEM in shown.text


def test_the_phone_page_shares_the_lookup_budget_of_one_number(make_app, make_application):
    app = make_app(KIOSK_RATELIMIT_LOOKUP_NUMBER="3/minute")
    with app.app_context():
        make_application(number="AAAA00000001")
        make_application(number="AAAA00000002")
        api = app.test_client().post("/api/v1/application-lookup", json={"number": "AAAA00000001", "tail": "0000"})
        assert api.status_code == 404
        phones = []
        for n in range(3):
            phone = app.test_client()
            phone.environ_base["REMOTE_ADDR"] = f"10.0.1.{n + 1}"
            phones.append(post_tail(phone, "AAAA00000001", "002X" if n == 2 else f"000{n}"))
        assert [r.status_code for r in phones] == [404, 404, 429]
        assert 'id="application"' not in phones[-1].text and phones[-1].headers["Retry-After"].isdigit()
        assert post_tail(app.test_client(), "AAAA00000002", "002X").status_code == 200


def test_lookups_from_one_address_are_limited_across_the_phone_page_and_the_api(make_app, make_application):
    """KIOSK_RATELIMIT_LOOKUP_IP counts the address whatever the number and the surface: the
    phone page and the mini-app API spend one budget; another address has its own."""
    app = make_app(KIOSK_RATELIMIT_LOOKUP_IP="3/minute")
    with app.app_context():
        numbers = [make_application(number=f"AAAA0000000{n}").number for n in range(5)]

        def from_address(address):
            client = app.test_client()
            client.environ_base["REMOTE_ADDR"] = address
            return client

        assert post_tail(from_address("10.0.3.1"), numbers[0], "0000").status_code == 404
        api = from_address("10.0.3.1")
        assert api.post("/api/v1/application-lookup", json={"number": numbers[1], "tail": "0000"}).status_code == 404
        assert post_tail(from_address("10.0.3.1"), numbers[2], "0000").status_code == 404
        refused_api = api.post("/api/v1/application-lookup", json={"number": numbers[3], "tail": "002X"})
        assert refused_api.status_code == 429 and refused_api.json["code"] == 429
        refused_page = post_tail(from_address("10.0.3.1"), numbers[3], "002X")
        assert refused_page.status_code == 429 and 'id="application"' not in refused_page.text
        assert refused_page.headers["Retry-After"].isdigit()
        assert from_address("10.0.3.1").get(f"/m/applications/{numbers[3]}").status_code == 200  # the form is free
        assert post_tail(from_address("10.0.3.2"), numbers[3], "002X").status_code == 200


def test_an_overdue_application_says_by_how_many_days(phone_a, make_application):
    from kiosk_backend.core.clock import utcnow
    from kiosk_backend.core.workdays import Calendar

    make_application("in_progress", number="AAAA00000001", received_at=utcnow() - 12 * DAY, promise_days=1)
    html = phone_a.get("/m/applications/AAAA00000001").text
    years = Calendar.shipped().years()
    if not {(utcnow() - 14 * DAY).year, (utcnow() + DAY).year} <= set(years):  # beyond the shipped data: said so
        assert 'data-deadline="unknown"' in html
        return
    assert 'class="app-deadline overdue" data-deadline="overdue"' in html and "⏰" in html
    assert re.search(r"已超期 \d+ 天", html)
