"""The kiosk's progress screens (applications/kiosk.py): the lookup by number and last 4
characters (one answer for unknown and not yours, rate-limited per number and per kiosk,
malformed input named by field), the result (masked, no-store, English and elder mode), its
view token, my applications for a resident logged in at the kiosk, and the receipt's print flow."""
from __future__ import annotations

import io
import re
from datetime import UTC, datetime, timedelta

import pytest
from PIL import Image

from kiosk_backend.applications import kiosk as progress_kiosk
from kiosk_backend.core.clock import utcnow
from kiosk_backend.extensions import limiter

from ..conftest import APPLICANT_ID, APPLICANT_PHONE
from ..identity.test_kiosk import log_in

OTHER_ID = "110105200002290160"  # a valid ID number that is not the applicant's
LOOKUP = "/kiosk/progress"


def lookup(client, number, tail, **args):
    query = "?" + "&".join(f"{k}={v}" for k, v in args.items()) if args else ""
    return client.post(LOOKUP + query, data={"number": number, "tail": tail})


def token_of(html: str) -> str:
    match = re.search(r'<form id="progress-reshow"[^>]*>\s*<input type="hidden" name="t" value="([^"]+)"', html)
    assert match, "no view token on the page"
    return match.group(1)


def main_of(html: str) -> str:
    return html[html.index("<main"):html.index("</main>")]


def headers_of(response) -> list:
    return sorted((k, v) for k, v in response.headers.items() if k not in ("X-RateLimit-Remaining", "X-RateLimit-Reset"))


def without_clock(html: str) -> str:
    """The page without what changes from one second to the next (a session's time left)."""
    return re.sub(r'data-session-ends-in="\d+"', "", html)


def assert_nothing_of(application, html: str) -> None:
    """None of the application's data is on the page (neither masked nor in clear)."""
    for secret in (application.item_name, application.applicant_name_masked, application.applicant_id_masked,
                   application.applicant_phone_masked, APPLICANT_ID, APPLICANT_PHONE, "张三", "progress-reshow"):
        assert secret not in html, secret


# ---------------------------------------------------------------- the lookup screen

def test_home_has_a_tile_to_the_progress_screen(kiosk_client):
    page = kiosk_client.get("/kiosk/").text
    assert 'href="/kiosk/progress"' in page and "办件进度" in page and "输入办件编号查办理进度" in page


def test_the_lookup_screen_asks_for_the_number_and_the_last_4_on_its_own_keyboard(kiosk_client):
    response = kiosk_client.get(LOOKUP)
    page = response.text
    assert response.status_code == 200 and response.headers["Cache-Control"] == "no-store"
    assert 'method="post" action="/kiosk/progress"' in page and 'autocomplete="off"' in page
    assert re.search(r'name="number"[^>]*maxlength="40" inputmode="none"', page)
    assert re.search(r'name="tail" value="" maxlength="4" inputmode="none"', page)
    # Digits and capitals, each key served disabled until kiosk/progress.js has wired it.
    keys = re.findall(r'<button type="button" class="key" data-key="(.)" disabled>', page)
    assert sorted(keys) == sorted("1234567890QWERTYUIOPASDFGHJKLZXCVBNM-")
    assert "我的办件" not in page  # nobody is logged in


# ---------------------------------------------------------------- the result

def test_the_id_tail_shows_the_masked_summary_and_the_timeline_newest_first(kiosk_client, make_application):
    application = make_application("in_progress")
    response = lookup(kiosk_client, application.number, "002x")  # lower case is fine
    page = main_of(response.text)
    assert response.status_code == 200 and response.headers["Cache-Control"] == "no-store"
    assert "居民身份证换领" in page and application.number in page
    assert re.search(r'id="progress-state"><span class="state-symbol" aria-hidden="true">⏳</span> 办理中', page)
    assert "正在办理，无需操作" in page  # the next step
    assert "九江市政务服务中心" in page and "九江市公安局" in page and "本地办理" in page
    assert "张*  1101**********002X" in page
    assert APPLICANT_ID not in response.text and APPLICANT_PHONE not in response.text and "张三" not in response.text
    timeline = page[page.index('id="progress-timeline"'):]
    assert timeline.index("开始办理") < timeline.index("受理") < timeline.index("接件")
    assert '<a class="btn primary" id="progress-print" href="/kiosk/progress/receipt?t=' in page
    assert '<a class="btn" href="/kiosk/">返回首页</a>' in page


