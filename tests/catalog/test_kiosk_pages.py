"""Kiosk and phone pages of the catalog, rendered by the server."""
from __future__ import annotations

import io

import pytest
from PIL import Image

from tests.conftest import item_row

GUIDE = item_row(
    task_code="ID1", task_name="居民身份证申领", popularity=900, theme_natural=["证件办理"], bundles=["出生一件事"],
    accept_condition="具有本市常住户口的居民。", by_law="《中华人民共和国居民身份证法》第十条",
    handle_flow="1. 取号\n2、采集指纹\n第三步 领取", transact_addr="江州市民生服务中心一楼", transact_time="周一至周五",
    materials=[{"name": "居民户口簿", "necessity": "必要", "type": "原件", "form": "纸质", "paper_copies": 1}],
    faq=[{"question": "可以代办吗？", "answer": "首次申领须本人到场。"}], is_fee=True,
    fees=[{"name": "工本费", "standard": "20元/证"}], link_way="0710-12345", supervise_way="12345",
    promise_day=20, promise_type="工作日", anticipate_day=60, anticipate_type="工作日", handle_area="跨省",
)


@pytest.fixture
def catalog(make_items):
    make_items(GUIDE, item_row(task_code="HK1", task_name="户口迁移（迁入）", popularity=10, theme_natural=["户籍办理"]))


def text(response):
    return response.get_data(as_text=True)


def test_home_shows_tiles_and_popular_items(kiosk_client, catalog):
    page = text(kiosk_client.get("/kiosk/"))
    for label in ("查找事项", "按主题找", "一件事一次办", "按部门找"):
        assert label in page
    assert page.index("居民身份证申领") < page.index("户口迁移（迁入）")


def test_the_root_sends_people_to_the_kiosk_home(kiosk_client):
    response = kiosk_client.get("/")
    assert response.status_code == 302 and response.headers["Location"].endswith("/kiosk/")


def test_search_page_renders_results_without_javascript(kiosk_client, catalog):
    page = text(kiosk_client.get("/kiosk/search?q=sfz"))
    assert "找到 1 个事项" in page and "/kiosk/items/ID1" in page


def test_search_as_you_type_gets_only_the_results(kiosk_client, catalog):
    page = text(kiosk_client.get("/kiosk/search?q=hk&partial=1"))
    assert "<html" not in page and "/kiosk/items/HK1" in page and 'data-status="找到 ' in page


def test_an_empty_search_result_offers_popular_items_and_a_human(kiosk_client, catalog):
    page = text(kiosk_client.get("/kiosk/search?q=火星移民"))
    assert "没有找到相关事项" in page and "人工帮助" in page and "/kiosk/items/ID1" in page


def test_the_guide_shows_sections_in_the_national_order(kiosk_client, catalog):
    page = text(kiosk_client.get("/kiosk/items/ID1"))
    order = ["基本信息", "办理地点和时间", "申请条件", "申请材料", "办理流程", "办理时限", "收费标准", "设定依据", "常见问题", "咨询和投诉"]
    positions = [page.index(f">{heading}</h2>") for heading in order]
    assert positions == sorted(positions)
    assert 'type="checkbox"' in page and "跨省通办" in page
    assert "<li>采集指纹</li>" in page and "<li>领取</li>" in page  # numbers in the data are not doubled


def test_an_unknown_item_gets_a_friendly_404_page(kiosk_client, catalog):
    response = kiosk_client.get("/kiosk/items/NOPE")
    assert response.status_code == 404 and response.mimetype == "text/html"
    assert "没有找到该事项" in text(response) and "回到首页" in text(response)


def test_a_thermal_printout_is_576_pixels_wide(kiosk_client, catalog):
    response = kiosk_client.get("/kiosk/items/ID1/print.png?paper=thermal80")
    image = Image.open(io.BytesIO(response.data))
    assert response.mimetype == "image/png" and image.width == 576 and image.height > 800


@pytest.fixture
def kiosk_of(app, make_kiosk):
    """A client that is a kiosk of the given device profile."""
    def _client(profile):
        _kiosk, credential = make_kiosk(profile=profile)
        client = app.test_client()
        client.set_cookie("kiosk_credential", credential)
        return client
    return _client


