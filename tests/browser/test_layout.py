"""The kiosk's layout as residents meet it, measured in Chromium on every device profile (each
in its own screen size, with a kiosk of that profile), in normal and elder mode:

- the guide: only the content area scrolls; ticking the materials never moves the window or
  the 返回/首页 bar; on the wide landscape screen the guide is two columns;
- search: every row of the on-screen keyboard is on screen, no key label wraps, and the box
  stays in view while typing (the community tablet, 1280 × 800, was the broken case);
- elder mode is clearly larger than normal mode (≥ 1.25 × body text, headings and buttons),
  on top of the device's own font scale, and nothing overflows sideways;
- home: the tiles fill their row (no hole), 大家常办 is whole on screen, 返回 is shown
  disabled (there is nowhere to go back to); the 跨省通办 badge is not the danger red.

Screenshots of home, guide and search in both modes go to
test-artifacts/screenshots/layout-<screen>-<profile>-<mode>.png.
"""
from __future__ import annotations

from pathlib import Path
from urllib.parse import quote

import pytest

from kiosk_backend.fleet.profiles import load_profiles

from .browser_support import BANK, COMMUNITY, GUIDE_CODE, POST_OFFICE, enrol, expect

pytestmark = pytest.mark.browser

PROFILES = [POST_OFFICE, BANK, COMMUNITY]
MODES = {"normal": 0, "elder": 1}
PROFILE_DIR = Path(__file__).resolve().parents[2] / "device_profiles"
GUIDE = f"/kiosk/items/{GUIDE_CODE}"


def _open(page, live_server, path: str, elder: int) -> None:
    page.goto(live_server(path + ("&" if "?" in path else "?") + f"elder={elder}"))
    assert ("elder" in page.locator("body").get_attribute("class").split()) == bool(elder)


# ------------------------------------------------------------------ the guide

WINDOW = """
() => {
  const bar = document.querySelector('.bottombar').getBoundingClientRect();
  return { scrollY: window.scrollY, scrollHeight: document.scrollingElement.scrollHeight,
           innerHeight: window.innerHeight, barBottom: bar.bottom, barTop: bar.top,
           mainScrolls: document.querySelector('main').scrollHeight > document.querySelector('main').clientHeight };
}
"""


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("profile", PROFILES)
def test_ticking_every_material_scrolls_only_the_guide_never_the_window(new_page, live_server, profile, mode):
    page = new_page(kiosk=profile, has_touch=True)
    _open(page, live_server, GUIDE, MODES[mode])
    before = page.evaluate(WINDOW)
    assert before["mainScrolls"], "the guide should be longer than the screen (a long guide is the point)"
    boxes = page.locator("label.check")
    assert boxes.count() >= 3
    problems = []
    for i in range(boxes.count()):
        boxes.nth(i).tap()
        expect(boxes.nth(i).locator("input")).to_be_checked()
        now = page.evaluate(WINDOW)
        if now["scrollY"] != 0:
            problems.append(f"material {i + 1}: the window scrolled {now['scrollY']}px")
        if now["scrollHeight"] > now["innerHeight"]:
            problems.append(f"material {i + 1}: the page is {now['scrollHeight']}px tall in a {now['innerHeight']}px window")
        if abs(now["barBottom"] - now["innerHeight"]) > 0.5 or now["barTop"] != before["barTop"]:
            problems.append(f"material {i + 1}: the 返回/首页 bar moved to {now['barTop']:.0f}..{now['barBottom']:.0f}px")
    assert not problems, "\n".join(problems)


def test_the_guide_is_two_columns_on_the_wide_landscape_kiosk_and_one_elsewhere(new_page, live_server):
    columns = {}
    for profile in PROFILES:
        page = new_page(kiosk=profile)
        _open(page, live_server, GUIDE, 0)
        columns[profile] = page.evaluate("""() => {
          const main = document.querySelector('main').getBoundingClientRect();
          const lefts = new Set([...document.querySelectorAll('.guide-section')].map(s => Math.round(s.getBoundingClientRect().left)));
          const widest = Math.max(...[...document.querySelectorAll('.guide-section')].map(s => s.getBoundingClientRect().width));
          return { lefts: lefts.size, widest, main: main.width };
        }""")
    bank = columns[BANK]
    assert bank["lefts"] == 2 and bank["widest"] < bank["main"] / 2, f"the bank guide is not two columns: {bank}"
    for profile in (POST_OFFICE, COMMUNITY):
        assert columns[profile]["lefts"] == 1, f"{profile}: {columns[profile]}"


# ------------------------------------------------------------------ search and its keyboard