def test_the_phone_tail_works_too_and_the_number_may_have_blanks_and_small_letters(kiosk_client, make_application):
    make_application("accepted", number="JX-2026-ABC123")
    response = lookup(kiosk_client, " jx-2026-abc 123 ", APPLICANT_PHONE[-4:])
    assert response.status_code == 200 and "JX-2026-ABC123" in response.text and "已受理" in response.text
    assert "张*  1101**********002X" in response.text  # the masked ID number when there is one
    no_id = make_application("accepted", number="JX-2026-ABC124", id_number=None)
    page = lookup(kiosk_client, no_id.number, "8000").text
    assert "张*  138****8000" in page and APPLICANT_PHONE not in page


def test_the_deadline_reads_in_words_and_a_supplement_lists_what_is_missing(kiosk_client, make_application):
    waiting = make_application("supplement_requested")
    page = lookup(kiosk_client, waiting.number, "002X").text
    assert "待补正" in page and "⚠" in page and "请补交以下材料" in page
    assert re.search(r'id="progress-missing"[^>]*>\s*<li>户口簿原件</li>', page)
    paused = make_application("special_procedure")
    page = lookup(kiosk_client, paused.number, "002X").text
    assert "计时暂停" in page and "⏸" in page and "原因：现场核查" in page
    late = make_application("accepted", received_at=datetime(2025, 1, 6, 1, 0, tzinfo=UTC), promise_days=5)
    page = lookup(kiosk_client, late.number, "002X").text
    assert re.search(r'class="progress-deadline overdue"[^>]*><span aria-hidden="true">⚠ </span>2025-01-14 前办结 · 已超期 \d+ 天',
                     page)


def test_a_cross_province_application_shows_the_badge(kiosk_client, make_application):
    application = make_application("accepted", mode="proxy", handling_org="广州市公安局", handling_region="440100")
    page = lookup(kiosk_client, application.number, "002X").text
    assert "异地代收代办" in page and 'id="progress-cross">跨省通办</span>' in page
    plain = make_application("accepted")
    assert 'id="progress-cross"' not in lookup(kiosk_client, plain.number, "002X").text


def test_the_result_in_english_and_in_elder_mode(kiosk_client, make_application):
    application = make_application("in_progress")
    page = lookup(kiosk_client, application.number, "002X", lang="en").text
    assert '<html lang="en">' in page
    for words in ("Application progress", "Being handled", "Next step", "Being handled; nothing to do",
                  "What has happened (newest first)", "Handling started", "Print a receipt", "days overdue"):
        assert words in page, words
    assert "办理中" not in page
    page = lookup(kiosk_client, application.number, "002X", elder=1).text
    assert re.search(r'<body class="kiosk [^"]*\belder\b', page)


def test_the_view_token_shows_the_result_again_in_another_language(kiosk_client, make_application):
    application = make_application("accepted")
    token = token_of(lookup(kiosk_client, application.number, "002X").text)
    again = kiosk_client.post("/kiosk/progress/result?lang=en", data={"t": token})
    assert again.status_code == 200 and "Accepted" in again.text and application.number in again.text
    assert again.headers["Cache-Control"] == "no-store"


