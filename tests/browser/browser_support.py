"""Constants and page helpers shared by the browser tests (fixtures live in conftest.py)."""
from __future__ import annotations

import logging
import os
import threading
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

from werkzeug.serving import make_server

try:  # without Playwright the `browser` fixture skips every test (or fails them in CI)
    from playwright.sync_api import expect
except ImportError:  # pragma: no cover - depends on the environment
    expect = None

CHROMIUM = os.environ.get("KIOSK_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"

# The device profiles (device_profiles/*.json): portrait post-office and landscape bank
# kiosks, the community tablet. Each test runs in the screen size of its kiosk's profile.
POST_OFFICE, BANK, COMMUNITY = "post-office-portrait", "bank-lobby-landscape", "community-tablet"
PORTRAIT = {"width": 1080, "height": 1920}
LANDSCAPE = {"width": 1920, "height": 1080}
TABLET = {"width": 1280, "height": 800}
SCREENS = {POST_OFFICE: PORTRAIT, BANK: LANDSCAPE, COMMUNITY: TABLET}
VIEWPORTS = {"portrait": PORTRAIT, "landscape": LANDSCAPE, "tablet": TABLET}

# The kiosk's credential cookie (HttpOnly, set at activation); every /kiosk page needs one.
KIOSK_COOKIE = "kiosk_credential"
# The site kiosks are enrolled at (the brief's example), and one that is always open: the
# maintenance screen sends residents to the nearest open site.
SITE = dict(code="JZ01", kind="post_office", name="九江浔阳路邮政营业所", province_code="36", city_code="3604",
            county_code="360403", address="浔阳路 118 号")
ALWAYS_OPEN = {day: [["00:00", "23:59"]] for day in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")}
OPEN_SITE = dict(code="JZ02", kind="post_office", name="九江庐山南路邮政营业所", province_code="36", city_code="3604",
                 county_code="360403", address="庐山南路 66 号", phone="0792-8220000", opening_hours=ALWAYS_OPEN)

# The demo-catalog guide the tests open (居民身份证申领): every section, fees, FAQ, materials.
GUIDE_CODE = "11369900015623817G4070010100001"


# ------------------------------------------------------------------ helpers for the tests

def wait_ready(page) -> None:
    """Wait until the kiosk page's scripts have armed their timers (main.js marks ``<html>``).

    A page the kiosk navigated to by itself (after a QR login, say) can show its new URL and
    HTML before its modules have run; a test that moves the fake clock before then moves it
    past timers that do not exist yet."""
    expect(page.locator("html")).to_have_attribute("data-kiosk-ready", "1")


def buffered(app):
    """The app with every response read to the end and closed before werkzeug sends it.

    werkzeug's development server drains the socket before it closes the response; when the
    browser has already dropped the connection (it navigated away while a script loaded)
    that read raises and the response, an open static file, is never closed: a
    ResourceWarning later, in whichever test is running then (warnings are errors here)."""
    def wsgi(environ, start_response):
        iterable = app(environ, start_response)
        try:
            return [b"".join(iterable)]
        finally:
            if hasattr(iterable, "close"):
                iterable.close()
    return wsgi


class LiveServer:
    """The app on 127.0.0.1:<port> (a free one by default), served by werkzeug in a daemon thread."""

    def __init__(self, app, port: int = 0):
        logging.getLogger("werkzeug").setLevel(logging.WARNING)  # one line per request is noise here
        self.app = app
        self._server = make_server("127.0.0.1", port, buffered(app), threaded=True)
        self.port = self._server.server_port
        self.url = f"http://127.0.0.1:{self.port}"
        self._thread = threading.Thread(target=self._server.serve_forever, name=f"live-{self.port}", daemon=True)
        self._thread.start()

    def __call__(self, path: str = "/") -> str:
        return self.url + path

    def stop(self) -> None:
        if self._thread.is_alive():
            self._server.shutdown()
            self._server.server_close()
            self._thread.join(5)


@dataclass(frozen=True)
class Enrolled:
    """A kiosk enrolled in a test app, and the credential its browser holds."""
    id: int
    number: str
    profile: str
    credential: str

    def cookie(self) -> dict:
        # Cookies ignore ports: one for 127.0.0.1 reaches every live server of the session.
        return {"name": KIOSK_COOKIE, "value": self.credential, "url": "http://127.0.0.1"}


def ensure_site(session, **data):
    """The site with ``data["code"]``, created on first use."""
    import sqlalchemy as sa

    from kiosk_backend.sites import services as sites
    from kiosk_backend.sites.models import Site

    return (session.scalar(sa.select(Site).where(Site.code == data["code"]))
            or sites.create_site(session, actor="test", **data))


def enrolment_code(app, *, pre_authorized: bool = True, site: dict = SITE) -> str:
    """A fresh enrolment code for ``site``, as an installer would type it."""
    from kiosk_backend.extensions import db
    from kiosk_backend.fleet import services as fleet

    with app.app_context():
        code, _ = fleet.create_enrolment_code(db.session, site=ensure_site(db.session, **site), actor="test",
                                              pre_authorized=pre_authorized)
        db.session.commit()
        db.session.remove()
    return code


def enrol(app, profile: str = POST_OFFICE, *, authorized: bool = True, settings: dict | None = None) -> Enrolled:
    """Enrol a new kiosk of ``profile`` at SITE, as POST /kiosk/activate would."""
    from kiosk_backend.extensions import db
    from kiosk_backend.fleet import services as fleet

    code = enrolment_code(app, pre_authorized=authorized)
    with app.app_context():
        kiosk, credential = fleet.activate(db.session, code=code, profile=profile)
        if settings:
            kiosk.settings = settings
        db.session.commit()
        enrolled = Enrolled(kiosk.id, kiosk.number, profile, credential)
        db.session.remove()
    return enrolled


PAPER = {POST_OFFICE: "thermal80", BANK: "a4", COMMUNITY: None}


def main_screens(profile: str = POST_OFFICE) -> dict[str, str]:
    """Every main screen a kiosk of ``profile`` offers, by a short name used for screenshots
    and reports. The printout is on the profile's paper; the tablet has no printer and no
    browsing by department, so it shows neither screen."""
    screens = {
        "home": "/kiosk/",
        "search": "/kiosk/search",
        "search-results": "/kiosk/search?q=" + quote("社保"),
        "search-none": "/kiosk/search?q=" + quote("火星签证"),
        "guide": f"/kiosk/items/{GUIDE_CODE}",
        "print": f"/kiosk/items/{GUIDE_CODE}/print?paper={PAPER[profile]}",
        "themes": "/kiosk/themes",
        "theme-listing": "/kiosk/themes/" + quote("证件办理"),
        "departments": "/kiosk/departments",
        "bundles": "/kiosk/bundles",
        "help": "/kiosk/help",
        "offline": "/kiosk/offline",
        "not-found": "/kiosk/items/NO-SUCH-ITEM",
        "phone-guide": f"/m/items/{GUIDE_CODE}",
    }
    if PAPER[profile] is None:
        del screens["print"]
    if profile == COMMUNITY:
        del screens["departments"]
    return screens


STUB_PRINT = """
window.__prints = 0;
window.print = () => { window.__prints += 1; };
"""


# Everything a finger can hit. A visually hidden checkbox is hit through its <label>.
MEASURE_TARGETS = """
() => {
  const selector = 'a[href], button, input:not([type=hidden]), select, textarea, summary, [role=button]';
  const found = [];
  const seen = new Set();
  for (let el of document.querySelectorAll(selector)) {
    if (el.matches('input[type=checkbox], input[type=radio]') && el.closest('label')) el = el.closest('label');
    if (seen.has(el)) continue;
    seen.add(el);
    if (!el.getClientRects().length || el.closest('[hidden], .visually-hidden')) continue;
    const style = getComputedStyle(el);
    if (style.visibility !== 'visible') continue;
    // WCAG 2.5.8 exempts links inside a sentence; the kiosk has none today, and any that
    // appear are reported separately so a reviewer sees them.
    const inSentence = el.tagName === 'A' && style.display === 'inline' &&
      [...el.parentElement.childNodes].some(n => n !== el && n.nodeType === 3 && n.textContent.trim());
    const r = el.getBoundingClientRect();
    // The part a finger can reach: inside every scrolling ancestor (main scrolls under the
    // fixed top and bottom bars) and inside the viewport.
    let vis = { left: r.left, top: r.top, right: r.right, bottom: r.bottom };
    for (let box = el.parentElement; box; box = box.parentElement) {
      if (!/(auto|scroll|hidden|clip)/.test(getComputedStyle(box).overflow)) continue;
      const c = box.getBoundingClientRect();
      vis = { left: Math.max(vis.left, c.left), top: Math.max(vis.top, c.top),
              right: Math.min(vis.right, c.right), bottom: Math.min(vis.bottom, c.bottom) };
    }
    vis = { left: Math.max(vis.left, 0), top: Math.max(vis.top, 0),
            right: Math.min(vis.right, innerWidth), bottom: Math.min(vis.bottom, innerHeight) };
    const name = (el.getAttribute('aria-label') || el.innerText || el.value || el.getAttribute('alt') || '').trim().replace(/\\s+/g, ' ');
    found.push({
      tag: el.tagName.toLowerCase(), cls: el.className || '', name: name.slice(0, 40),
      width: r.width, height: r.height, inSentence,
      x: vis.left, y: vis.top, visWidth: Math.max(0, vis.right - vis.left), visHeight: Math.max(0, vis.bottom - vis.top),
    });
  }
  return found;
}
"""

# Every rendered element that holds text of its own, with its font size and line height.
MEASURE_TEXT = """
() => {
  const found = [];
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_ELEMENT);
  for (let el = walker.currentNode; el; el = walker.nextNode()) {
    if (!el.getClientRects().length || el.closest('[hidden], .visually-hidden, script, style, template')) continue;
    const own = [...el.childNodes].filter(n => n.nodeType === 3).map(n => n.textContent).join('').trim();
    if (!own) continue;
    const style = getComputedStyle(el);
    if (style.visibility !== 'visible') continue;
    const size = parseFloat(style.fontSize);
    const lh = style.lineHeight === 'normal' ? 1.2 * size : parseFloat(style.lineHeight);
    found.push({ tag: el.tagName.toLowerCase(), cls: el.className || '', text: own.slice(0, 30),
                 fontSize: size, lineHeight: Math.round(lh / size * 100) / 100 });
  }
  return found;
}
"""


def describe(entry: dict) -> str:
    cls = "." + ".".join(str(entry["cls"]).split()) if entry.get("cls") else ""
    label = entry.get("name") or entry.get("text") or ""
    return f"<{entry['tag']}{cls}> {label!r}"


def overlapping(targets: list[dict]) -> list[tuple[dict, dict]]:
    """Pairs of targets whose reachable parts overlap on screen: a finger would hit both."""
    pairs = []
    shown = [t for t in targets if t["visWidth"] > 0 and t["visHeight"] > 0]
    for i, a in enumerate(shown):
        for b in shown[i + 1:]:
            if (a["x"] < b["x"] + b["visWidth"] - 0.5 and b["x"] < a["x"] + a["visWidth"] - 0.5
                    and a["y"] < b["y"] + b["visHeight"] - 0.5 and b["y"] < a["y"] + a["visHeight"] - 0.5):
                pairs.append((a, b))
    return pairs