KEYBOARD = """
() => {
  const problems = [];
  const bar = document.querySelector('.bottombar').getBoundingClientRect();
  const top = document.querySelector('.topbar').getBoundingClientRect();
  const rows = [...document.querySelectorAll('#keyboard .key-row')];
  rows.forEach((row, i) => {
    const r = row.getBoundingClientRect();
    if (r.top < top.bottom - 0.5 || r.bottom > bar.top + 0.5 || r.left < -0.5 || r.right > innerWidth + 0.5) {
      problems.push(`key row ${i + 1} is at ${Math.round(r.left)},${Math.round(r.top)}..${Math.round(r.right)},${Math.round(r.bottom)} (screen between ${Math.round(top.bottom)} and ${Math.round(bar.top)})`);
    }
  });
  for (const key of document.querySelectorAll('#keyboard button')) {
    const r = key.getBoundingClientRect();
    const hit = document.elementFromPoint(r.left + r.width / 2, r.top + r.height / 2);
    if (!hit || !key.contains(hit)) problems.push(`key "${key.textContent.trim()}" is covered or off screen`);
    const range = document.createRange();
    range.selectNodeContents(key);
    const lines = new Set([...range.getClientRects()].filter(x => x.width > 0).map(x => Math.round(x.top)));
    const lineHeight = parseFloat(getComputedStyle(key).lineHeight);
    if (lines.size > 1 || range.getBoundingClientRect().height > lineHeight * 1.5) {
      problems.push(`key "${key.textContent.trim()}" wraps onto ${lines.size} lines`);
    }
  }
  return { problems, rows: rows.length };
}
"""

BOX_IN_VIEW = """
() => {
  const box = document.getElementById('q').getBoundingClientRect();
  const main = document.querySelector('main').getBoundingClientRect();
  const hit = document.elementFromPoint(box.left + box.width / 2, box.top + box.height / 2);
  return { top: box.top, bottom: box.bottom, mainTop: main.top, mainBottom: main.bottom,
           visible: box.top >= main.top - 0.5 && box.bottom <= main.bottom + 0.5 && hit && hit.id === 'q' };
}
"""


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("profile", PROFILES)
def test_the_whole_keyboard_is_on_screen_and_the_box_stays_in_view_while_typing(
        new_page, live_server, screenshot_dir, profile, mode):
    page = new_page(kiosk=profile, has_touch=True)
    _open(page, live_server, "/kiosk/search", MODES[mode])
    layout = page.evaluate(KEYBOARD)
    assert layout["rows"] >= 4  # three letter rows and 清空
    assert not layout["problems"], "\n".join(layout["problems"])
    page.screenshot(path=screenshot_dir / f"layout-search-{profile}-{mode}.png")

    problems = []
    box = page.locator("#q")
    for key in ("s", "f", "z", "backspace", "z"):
        page.locator(f'#keyboard button[data-key="{key}"]').tap()
        place = page.evaluate(BOX_IN_VIEW)
        if not place["visible"]:
            problems.append(f"after {key}: the box is at {place['top']:.0f}..{place['bottom']:.0f}px, "
                            f"the screen shows {place['mainTop']:.0f}..{place['mainBottom']:.0f}px")
    expect(box).to_have_value("sfz")
    expect(page.locator("#results-box .result").first).to_be_visible()  # the results arrived
    place = page.evaluate(BOX_IN_VIEW)
    if not place["visible"]:
        problems.append(f"with results: the box is at {place['top']:.0f}..{place['bottom']:.0f}px")
    layout = page.evaluate(KEYBOARD)  # the results did not push the keys away either
    problems += [f"with results: {p}" for p in layout["problems"]]
    page.screenshot(path=screenshot_dir / f"layout-search-results-{profile}-{mode}.png")
    # A quick word fills the box too (the chips sit beside the results in landscape).
    page.locator("button.chip[data-word]").first.tap()
    expect(box).to_have_value(page.locator("button.chip[data-word]").first.get_attribute("data-word"))
    assert page.evaluate(BOX_IN_VIEW)["visible"]
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("profile", [POST_OFFICE, BANK])  # the tablet offers Chinese only
def test_the_keyboard_fits_in_english_too(new_page, live_server, profile):
    """English names 删除 and 清空 with longer words: they still fit on one line each."""
    page = new_page(kiosk=profile)
    problems = []
    for mode, elder in MODES.items():
        _open(page, live_server, "/kiosk/search?lang=en", elder)
        expect(page.locator("html")).to_have_attribute("lang", "en")
        problems += [f"{mode}: {p}" for p in page.evaluate(KEYBOARD)["problems"]]
    assert not problems, "\n".join(problems)


# ------------------------------------------------------------------ elder mode is clearly larger

