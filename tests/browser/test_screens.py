"""Every screen works on every device profile, in its own screen size and with a kiosk of
that profile: the portrait post office (1080 × 1920), the landscape bank lobby (1920 × 1080)
and the community tablet (1280 × 800), normal and elder mode: nothing scrolls sideways, and
返回 / 首页 are always on screen in the same place.

On the home screen every tile the profile offers and the search box are on screen without
scrolling. What follows the profile is checked too: the tiles, the print button (one, for
the profile's printer), elder mode by default, the idle time, the kiosk number.

While visiting the screens the test saves screenshots of each to
test-artifacts/screenshots/<screen>-<profile>[-elder].png, and of the phone page to
phone-guide[-elder].png, for people to look at.
"""
from __future__ import annotations

import re

import pytest

from .browser_support import BANK, COMMUNITY, GUIDE_CODE, PAPER, POST_OFFICE, expect, main_screens

pytestmark = pytest.mark.browser

PROFILES = [POST_OFFICE, BANK, COMMUNITY]
# Home tiles per profile (the tablet has no "departments" feature), plus the search box.
TILES = {POST_OFFICE: ["查找事项", "按主题找", "一件事一次办", "按部门找", "办件进度"],
         BANK: ["查找事项", "按主题找", "一件事一次办", "按部门找", "办件进度"],
         COMMUNITY: ["查找事项", "按主题找", "一件事一次办", "办件进度"]}
IDLE_SECONDS = {POST_OFFICE: "120", BANK: "90", COMMUNITY: "180"}


def kiosk_screens(profile: str) -> list[str]:
    return [name for name in main_screens(profile) if name != "phone-guide"]

LAYOUT = r"""
() => {
  const problems = [];
  const doc = document.scrollingElement;
  if (doc.scrollWidth > innerWidth) problems.push(`document is ${doc.scrollWidth}px wide in a ${innerWidth}px viewport`);
  const main = document.querySelector('main');
  if (main.scrollWidth > main.clientWidth) problems.push(`main scrolls sideways: ${main.scrollWidth}px in ${main.clientWidth}px`);
  // Anything sticking out at the sides of the screen, even where it is clipped.
  for (const el of document.querySelectorAll('main *')) {
    if (!el.getClientRects().length || el.closest('[hidden], .visually-hidden')) continue;
    const r = el.getBoundingClientRect();
    if (r.right > innerWidth + 0.5 || r.left < -0.5) {
      problems.push(`<${el.tagName.toLowerCase()}${el.className ? '.' + el.className : ''}> spans ${Math.round(r.left)}..${Math.round(r.right)}px`);
      if (problems.length > 10) break;
    }
  }
  // Text squeezed into a column a few characters wide (one character per line).
  for (const el of document.querySelectorAll('main *')) {
    const own = [...el.childNodes].filter(n => n.nodeType === 3).map(n => n.textContent).join('').trim();
    if (own.length < 4 || !el.getClientRects().length || el.closest('[hidden], .visually-hidden')) continue;
    const size = parseFloat(getComputedStyle(el).fontSize);
    const r = el.getBoundingClientRect();
    if (r.width < 3.5 * size && r.height > 2.5 * size) {
      problems.push(`"${own.slice(0, 20)}" is squeezed into ${Math.round(r.width)}px`);
    }
  }
  // 返回 and 首页: where they are, and whether a finger at their centre reaches them (on home
  // 返回 is a disabled button in the same place).
  const nav = {};
  for (const link of document.querySelectorAll('nav.bottombar a, nav.bottombar button')) {
    const r = link.getBoundingClientRect();
    const label = link.textContent.replace(/[^\p{L}]/gu, '');
    const hit = document.elementFromPoint(r.left + r.width / 2, r.top + r.height / 2);
    nav[label] = { box: [r.left, r.top, r.width, r.height].map(Math.round),
                   reachable: !!hit && link.contains(hit) && r.top >= 0 && r.bottom <= innerHeight };
  }
  // Home: every tile and the search box fully on screen, above the bottom bar, without scrolling.
  const bar = document.querySelector('.bottombar').getBoundingClientRect();
  const tiles = [...document.querySelectorAll('nav.tiles a.tile, a.search-launch')];
  for (const tile of tiles) {
    const r = tile.getBoundingClientRect();
    if (r.left < 0 || r.right > innerWidth || r.top < main.getBoundingClientRect().top || r.bottom > bar.top) {
      problems.push(`"${tile.innerText.split('\n')[0]}" is not fully on screen (${Math.round(r.top)}..${Math.round(r.bottom)}px, bar at ${Math.round(bar.top)}px)`);
    }
  }
  return { problems, nav, tiles: tiles.length };
}
"""


