"""The attract screen (UX.md: "an attract screen when nobody is there"): on kiosks whose device
profile says ``ui.attract_screen``, a home screen nobody has touched for the idle time turns
into a calm full-screen loop of what the kiosk can do and "轻触屏幕开始 / Touch the screen to
start"; any touch brings the home screen back without pressing what was under the finger.
It moves nothing when the system asks for reduced motion, runs no inline script, and leaves
the idle countdown (kiosk/idle.js) alone: the countdown's reset of a visit ends on a home
screen, where the attract screen then starts.

The browser's clock is Playwright's fake clock: the waits are jumped over, not slept through.
Screenshots: test-artifacts/screenshots/attract-<profile>[-still].png.
"""
from __future__ import annotations

import re

import pytest

from .browser_support import BANK, COMMUNITY, GUIDE_CODE, POST_OFFICE, enrol, expect

pytestmark = pytest.mark.browser

IDLE = 30  # the kiosks below: 30 s idle time (the least a profile or the console may set)


@pytest.fixture(scope="module")
def quick_kiosks(kiosk_app):
    """A kiosk of each profile with a 30 s idle time and a 20 s countdown."""
    return {profile: enrol(kiosk_app, profile, settings={"idle_timeout_seconds": IDLE, "idle_warning_seconds": 20})
            for profile in (POST_OFFICE, BANK, COMMUNITY)}


def _ready(page) -> None:
    """Wait until the kiosk modules have armed their timers (kiosk/main.js marks <html>):
    moving the fake clock on before that would run past timers that do not exist yet."""
    expect(page.locator("html")).to_have_attribute("data-kiosk-ready", "1")


def _home(new_page, live_server, kiosk, **options):
    page = new_page(kiosk=kiosk, has_touch=True, **options)
    page.clock.install()
    page.goto(live_server("/kiosk/"))
    _ready(page)
    return page


def _current(page) -> list[str]:
    """The labels of the attract items a person can see now (opacity > 0 after the fade)."""
    return page.evaluate("""() => [...document.querySelectorAll('#attract .attract-item')]
        .filter(item => item.classList.contains('is-current') || getComputedStyle(item).opacity === '1')
        .map(item => item.querySelector('.attract-label').textContent.trim())""")