def test_a_view_token_opens_nothing_on_another_kiosk_after_its_time_or_altered(app, kiosk_client, make_kiosk,
                                                                               make_application):
    application = make_application("accepted")
    token = token_of(lookup(kiosk_client, application.number, "002X").text)
    _, credential = make_kiosk()
    other = app.test_client()
    other.set_cookie("kiosk_credential", credential)
    refused = other.post("/kiosk/progress/result", data={"t": token})
    assert refused.status_code == 410 and "请重新查询" in refused.text
    assert_nothing_of(application, main_of(refused.text))

    kiosk_id = kiosk_client.kiosk.id
    old = progress_kiosk.issue_token(application.number, kiosk_id=kiosk_id, session_id=None,
                                     now=lambda: utcnow() - timedelta(seconds=progress_kiosk.TOKEN_SECONDS + 1))
    recent = progress_kiosk.issue_token(application.number, kiosk_id=kiosk_id, session_id=None,
                                        now=lambda: utcnow() - timedelta(seconds=60))
    assert kiosk_client.post("/kiosk/progress/result", data={"t": old}).status_code == 410
    assert kiosk_client.post("/kiosk/progress/result", data={"t": recent}).status_code == 200
    payload, signature = token.split(".")
    altered = ("f" if payload[0] != "f" else "e") + payload[1:] + "." + signature
    for bad in (altered, "", "x.y", payload):
        assert kiosk_client.post("/kiosk/progress/result", data={"t": bad}).status_code == 410
    assert kiosk_client.get(f"/kiosk/progress/receipt.png?t={old}&paper=thermal80").status_code == 404


def test_a_token_made_during_a_login_dies_with_the_login(db, kiosk_client, make_resident, make_application):
    application = make_application("accepted", id_number=OTHER_ID, phone="13800000003")
    log_in(db, kiosk_client, make_resident(id_number=APPLICANT_ID))
    token = token_of(lookup(kiosk_client, application.number, "0160").text)
    assert kiosk_client.post("/kiosk/progress/result", data={"t": token}).status_code == 200
    kiosk_client.post("/kiosk/logout")
    assert kiosk_client.post("/kiosk/progress/result", data={"t": token}).status_code == 410


# ---------------------------------------------------------------- one answer for unknown and not yours

def test_a_wrong_tail_and_an_unknown_number_get_the_same_page(kiosk_client, make_application):
    application = make_application("in_progress", number="TEST00000042")
    wrong_tail = lookup(kiosk_client, application.number, "1234")
    unknown = lookup(kiosk_client, "TEST00000043", "002X")
    assert wrong_tail.status_code == unknown.status_code == 404
    assert wrong_tail.text.replace("TEST00000042", "N") == unknown.text.replace("TEST00000043", "N")
    # The same headers too, but for the rate limiter's count of this address's lookups.
    assert headers_of(wrong_tail) == headers_of(unknown)
    page = main_of(wrong_tail.text)
    assert "没有找到与该编号和验证信息相符的办件" in page
    assert_nothing_of(application, page)
    assert 'name="tail" value=""' in page  # the characters tried are not shown again
    # The right characters of another application do not open this one either.
    other = make_application("in_progress", number="TEST00000044", id_number=OTHER_ID, phone="13800000003")
    crossed = lookup(kiosk_client, application.number, "0160")
    assert crossed.status_code == 404 and crossed.text.replace("TEST00000042", "N") == unknown.text.replace("TEST00000043", "N")
    assert other.number not in crossed.text


# ---------------------------------------------------------------- bad input

@pytest.mark.parametrize("number, tail, fields", [
    ("AB", "12", {"number", "tail"}),
    ("", "", {"number", "tail"}),
    ("TEST00000001", "ABCD", {"tail"}),
    ("TEST00000001", "12345", {"tail"}),
    ("<script>alert(1)</script>", "002X", {"number"}),
    ("办件" * 10, "002X", {"number"}),
    ("A" * 41, "002X", {"number"}),
])
def test_malformed_input_gets_the_form_again_naming_the_field_and_nothing_else(kiosk_client, make_application,
                                                                                number, tail, fields):
    application = make_application("in_progress")
    response = lookup(kiosk_client, number, tail)
    page = main_of(response.text)
    assert response.status_code == 422
    assert "请按提示改正下面标出的内容" in page
    assert ('id="progress-number-error"' in page) == ("number" in fields)
    assert ('id="progress-tail-error"' in page) == ("tail" in fields)
    if "number" in fields:
        assert "办件编号应为 6 到 40 位字母或数字" in page
    if "tail" in fields:
        assert "请输入 4 位：数字，或末位为 X" in page
    assert "<script>alert" not in response.text
    assert_nothing_of(application, page)