def test_an_a4_printout_is_a_pdf(kiosk_of, catalog):
    response = kiosk_of("bank-lobby-landscape").get("/kiosk/items/ID1/print.pdf")
    assert response.mimetype == "application/pdf" and response.data.startswith(b"%PDF")


def test_a_kiosk_prints_only_on_its_own_paper(kiosk_client, kiosk_of, catalog):
    assert kiosk_client.get("/kiosk/items/ID1/print.png?paper=a4").status_code == 404
    assert kiosk_client.get("/kiosk/items/ID1/print.pdf").status_code == 404
    bank = kiosk_of("bank-lobby-landscape")
    assert bank.get("/kiosk/items/ID1/print.png?paper=a4").status_code == 200
    assert bank.get("/kiosk/items/ID1/print.png?paper=thermal80").status_code == 404


def test_features_a_profile_lacks_are_absent_not_hidden(kiosk_of, catalog):
    tablet = kiosk_of("community-tablet")
    assert tablet.get("/kiosk/departments").status_code == 404
    assert tablet.get("/kiosk/items/ID1/print?paper=thermal80").status_code == 404
    assert "按部门找" not in tablet.get("/kiosk/").get_data(as_text=True)
    assert tablet.get("/kiosk/themes").status_code == 200


def test_a_chinese_only_kiosk_stays_chinese(kiosk_of, catalog):
    page = kiosk_of("community-tablet").get("/kiosk/?lang=en").get_data(as_text=True)
    assert "查找事项" in page and "Find a service" not in page


def test_the_profile_font_scale_and_elder_default_apply(kiosk_client, kiosk_of, catalog):
    assert 'class="kiosk fs-12' in kiosk_client.get("/kiosk/").get_data(as_text=True)
    assert "elder" in body_classes(kiosk_of("community-tablet").get("/kiosk/"))


def test_an_unknown_paper_is_refused(kiosk_client, catalog):
    assert kiosk_client.get("/kiosk/items/ID1/print.png?paper=a3").status_code == 400


def test_the_print_page_holds_the_printout(kiosk_client, catalog):
    page = text(kiosk_client.get("/kiosk/items/ID1/print?paper=thermal80"))
    assert 'id="printout"' in page and "print.png?paper=thermal80" in page


def test_the_printed_qr_code_points_to_the_phone_page(app, kiosk_client, catalog, monkeypatch):
    from kiosk_backend.catalog import kiosk as kiosk_routes

    seen = []
    original = kiosk_routes.guide_blocks
    monkeypatch.setattr(kiosk_routes, "guide_blocks", lambda guide, phone_url: seen.append(phone_url) or original(guide, phone_url=phone_url))
    app.config["KIOSK_PUBLIC_URL"] = "https://zwfw.example.gov.cn/"
    try:
        kiosk_client.get("/kiosk/items/ID1/print.png")
    finally:
        app.config["KIOSK_PUBLIC_URL"] = ""
    assert seen == ["https://zwfw.example.gov.cn/m/items/ID1"]


def test_the_guide_qr_code_is_a_png(kiosk_client, catalog):
    image = Image.open(io.BytesIO(kiosk_client.get("/kiosk/items/ID1/qr.png").data))
    assert image.size == (360, 360)


def test_the_phone_page_shows_the_same_guide(kiosk_client, catalog):
    page = text(kiosk_client.get("/m/items/ID1"))
    assert "居民身份证申领" in page and "居民户口簿" in page and "mobile.css" in page


@pytest.mark.parametrize("path", ["/kiosk/themes", "/kiosk/themes/证件办理", "/kiosk/departments",
                                  "/kiosk/departments/江州市公安局", "/kiosk/bundles", "/kiosk/help", "/kiosk/offline"])
def test_browsing_pages_render(kiosk_client, catalog, path):
    assert kiosk_client.get(path).status_code == 200


def test_browsing_an_unknown_theme_is_404(kiosk_client, catalog):
    assert kiosk_client.get("/kiosk/themes/不存在").status_code == 404


def test_a_bundle_lists_its_items(kiosk_client, catalog):
    bundle_id = kiosk_client.get("/api/v1/catalog/bundles").get_json()[0]["id"]
    assert "居民身份证申领" in text(kiosk_client.get(f"/kiosk/bundles/{bundle_id}"))