@pytest.mark.parametrize("profile", [POST_OFFICE, BANK])
def test_an_untouched_home_screen_turns_into_the_attract_screen_and_a_touch_brings_it_back(
        new_page, live_server, quick_kiosks, screenshot_dir, profile):
    page = _home(new_page, live_server, quick_kiosks[profile])
    attract = page.locator("#attract")
    expect(attract).to_be_hidden()
    page.clock.run_for((IDLE - 1) * 1000)
    expect(attract).to_be_hidden()  # not before the idle time
    page.clock.run_for(2000)
    expect(attract).to_be_visible()
    dialog = page.get_by_role("dialog", name="政务服务，就近自助办理")
    expect(dialog).to_be_visible()
    expect(dialog).to_be_focused()
    expect(dialog.get_by_text("轻触屏幕开始")).to_be_visible()
    expect(dialog.get_by_text("Touch the screen to start")).to_be_visible()
    # Full screen, over the bars.
    box = attract.bounding_box()
    size = page.viewport_size
    assert (box["x"], box["y"], box["width"], box["height"]) == (0, 0, size["width"], size["height"])
    # A calm loop: one thing the kiosk does at a time, the next one a few seconds later.
    labels = page.locator("#attract .attract-label").all_inner_texts()
    assert "查找事项" in labels and "办件进度" in labels and len(labels) == 5
    assert page.locator("#attract .attract-item.is-current").all_inner_texts()[0].startswith(labels[0])
    page.screenshot(path=screenshot_dir / f"attract-{profile}.png")
    page.clock.run_for(5000)
    expect(page.locator("#attract .attract-item.is-current")).to_have_count(1)
    expect(page.locator("#attract .attract-item.is-current .attract-label")).to_have_text(labels[1])

    # A touch where the 查找事项 tile lies under the attract screen: home comes back, and the
    # tile is not pressed.
    tile = page.locator("nav.tiles a.tile").first.bounding_box()
    page.touchscreen.tap(tile["x"] + tile["width"] / 2, tile["y"] + tile["height"] / 2)
    expect(attract).to_be_hidden()
    expect(page).to_have_url(live_server("/kiosk/"))
    expect(page.get_by_role("heading", level=1)).to_have_text("您好，请问要办什么事？")
    # And it comes back when nobody touches the screen again; any activity postpones it.
    page.clock.run_for((IDLE - 5) * 1000)
    page.touchscreen.tap(5, size["height"] // 2)
    page.clock.run_for((IDLE - 5) * 1000)
    expect(attract).to_be_hidden()
    page.clock.run_for(6000)
    expect(attract).to_be_visible()
    page.keyboard.press("Enter")  # a key (an accessibility switch) dismisses it too
    expect(attract).to_be_hidden()
    expect(page).to_have_url(live_server("/kiosk/"))


def test_with_reduced_motion_the_attract_screen_is_a_still_list(new_page, live_server, quick_kiosks, screenshot_dir, axe):
    page = _home(new_page, live_server, quick_kiosks[POST_OFFICE], reduced_motion="reduce")
    page.clock.run_for((IDLE + 1) * 1000)
    expect(page.locator("#attract")).to_be_visible()
    # Accessible like the other overlays: no serious or critical axe findings while it shows.
    serious = [f"{v['id']}: {v['help']}" for v in axe.run(page).response["violations"]
               if v["impact"] in ("serious", "critical")]
    assert not serious, serious
    labels = page.locator("#attract .attract-label").all_inner_texts()
    assert _current(page) == labels  # every item at once
    still = page.evaluate("""() => ({
      start: getComputedStyle(document.querySelector('.attract-start')).animationName,
      fade: [...document.querySelectorAll('.attract-item')].map(i => getComputedStyle(i).transitionDuration),
    })""")
    assert still["start"] == "none" and set(still["fade"]) == {"0s"}, still
    page.clock.run_for(12_000)
    assert _current(page) == labels  # and nothing changes
    for item in page.locator("#attract .attract-item").all():
        expect(item).to_be_in_viewport()
    page.screenshot(path=screenshot_dir / f"attract-{POST_OFFICE}-still.png")


def test_a_profile_without_an_attract_screen_has_none(new_page, live_server, quick_kiosks):
    page = _home(new_page, live_server, quick_kiosks[COMMUNITY])
    page.clock.run_for((IDLE + 10) * 1000)
    expect(page.locator("#attract")).to_have_count(0)
    expect(page.get_by_role("dialog")).to_have_count(0)


def test_the_idle_countdown_ends_the_visit_and_then_the_attract_screen_starts(new_page, live_server, quick_kiosks):
    """The two never overlap: on a guide the countdown runs (no attract screen there); when it
    runs out the visit is reset to the home screen, and only there does the attract screen
    follow, after the idle time."""
    page = new_page(kiosk=quick_kiosks[POST_OFFICE], has_touch=True)
    page.clock.install()
    page.goto(live_server(f"/kiosk/items/{GUIDE_CODE}"))
    _ready(page)
    expect(page.locator("#attract")).to_have_count(0)
    page.clock.run_for((IDLE + 1) * 1000)
    expect(page.locator("#idle-overlay")).to_be_visible()
    page.clock.run_for(21_000)
    expect(page).to_have_url(live_server("/kiosk/"))
    _ready(page)
    attract = page.locator("#attract")
    expect(attract).to_be_hidden()
    expect(page.locator("#idle-overlay")).to_be_hidden()
    page.clock.run_for((IDLE + 1) * 1000)
    expect(attract).to_be_visible()
    expect(page.locator("#idle-overlay")).to_be_hidden()


def test_after_a_choice_on_home_the_countdown_runs_first_and_the_attract_screen_only_after_the_reset(
        new_page, live_server, quick_kiosks):
    """A resident who switched to 长辈版 on the home screen and walked away: home counts down
    like any screen (kiosk/idle.js), with no attract screen over it; the reset forgets the
    choice, and the fresh home screen then turns into the attract screen."""
    page = new_page(kiosk=quick_kiosks[POST_OFFICE], has_touch=True)
    page.clock.install()
    page.goto(live_server("/kiosk/?elder=1"))
    _ready(page)
    expect(page.locator("body")).to_have_attribute("data-idle-active", "1")
    page.clock.run_for((IDLE + 1) * 1000)
    expect(page.locator("#idle-overlay")).to_be_visible()
    expect(page.locator("#attract")).to_be_hidden()
    page.clock.run_for(21_000)
    expect(page).to_have_url(live_server("/kiosk/"))
    _ready(page)
    expect(page.locator("body")).not_to_have_class(re.compile(r"\belder\b"))
    expect(page.locator("body")).to_have_attribute("data-idle-active", "0")
    page.clock.run_for((IDLE + 1) * 1000)
    expect(page.locator("#attract")).to_be_visible()
    expect(page.locator("#idle-overlay")).to_be_hidden()
