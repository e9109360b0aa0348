"""Constants and page helpers shared by the browser tests (fixtures live in conftest.py)."""
from __future__ import annotations

import logging
import os
import threading
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

# The device profiles of UX.md: portrait and landscape kiosks, the community tablet.
PORTRAIT = {"width": 1080, "height": 1920}
LANDSCAPE = {"width": 1920, "height": 1080}
TABLET = {"width": 1280, "height": 800}
VIEWPORTS = {"portrait": PORTRAIT, "landscape": LANDSCAPE, "tablet": TABLET}

# The demo-catalog guide the tests open (居民身份证申领): every section, fees, FAQ, materials.
GUIDE_CODE = "11369900015623817G4070010100001"


# ------------------------------------------------------------------ helpers for the tests

class LiveServer:
    """The app on 127.0.0.1:<free port>, served by werkzeug in a daemon thread."""

    def __init__(self, app):
        logging.getLogger("werkzeug").setLevel(logging.WARNING)  # one line per request is noise here
        self.app = app
        self._server = make_server("127.0.0.1", 0, app, threaded=True)
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


def main_screens() -> dict[str, str]:
    """Every main screen of the kiosk, by a short name used for screenshots and reports."""
    return {
        "home": "/kiosk/",
        "search": "/kiosk/search",
        "search-results": "/kiosk/search?q=" + quote("社保"),
        "search-none": "/kiosk/search?q=" + quote("火星签证"),
        "guide": f"/kiosk/items/{GUIDE_CODE}",
        "print-thermal": f"/kiosk/items/{GUIDE_CODE}/print?paper=thermal80",
        "themes": "/kiosk/themes",
        "theme-listing": "/kiosk/themes/" + quote("证件办理"),
        "departments": "/kiosk/departments",
        "bundles": "/kiosk/bundles",
        "help": "/kiosk/help",
        "offline": "/kiosk/offline",
        "not-found": "/kiosk/items/NO-SUCH-ITEM",
        "phone-guide": f"/m/items/{GUIDE_CODE}",
    }


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