@pytest.mark.parametrize("elder", [False, True], ids=["normal", "elder"])
@pytest.mark.parametrize("profile", PROFILES)
def test_every_screen_fits_without_sideways_scrolling_and_back_and_home_stay_put(
        new_page, live_server, screenshot_dir, profile, elder):
    page = new_page(kiosk=profile)
    page.goto(live_server(f"/kiosk/?elder={int(elder)}"))
    problems = []
    places = {}
    for name in kiosk_screens(profile):
        page.goto(live_server(main_screens(profile)[name]))
        layout = page.evaluate(LAYOUT)
        page.screenshot(path=screenshot_dir / f"{name}-{profile}{'-elder' if elder else ''}.png")
        problems += [f"{name}: {p}" for p in layout["problems"]]
        if name == "home" and layout["tiles"] != len(TILES[profile]) + 1:
            problems.append(f"home: expected {len(TILES[profile])} tiles and the search box, found {layout['tiles']}")
        for label in ("返回", "首页"):
            link = layout["nav"].get(label)
            if link is None:
                problems.append(f"{name}: no {label} in the bottom bar")
                continue
            if not link["reachable"]:
                problems.append(f"{name}: {label} at {link['box']} is off screen or covered")
            places.setdefault(label, {}).setdefault(tuple(link["box"]), []).append(name)
    for label, boxes in places.items():
        if len(boxes) > 1:
            problems.append(f"{label} moves between screens: {boxes}")
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("profile", PROFILES)
def test_the_kiosk_follows_its_profile(new_page, live_server, kiosks, profile):
    """Tiles, printing, languages, elder mode and idle time come from the kiosk's device profile; the top
    bar shows which kiosk this is (for the 人工帮助 staff and the admin console)."""
    kiosk = kiosks(profile)
    page = new_page(kiosk=profile)
    page.goto(live_server("/kiosk/"))
    expect(page.locator(".kiosk-number")).to_have_text(f"终端 {kiosk.number}")
    body = page.locator("body")
    # Elder mode: on by default on the community tablet only, until a resident switches it.
    if profile == COMMUNITY:
        expect(body).to_have_class(re.compile(r"\belder\b"))
        expect(page.get_by_role("link", name="标准版")).to_be_visible()
    else:
        expect(body).not_to_have_class(re.compile(r"\belder\b"))
    # Languages: the tablet is Chinese only, so it offers no switch to English.
    expect(page.get_by_role("link", name="English")).to_have_count(0 if profile == COMMUNITY else 1)
    tiles = page.locator("nav.tiles a.tile .tile-label")
    expect(tiles).to_have_text(TILES[profile])

    page.goto(live_server(f"/kiosk/items/{GUIDE_CODE}"))
    expect(body).to_have_attribute("data-idle-seconds", IDLE_SECONDS[profile])
    print_links = page.locator(".guide-actions a")
    if PAPER[profile] is None:
        expect(print_links).to_have_count(0)
    else:
        expect(print_links).to_have_count(1)
        expect(print_links).to_have_text("打印办事指南")
        expect(print_links).to_have_attribute("href", re.compile(rf"/print\?paper={PAPER[profile]}$"))

    if profile == COMMUNITY:  # the resident's choice wins over the profile's default, and sticks
        page.get_by_role("link", name="标准版").click()
        expect(body).not_to_have_class(re.compile(r"\belder\b"))
        page.goto(live_server("/kiosk/"))
        expect(body).not_to_have_class(re.compile(r"\belder\b"))


@pytest.mark.parametrize("elder", [False, True], ids=["normal", "elder"])
def test_the_phone_guide_fits_a_phone_screen(new_page, live_server, screenshot_dir, elder):
    page = new_page({"width": 360, "height": 740}, is_mobile=True, has_touch=True, device_scale_factor=2)
    page.goto(live_server(main_screens()["phone-guide"] + f"?elder={int(elder)}"))
    expect(page.get_by_role("heading", level=1)).to_be_visible()
    width = page.evaluate("document.scrollingElement.scrollWidth")
    page.screenshot(path=screenshot_dir / f"phone-guide{'-elder' if elder else ''}.png")
    assert width <= 360, f"the phone page is {width}px wide on a 360px phone"


def test_home_fits_every_screen_in_english_too(new_page, live_server):
    """English labels are longer than Chinese ones: the home tiles must still fit. (The
    tablet offers Chinese only, so it is not asked for English here.)"""
    problems = []
    for profile in (POST_OFFICE, BANK):
        page = new_page(kiosk=profile)
        for elder in (False, True):
            page.goto(live_server(f"/kiosk/?lang=en&elder={int(elder)}"))
            expect(page.get_by_role("link", name=re.compile("Find a service"))).to_be_visible()
            layout = page.evaluate(LAYOUT)
            problems += [f"{profile}{' elder' if elder else ''}: {p}" for p in layout["problems"]]
    assert not problems, "\n".join(problems)