def test_malformed_input_is_named_in_english_too(kiosk_client):
    page = lookup(kiosk_client, "AB", "12", lang="en").text
    assert "The application number has 6 to 40 letters or digits" in page and "Enter 4 characters" in page


# ---------------------------------------------------------------- rate limit

@pytest.fixture(scope="module")
def strict_app(make_app):
    """An app where one application number may be looked up 3 times a minute."""
    return make_app(KIOSK_RATELIMIT_LOOKUP_NUMBER="3/minute")


def test_lookups_of_one_number_are_limited_with_a_calm_screen(strict_app, make_kiosk, make_application):
    with strict_app.app_context():
        limiter.reset()
        _, credential = make_kiosk()
        guessed = make_application("accepted", number="LIMIT0000001")
        other = make_application("accepted", number="LIMIT0000002")
        client = strict_app.test_client()
        client.set_cookie("kiosk_credential", credential)
        for tail in ("0001", "0002", "0003"):
            assert lookup(client, guessed.number, tail).status_code == 404
        refused = lookup(client, guessed.number.lower(), "002X")  # even the right answer, in any spelling
        assert refused.status_code == 429
        assert refused.headers["Retry-After"].isdigit() and 0 <= int(refused.headers["Retry-After"]) <= 60
        page = main_of(refused.text)
        assert "查询次数太多了，请稍后再试" in page and "请 1 分钟后再试" in page
        assert 'href="/kiosk/help"' in page
        assert_nothing_of(guessed, page)
        # Another number is another budget; the form itself is always there.
        assert lookup(client, other.number, "002X").status_code == 200
        assert client.get(LOOKUP).status_code == 200
        english = lookup(client, guessed.number, "002X", lang="en")
        assert english.status_code == 429 and "Please try again in 1 minute," in english.text
        limiter.reset()


def test_lookups_from_one_kiosk_are_limited_whatever_the_number_or_address(make_app, make_kiosk, make_application):
    """KIOSK_RATELIMIT_LOOKUP_KIOSK counts the kiosk (its credential), not the number or the
    address: guessing many numbers' last 4 at one kiosk meets one budget; other kiosks and
    phones at the same address have their own."""
    app = make_app(KIOSK_RATELIMIT_LOOKUP_KIOSK="3/minute")
    with app.app_context():
        _, credential = make_kiosk()
        _, other_credential = make_kiosk()
        applications = [make_application("accepted", number=f"KIOSK000000{n}") for n in range(5)]
        numbers = [application.number for application in applications]
        kiosk = app.test_client()
        kiosk.set_cookie("kiosk_credential", credential)
        for n in range(3):
            kiosk.environ_base["REMOTE_ADDR"] = f"10.0.2.{n + 1}"
            assert lookup(kiosk, numbers[n], "0000").status_code == 404
        refused = lookup(kiosk, numbers[3], "002X")  # another number, the right last 4
        assert refused.status_code == 429 and refused.headers["Retry-After"].isdigit()
        assert "查询次数太多了，请稍后再试" in main_of(refused.text)
        assert_nothing_of(applications[3], main_of(refused.text))
        other = app.test_client()
        other.set_cookie("kiosk_credential", other_credential)
        other.environ_base["REMOTE_ADDR"] = "10.0.2.3"  # the same address as the refused kiosk
        assert lookup(other, numbers[3], "002X").status_code == 200
        phone = app.test_client()
        phone.environ_base["REMOTE_ADDR"] = "10.0.2.3"
        assert phone.post("/api/v1/application-lookup", json={"number": numbers[4], "tail": "002X"}).status_code == 200
        limiter.reset()


# ---------------------------------------------------------------- my applications

