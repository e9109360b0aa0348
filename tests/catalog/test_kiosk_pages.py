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
    assert "<html" not in page and "/kiosk/items/HK1" in page and 'data-status="找到 1 个事项' in page


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
    assert "Searched as “社会保险, 社会保障”" in text(kiosk_client.get("/kiosk/search?q=社保&lang=en"))


def test_referrers_stay_on_the_host(kiosk_client):
    assert kiosk_client.get("/kiosk/").headers["Referrer-Policy"] == "same-origin"