SIZES = """
() => {
  const size = (el) => el ? parseFloat(getComputedStyle(el).fontSize) : null;
  const overflow = [];
  const doc = document.scrollingElement;
  if (doc.scrollWidth > innerWidth) overflow.push(`document is ${doc.scrollWidth}px wide`);
  const main = document.querySelector('main');
  if (main.scrollWidth > main.clientWidth) overflow.push(`main is ${main.scrollWidth}px wide in ${main.clientWidth}px`);
  for (const el of document.querySelectorAll('body *')) {
    if (!el.getClientRects().length || el.closest('[hidden], .visually-hidden')) continue;
    const r = el.getBoundingClientRect();
    if (r.right > innerWidth + 0.5 || r.left < -0.5) {
      overflow.push(`<${el.tagName.toLowerCase()} class="${el.className}"> spans ${Math.round(r.left)}..${Math.round(r.right)}px`);
      if (overflow.length > 10) break;
    }
  }
  return {
    body: size(document.body),
    text: size(document.querySelector('main p, main dd, main .tile-hint, main .result-meta')),
    h1: size([...document.querySelectorAll('h1')].find(h => h.getClientRects().length) || document.querySelector('h1')),
    h2: size(document.querySelector('main h2')),
    navbtn: size(document.querySelector('.navbtn')),
    button: size(document.querySelector('main .btn, main .chip, main .key')),
    overflow,
  };
}
"""


def _measure(page, live_server, elder: int) -> dict[str, dict]:
    found = {}
    for name, path in {"home": "/kiosk/", "guide": GUIDE, "search": "/kiosk/search?q=" + quote("社保")}.items():
        _open(page, live_server, path, elder)
        found[name] = page.evaluate(SIZES)
    return found


def _compare(normal: dict, elder: dict, ratio: float = 1.25) -> list[str]:
    problems = []
    for screen, sizes in normal.items():
        for what, size in sizes.items():
            if what == "overflow" or size is None:
                continue
            larger = elder[screen][what]
            if larger is None or larger < size * ratio - 0.01:
                problems.append(f"{screen} {what}: {size}px normal, {larger}px elder (< {ratio} ×)")
        problems += [f"{screen} elder: {p}" for p in elder[screen]["overflow"]]
        problems += [f"{screen} normal: {p}" for p in sizes["overflow"]]
    return problems


@pytest.mark.parametrize("profile", PROFILES)
def test_elder_mode_is_at_least_a_quarter_larger_on_top_of_the_device_scale(
        new_page, live_server, screenshot_dir, profile):
    scale = load_profiles(PROFILE_DIR)[profile].ui.font_scale
    page = new_page(kiosk=profile)
    normal = _measure(page, live_server, 0)
    elder = _measure(page, live_server, 1)
    # The device's font scale is honoured in normal mode, and elder mode builds on it.
    assert normal["guide"]["body"] == pytest.approx(24 * scale), normal["guide"]["body"]
    assert elder["guide"]["body"] >= max(30, 24 * scale * 1.25) - 0.01
    for mode in MODES:
        for screen in ("home", "guide"):
            _open(page, live_server, {"home": "/kiosk/", "guide": GUIDE}[screen], MODES[mode])
            page.screenshot(path=screenshot_dir / f"layout-{screen}-{profile}-{mode}.png")
    problems = _compare(normal, elder)
    assert not problems, "\n".join(problems)


def test_elder_mode_follows_a_font_scale_sent_by_the_console(new_page, live_server, kiosk_app):
    """apply_settings may give a kiosk a larger font scale than its profile: elder mode is
    still 1.25 × that, not a fixed size that would now be smaller than normal mode."""
    kiosk = enrol(kiosk_app, BANK, settings={"font_scale": 1.5})
    page = new_page(kiosk=kiosk)
    normal = _measure(page, live_server, 0)
    elder = _measure(page, live_server, 1)
    assert normal["guide"]["body"] == pytest.approx(36)
    assert elder["guide"]["body"] == pytest.approx(45)
    problems = _compare(normal, elder)
    assert not problems, "\n".join(problems)


# ------------------------------------------------------------------ home