def test_a_logged_in_resident_sees_their_own_applications_newest_first(db, kiosk_client, make_resident,
                                                                       make_application):
    older = make_application("accepted", item_name="户口迁移", received_at=datetime(2026, 2, 2, 1, 0, tzinfo=UTC))
    newer = make_application("supplement_requested", item_name="居民身份证换领")
    theirs = make_application("in_progress", item_name="结婚登记", id_number=OTHER_ID, phone="13800000003")
    log_in(db, kiosk_client, make_resident(id_number=APPLICANT_ID))
    page = main_of(kiosk_client.get(LOOKUP).text)
    mine = page[page.index('id="progress-mine-list"'):page.index('id="progress-lookup-title"')]
    assert mine.index("居民身份证换领") < mine.index("户口迁移")
    assert "待补正" in mine and "请补交以下材料" in mine and "已受理" in mine
    assert f'href="/kiosk/progress/{newer.number}"' in mine and "结婚登记" not in page
    assert "查询其他办件" in page and 'action="/kiosk/progress"' in page  # the lookup is still there

    own = kiosk_client.get(f"/kiosk/progress/{older.number}")
    assert own.status_code == 200 and "户口迁移" in own.text and "张*  1101**********002X" in own.text
    assert own.headers["Cache-Control"] == "no-store"
    foreign = kiosk_client.get(f"/kiosk/progress/{theirs.number}")
    unknown = kiosk_client.get("/kiosk/progress/NOSUCH000001")
    malformed = kiosk_client.get("/kiosk/progress/x")
    assert foreign.status_code == unknown.status_code == malformed.status_code == 404
    assert without_clock(foreign.text) == without_clock(unknown.text) == without_clock(malformed.text)
    assert "结婚登记" not in foreign.text and "没有找到与该编号和验证信息相符的办件" in foreign.text


def test_my_applications_page_by_page(db, kiosk_client, make_resident, make_application):
    for day in range(12):
        make_application("received", received_at=datetime(2026, 1, 5 + day, 1, 0, tzinfo=UTC),
                         item_name=f"事项{day:02d}")
    log_in(db, kiosk_client, make_resident(id_number=APPLICANT_ID))
    first = main_of(kiosk_client.get(LOOKUP).text)
    assert first.count('class="progress-card"') == 3 and 'href="/kiosk/progress/mine"' in first
    page1 = main_of(kiosk_client.get("/kiosk/progress/mine").text)
    page2 = main_of(kiosk_client.get("/kiosk/progress/mine?page=2").text)
    assert page1.count('class="progress-card"') == 10 and page2.count('class="progress-card"') == 2
    assert page1.index("事项11") < page1.index("事项02") and "事项01" in page2 and "事项00" in page2
    assert "page=2" in page1 and "page=1" in page2


def test_without_a_login_there_are_no_own_applications(kiosk_client, make_application):
    application = make_application("accepted")
    page = kiosk_client.get("/kiosk/progress/mine")
    assert page.status_code == 200 and "我的办件" not in page.text and 'name="number"' in page.text
    detail = kiosk_client.get(f"/kiosk/progress/{application.number}")
    assert detail.status_code == 404 and "没有找到" in detail.text
    assert_nothing_of(application, main_of(detail.text))


def test_a_resident_without_applications_is_told_so(db, kiosk_client, make_resident):
    log_in(db, kiosk_client, make_resident(id_number=APPLICANT_ID))
    assert "您名下暂时没有办件" in kiosk_client.get(LOOKUP).text


# ---------------------------------------------------------------- the receipt

@pytest.fixture
def kiosk_of(app, make_kiosk):
    def _client(profile):
        _kiosk, credential = make_kiosk(profile=profile)
        client = app.test_client()
        client.set_cookie("kiosk_credential", credential)
        return client
    return _client