def test_english_is_one_tap_away_and_sticks(kiosk_client, catalog):
    response = kiosk_client.get("/kiosk/?lang=en")
    assert "Find a service" in text(response) and "lang=en" in response.headers["Set-Cookie"]
    assert "Find a service" in text(kiosk_client.get("/kiosk/"))


def body_classes(response) -> list[str]:
    return text(response).split('<body class="', 1)[1].split('"', 1)[0].split()


def test_elder_mode_is_remembered(kiosk_client, catalog):
    kiosk_client.get("/kiosk/?elder=1")
    assert "elder" in body_classes(kiosk_client.get("/kiosk/search"))
    kiosk_client.get("/kiosk/?elder=0")
    assert "elder" not in body_classes(kiosk_client.get("/kiosk/search"))


def test_kiosk_pages_are_never_cached_and_carry_a_strict_csp(kiosk_client, catalog):
    response = kiosk_client.get("/kiosk/items/ID1")
    assert response.headers["Cache-Control"] == "no-store"
    csp = response.headers["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp
    assert response.headers["X-Frame-Options"] == "DENY"


def test_pages_load_nothing_from_other_hosts(kiosk_client, catalog):
    for path in ("/kiosk/", "/kiosk/search?q=sfz", "/kiosk/items/ID1", "/m/items/ID1"):
        page = text(kiosk_client.get(path))
        assert "http://" not in page.replace("http://localhost", "") and "https://" not in page
        assert "<script>" not in page and " style=" not in page


def test_the_service_worker_is_served_for_the_kiosk_scope(kiosk_client):
    response = kiosk_client.get("/kiosk/sw.js")
    assert response.status_code == 200 and response.headers["Service-Worker-Allowed"] == "/kiosk/"
    assert "/kiosk/offline" in text(response)
    assert kiosk_client.get("/kiosk/ping").status_code == 204


def test_the_search_status_names_the_words_searched_not_the_rewrites(kiosk_client, make_items):
    make_items(item_row(task_code="SB1", task_name="社会保险登记"))
    page = text(kiosk_client.get("/kiosk/search?q=社保"))
    assert "已按“社会保险”" in page and "→" not in page
    # Only readings that found something are named (社会保障 is in no item of this catalog).
    assert "Searched as “社会保险”" in text(kiosk_client.get("/kiosk/search?q=社保&lang=en"))


def test_referrers_stay_on_the_host(kiosk_client):
    assert kiosk_client.get("/kiosk/").headers["Referrer-Policy"] == "same-origin"


# ---------------------------------------------------------------- issue 7, section 2

def html_lang(response) -> str:
    return text(response).split('<html lang="', 1)[1].split('"', 1)[0]


def test_the_browser_language_does_not_choose_the_kiosk_language(kiosk_client, catalog):
    # Stock Chromium sends en-US: the kiosk still opens in its profile's default language.
    response = kiosk_client.get("/kiosk/", headers={"Accept-Language": "en-US,en;q=0.9"})
    assert html_lang(response) == "zh-CN" and "查找事项" in text(response)


def test_a_residents_choice_wins_over_the_browser_until_the_visit_ends(kiosk_client, catalog):
    assert html_lang(kiosk_client.get("/kiosk/search?lang=en", headers={"Accept-Language": "zh-CN"})) == "en"
    assert html_lang(kiosk_client.get("/kiosk/items/ID1", headers={"Accept-Language": "zh-CN"})) == "en"


def test_the_end_of_a_visit_forgets_language_and_elder_mode(kiosk_client, catalog):
    kiosk_client.get("/kiosk/search?lang=en&elder=1")
    assert html_lang(kiosk_client.get("/kiosk/")) == "en"

    response = kiosk_client.get("/kiosk/reset")
    assert response.status_code == 303 and response.headers["Location"].endswith("/kiosk/")
    cleared = response.headers.getlist("Set-Cookie")
    assert any(c.startswith("lang=;") for c in cleared) and any(c.startswith("elder=;") for c in cleared)
    assert not any(c.startswith("kiosk_credential=") for c in cleared)  # the kiosk stays enrolled
    assert response.headers["Clear-Site-Data"] == '"cache"'

    home = kiosk_client.get("/kiosk/", headers={"Accept-Language": "en-US"})
    assert home.status_code == 200 and html_lang(home) == "zh-CN" and "elder" not in body_classes(home)


def test_the_end_of_a_visit_brings_back_the_profiles_elder_default(kiosk_of, catalog):
    tablet = kiosk_of("community-tablet")  # elder mode by default
    assert "elder" not in body_classes(tablet.get("/kiosk/?elder=0"))
    tablet.get("/kiosk/reset")
    assert "elder" in body_classes(tablet.get("/kiosk/"))


def test_home_counts_down_only_after_a_resident_changed_language_or_text_size(kiosk_client, catalog):
    assert 'data-idle-active="0"' in text(kiosk_client.get("/kiosk/"))
    assert 'data-idle-active="1"' in text(kiosk_client.get("/kiosk/?lang=en"))
    assert 'data-idle-active="1"' in text(kiosk_client.get("/kiosk/"))  # the choice is still there
    kiosk_client.get("/kiosk/reset")
    assert 'data-idle-active="0"' in text(kiosk_client.get("/kiosk/"))


def test_the_offline_page_carries_the_kiosk_number_and_font_scale(app, kiosk_client, catalog):
    # (First: the test's app context keeps g from one request to the next.)
    anonymous = app.test_client().get("/kiosk/offline")  # open to anyone, without a kiosk's details
    assert anonymous.status_code == 200 and 'class="kiosk-number"' not in text(anonymous)
    page = kiosk_client.get("/kiosk/offline")
    assert kiosk_client.kiosk.number in text(page) and "fs-12" in body_classes(page)
    assert "page-offline" in body_classes(page)


def test_coded_values_of_the_guide_are_translated(kiosk_client, catalog):
    page = text(kiosk_client.get("/kiosk/items/ID1?lang=en"))
    for english in ("Administrative confirmation", "Individuals", "Across provinces",
                    "Required · Original · On paper · 1 copy", "20 working days", "60 working days"):
        assert english in page, english
    for code in ("行政确认", "自然人", "跨省", "必要", "原件", "纸质", "工作日", "1 copies"):
        assert code not in page, code
    chinese = text(kiosk_client.get("/kiosk/items/ID1?lang=zh-CN"))
    assert "行政确认" in chinese and "必要 · 原件 · 纸质 · 1 份" in chinese and "20 个工作日" in chinese


def test_the_phone_guide_translates_coded_values_too(kiosk_client, catalog):
    page = text(kiosk_client.get("/m/items/ID1?lang=en"))
    assert "Administrative confirmation" in page and "Required · Original · On paper" in page


def test_quick_words_are_labelled_in_the_screens_language(kiosk_client, catalog):
    english = text(kiosk_client.get("/kiosk/search?lang=en"))
    assert 'data-word="社保" disabled>Social insurance</button>' in english and ">社保</button>" not in english
    assert 'data-word="社保" disabled>社保</button>' in text(kiosk_client.get("/kiosk/search?lang=zh-CN"))


@pytest.mark.parametrize("query", ["??", "。", "%", "_", "%%", "！？…"])
def test_a_query_of_punctuation_only_is_no_query(kiosk_client, catalog, query):
    page = text(kiosk_client.get("/kiosk/search", query_string={"q": query}))
    assert "/kiosk/items/ID1" not in page and "/kiosk/items/HK1" not in page
    assert "没有找到相关事项" not in page and "找到 " not in page  # the screen as before any typing
    assert text(kiosk_client.get("/kiosk/search", query_string={"q": query, "partial": "1"})).strip() == ""


def test_the_no_results_screen_says_it_once_with_popular_items_under_a_heading(kiosk_client, catalog):
    page = text(kiosk_client.get("/kiosk/search?q=火星移民"))
    assert page.count("没有找到相关事项") == 1
    assert '<h2 id="popular-title">大家常办</h2>' in page
    assert page.index("大家常办") < page.index("/kiosk/items/ID1")
    assert page.count(">人工帮助<") + page.count("</span> 人工帮助</a>") == 1  # the bottom bar's only
    partial = text(kiosk_client.get("/kiosk/search?q=火星移民&partial=1"))
    assert partial.count("没有找到相关事项") == 1 and "大家常办" in partial and "人工帮助" not in partial


def test_department_names_with_a_slash_have_working_links(kiosk_client, make_items):
    make_items(item_row(task_code="EDU1", task_name="教师资格认定", dept_name="江州市教育/体育局"))
    page = text(kiosk_client.get("/kiosk/departments"))
    href = page.split('href="/kiosk/departments/', 1)[1].split('"', 1)[0]
    listing = kiosk_client.get("/kiosk/departments/" + href)
    assert listing.status_code == 200 and "教师资格认定" in text(listing)
    assert "江州市教育/体育局" in text(listing)


def test_a_kiosk_without_a_printer_says_so_with_the_qr_code(kiosk_of, catalog):
    response = kiosk_of("community-tablet").get("/kiosk/items/ID1/print")
    page = text(response)
    assert response.status_code == 404
    assert "本机不能打印，请扫码带走" in page and "/kiosk/items/ID1/qr.png" in page
    assert 'class="bottombar"' in page and 'id="printout"' not in page  # the kiosk's frame, no printout


def test_the_print_screen_prints_only_once_the_job_is_accepted(kiosk_client, catalog):
    page = text(kiosk_client.get("/kiosk/items/ID1/print?paper=thermal80"))
    assert "正在准备打印" in page and 'id="print-again"' in page
    assert 'data-job-url="/kiosk/items/ID1/print?paper=thermal80"' in page


def test_a_double_tap_prints_once(app, kiosk_client, kiosk_of, catalog):
    import sqlalchemy as sa

    from kiosk_backend.extensions import db
    from kiosk_backend.fleet.models import UsageEvent

    first = kiosk_client.post("/kiosk/items/ID1/print?paper=thermal80")
    second = kiosk_client.post("/kiosk/items/ID1/print?paper=thermal80")
    assert (first.status_code, first.get_json()) == (202, {"status": "accepted"})
    assert second.status_code == 409 and second.get_json()["status"] == "duplicate" and second.headers["Retry-After"]
    # Another guide, or another kiosk, prints at once.
    assert kiosk_client.post("/kiosk/items/HK1/print?paper=thermal80").status_code == 202
    assert kiosk_of("post-office-portrait").post("/kiosk/items/ID1/print?paper=thermal80").status_code == 202
    with app.app_context():
        prints = db.session.scalar(sa.select(sa.func.count()).select_from(UsageEvent).where(UsageEvent.kind == "print"))
    assert prints == 3  # the refused print is not counted
    assert kiosk_client.get("/kiosk/items/ID1/print.png?paper=thermal80").status_code == 200  # showing it is not printing


def test_a_logged_in_resident_prints_a_guide_and_searches_at_once_and_both_are_counted(db, kiosk_client, catalog,
                                                                                       make_resident):
    import sqlalchemy as sa

    from kiosk_backend.fleet.models import UsageEvent
    from tests.identity.test_kiosk import log_in

    log_in(db, kiosk_client, make_resident())
    # Each request writes the session's activity; the usage count must go in the same
    # transaction, or on SQLite it waits for the request's own write lock (503 after ~15 s).
    assert kiosk_client.post("/kiosk/items/ID1/print?paper=thermal80").status_code == 202
    assert kiosk_client.get("/kiosk/search?q=户口").status_code == 200
    db.session.expire_all()
    kinds = sorted(db.session.scalars(sa.select(UsageEvent.kind)))
    assert kinds.count("print") == 1 and "search" in kinds


def test_a_kiosk_without_a_printer_gets_no_print_job(kiosk_of, catalog):
    assert kiosk_of("community-tablet").post("/kiosk/items/ID1/print?paper=thermal80").status_code == 404


def test_the_end_of_a_visit_brings_back_the_kiosks_own_settings(app, kiosk_client, catalog):
    from kiosk_backend.extensions import db
    from kiosk_backend.fleet.models import Kiosk

    with app.app_context():
        db.session.get(Kiosk, kiosk_client.kiosk.id).settings = {"elder_mode_default": True}  # apply_settings
        db.session.commit()
    assert "elder" not in body_classes(kiosk_client.get("/kiosk/search?elder=0"))
    kiosk_client.get("/kiosk/reset")
    assert "elder" in body_classes(kiosk_client.get("/kiosk/"))