HOME = """
() => {
  const problems = [];
  const grid = document.querySelector('nav.tiles').getBoundingClientRect();
  const rows = {};
  for (const tile of document.querySelectorAll('nav.tiles a.tile')) {
    const r = tile.getBoundingClientRect();
    (rows[Math.round(r.top)] ||= []).push(r);
  }
  for (const [top, tiles] of Object.entries(rows)) {
    const right = Math.max(...tiles.map(r => r.right));
    if (grid.right - right > 1) problems.push(`the tile row at ${top}px leaves ${Math.round(grid.right - right)}px empty`);
  }
  const main = document.querySelector('main').getBoundingClientRect();
  const bar = document.querySelector('.bottombar').getBoundingClientRect();
  const popular = document.querySelector('.popular');
  const shown = popular ? [popular.querySelector('h2'), ...popular.querySelectorAll('a.chip')].filter(el => el.getClientRects().length) : [];
  for (const el of shown) {
    const r = el.getBoundingClientRect();
    if (r.top < main.top - 0.5 || r.bottom > Math.min(main.bottom, bar.top) + 0.5) {
      problems.push(`"${el.textContent.trim()}" is cut off (${Math.round(r.top)}..${Math.round(r.bottom)}px, the bar starts at ${Math.round(bar.top)}px)`);
    }
  }
  return { problems, rows: Object.keys(rows).length, chips: shown.length - 1 };
}
"""


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("profile", PROFILES)
def test_home_tiles_fill_their_rows_and_the_popular_list_is_whole(new_page, live_server, profile, mode):
    page = new_page(kiosk=profile)
    _open(page, live_server, "/kiosk/", MODES[mode])
    home = page.evaluate(HOME)
    assert not home["problems"], "\n".join(home["problems"])
    assert home["chips"] >= 4, "大家常办 shows too few items"
    if profile != POST_OFFICE:
        assert home["rows"] == 1, "landscape screens show the tiles in one row"


@pytest.mark.parametrize("profile", PROFILES)
def test_back_on_home_is_shown_disabled_and_works_elsewhere(new_page, live_server, profile):
    page = new_page(kiosk=profile)
    page.goto(live_server(GUIDE))
    back = page.locator("nav.bottombar").get_by_role("link", name="返回")
    expect(back).to_be_enabled()
    page.locator("nav.bottombar").get_by_role("link", name="首页").click()
    expect(page).to_have_url(live_server("/kiosk/"))
    bar = page.locator("nav.bottombar")
    expect(bar.get_by_role("link", name="返回")).to_have_count(0)
    disabled = bar.get_by_role("button", name="返回")
    expect(disabled).to_be_disabled()
    expect(disabled).to_have_accessible_description("已在首页")
    # Same place as on the other screens, and visibly different from the live buttons.
    style = page.evaluate("""() => {
      const off = getComputedStyle(document.querySelector('.bottombar button:disabled'));
      const on = getComputedStyle(document.querySelector('.bottombar a.navbtn'));
      return { off: [off.borderStyle, off.color], on: [on.borderStyle, on.color] };
    }""")
    assert style["off"] != style["on"], style
    disabled.dispatch_event("click")  # even a forced click goes nowhere
    expect(page).to_have_url(live_server("/kiosk/"))


def _luminance(rgb: str) -> float:
    channels = [int(c) / 255 for c in rgb[rgb.index("(") + 1:rgb.index(")")].split(",")[:3]]
    lin = [c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
    return 0.2126 * lin[0] + 0.7152 * lin[1] + 0.0722 * lin[2]


def test_the_cross_province_badge_is_not_the_danger_red_and_reads_well(new_page, live_server):
    page = new_page(kiosk=POST_OFFICE)
    page.goto(live_server("/kiosk/search?q=" + quote("社保")))
    badge = page.locator(".badge.cross").first
    expect(badge).to_have_text("跨省通办")
    colours = page.evaluate("""() => {
      const probe = document.createElement('span');
      probe.style.setProperty('color', 'var(--danger)');
      document.body.append(probe);
      const danger = getComputedStyle(probe).color;
      probe.remove();
      const b = getComputedStyle(document.querySelector('.badge.cross'));
      return { danger, color: b.color, border: b.borderTopColor, background: b.backgroundColor };
    }""")
    assert colours["color"] != colours["danger"] and colours["border"] != colours["danger"], colours
    fg, bg = _luminance(colours["color"]), _luminance(colours["background"])
    contrast = (max(fg, bg) + 0.05) / (min(fg, bg) + 0.05)
    assert contrast >= 4.5, f"contrast {contrast:.2f}: {colours}"


# ------------------------------------------------------------------ the icon

def test_every_surface_links_the_emblem_icon_and_favicon_ico_answers(new_page, live_server, admin_account):
    page = new_page(kiosk=POST_OFFICE)
    missing = []
    page.on("response", lambda r: missing.append(r.url) if r.status == 404 else None)
    for path in ("/kiosk/", GUIDE, f"/m/items/{GUIDE_CODE}", "/admin/login"):
        page.goto(live_server(path))
        href = page.locator('head link[rel="icon"]').get_attribute("href")
        icon = page.request.get(live_server(href))
        assert icon.status == 200 and icon.headers["content-type"].startswith("image/svg+xml"), (path, href)
        assert b"<svg" in icon.body()
    ico = page.request.get(live_server("/favicon.ico"))
    assert ico.status == 200 and ico.headers["content-type"] in ("image/vnd.microsoft.icon", "image/x-icon")
    assert ico.body()[:4] == b"\x00\x00\x01\x00"  # an ICO file
    assert not missing, missing