def test_the_receipt_prints_like_the_guide_once_per_tap(kiosk_client, make_application):
    application = make_application("in_progress")
    token = token_of(lookup(kiosk_client, application.number, "002X").text)
    screen = kiosk_client.get(f"/kiosk/progress/receipt?t={token}&paper=thermal80")
    page = screen.text
    assert screen.status_code == 200 and 'id="print-status"' in page and 'id="printout"' in page
    assert f"/kiosk/progress/receipt.png?t={token}&amp;paper=thermal80" in page
    assert f'data-job-url="/kiosk/progress/receipt/print?t={token}&amp;paper=thermal80"' in page
    assert 'action="/kiosk/progress/result"' in page  # 返回 posts the token: no step back in history

    png = kiosk_client.get(f"/kiosk/progress/receipt.png?t={token}&paper=thermal80")
    assert png.mimetype == "image/png" and png.headers["Cache-Control"] == "no-store"
    assert Image.open(io.BytesIO(png.data)).width == 576

    job = f"/kiosk/progress/receipt/print?t={token}&paper=thermal80"
    assert kiosk_client.post(job).status_code == 202
    twice = kiosk_client.post(job)
    assert twice.status_code == 409 and twice.headers["Retry-After"] == "3"


def test_the_receipt_needs_the_view_token_not_the_number(kiosk_client, make_application):
    application = make_application("in_progress")
    for path in ("/kiosk/progress/receipt.png?paper=thermal80", "/kiosk/progress/qr.png",
                 f"/kiosk/progress/receipt.png?paper=thermal80&number={application.number}"):
        assert kiosk_client.get(path).status_code == 404, path
    screen = kiosk_client.get("/kiosk/progress/receipt?paper=thermal80")
    assert screen.status_code == 410 and "请重新查询" in screen.text
    assert kiosk_client.post("/kiosk/progress/receipt/print?paper=thermal80").status_code == 410


def test_a_bank_kiosk_prints_the_receipt_on_a4(kiosk_of, make_application):
    bank = kiosk_of("bank-lobby-landscape")
    application = make_application("concluded")
    page = lookup(bank, application.number, "002X").text
    token = token_of(page)
    assert f"receipt?t={token}&amp;paper=a4" in page
    assert "✓</span> 已办结（准予）" in page and 'id="progress-deadline"' not in page  # finished: no deadline left
    png = Image.open(io.BytesIO(bank.get(f"/kiosk/progress/receipt.png?t={token}&paper=a4").data))
    assert png.width > 576 and png.height > png.width
    pdf = bank.get(f"/kiosk/progress/receipt.pdf?t={token}")
    assert pdf.mimetype == "application/pdf" and pdf.data.startswith(b"%PDF")
    assert bank.get(f"/kiosk/progress/receipt.png?t={token}&paper=thermal80").status_code == 404
    assert bank.get(f"/kiosk/progress/receipt.png?t={token}&paper=a3").status_code == 400


def test_the_tablet_without_a_printer_offers_the_phone_code_instead(kiosk_of, make_application):
    tablet = kiosk_of("community-tablet")
    application = make_application("accepted")
    page = lookup(tablet, application.number, "002X").text
    token = token_of(page)
    assert 'id="progress-print"' not in page and f"/kiosk/progress/qr.png?t={token}" in page
    screen = tablet.get(f"/kiosk/progress/receipt?t={token}")
    assert screen.status_code == 404 and "本机不能打印，请扫码带走" in screen.text
    qr = tablet.get(f"/kiosk/progress/qr.png?t={token}")
    assert qr.mimetype == "image/png" and Image.open(io.BytesIO(qr.data)).size == (360, 360)


def test_a_logged_in_resident_prints_their_own_receipt_and_the_print_is_counted(db, kiosk_client, make_resident,
                                                                                make_application):
    from kiosk_backend.fleet.models import UsageEvent

    application = make_application("concluded")
    log_in(db, kiosk_client, make_resident(id_number=APPLICANT_ID))
    token = token_of(kiosk_client.get(f"/kiosk/progress/{application.number}").text)
    # The session's activity is written by this request too: the count goes in the same
    # transaction (a second writer would wait for the first on SQLite).
    job = kiosk_client.post(f"/kiosk/progress/receipt/print?t={token}&paper=thermal80")
    assert job.status_code == 202  # not 503 after the busy timeout
    db.session.expire_all()
    assert [e.kind for e in db.session.scalars(db.select(UsageEvent))] == ["print"]
