"""The kiosk's JavaScript is a set of small native ES modules under /static/js/kiosk/
(main.js starts the others), loaded with <script type="module"> from /static: no inline
script (the CSP forbids it), no build step. The service worker caches every one of them,
so the offline page still runs its script when the backend is gone."""
from __future__ import annotations

import re
from pathlib import Path

import pytest

from .browser_support import GUIDE_CODE, LiveServer, expect

pytestmark = pytest.mark.browser

MODULE_DIR = Path(__file__).resolve().parents[2] / "kiosk_ui" / "static" / "js" / "kiosk"
MODULES = sorted(f"/static/js/kiosk/{p.name}" for p in MODULE_DIR.glob("*.js"))


def test_kiosk_pages_load_the_feature_modules_from_static(new_page, live_server):
    page = new_page()
    loaded = []
    page.on("response", lambda r: loaded.append((r.url, r.status)) if "/static/js/" in r.url else None)
    page.goto(live_server("/kiosk/search"))
    expect(page.locator("#search-form")).to_be_visible()
    scripts = page.eval_on_selector_all("script", "els => els.map(e => [e.type, e.getAttribute('src')])")
    assert scripts == [["module", "/static/js/kiosk/main.js"]]
    page.wait_for_load_state("networkidle")
    paths = sorted(re.sub(r"^https?://[^/]+", "", url) for url, status in loaded if status == 200)
    assert paths == MODULES, "main.js imports every feature module, each from /static"


def test_the_on_screen_keyboard_module_edits_the_query(new_page, live_server):
    page = new_page()
    page.goto(live_server("/kiosk/search"))
    steps = page.evaluate("""import('/static/js/kiosk/keyboard.js').then(({ applyKey }) => [
        applyKey('', { key: 's' }), applyKey('s', { key: 'f' }), applyKey('sfz', { key: 'backspace' }),
        applyKey('sf', { key: 'clear' }), applyKey('sf', { word: '社保' }), applyKey('sf', {})])""")
    assert steps == ["s", "sf", "sf", "", "社保", "sf"]


def test_the_service_worker_caches_every_kiosk_module(new_page, kiosk_app):
    server = LiveServer(kiosk_app)
    try:
        page = new_page(service_workers="allow")
        page.goto(server(f"/kiosk/items/{GUIDE_CODE}"))
        page.wait_for_function("() => navigator.serviceWorker.controller !== null")
        cached = page.evaluate("""caches.keys()
            .then((names) => Promise.all(names.map((n) => caches.open(n).then((c) => c.keys()))))
            .then((lists) => lists.flat().map((r) => new URL(r.url).pathname))""")
    finally:
        server.stop()
    assert set(MODULES) <= set(cached), sorted(set(MODULES) - set(cached))
    assert "/kiosk/offline" in cached and "/static/css/kiosk.css" in cached
