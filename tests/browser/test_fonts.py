"""The activation screen checks that the kiosk's browser can display Chinese before the kiosk
goes into service (kiosk/fontcheck.js): it draws 办 and a code point no font has a glyph for
in the page's font stack; if they come out the same, a plain warning tells the installer to
install a CJK font (Debian/Ubuntu: fonts-noto-cjk) and reload — in English too, because
without the font the Chinese lines are empty boxes.

One test runs a second Chromium whose fontconfig sees only Latin fonts (DejaVu, Liberation):
a real kiosk without a CJK font, not a simulation."""
from __future__ import annotations

import os
import shutil

import pytest

from .browser_support import CHROMIUM, CHROMIUM_ARGS, PORTRAIT, expect

pytestmark = pytest.mark.browser

MODULE = "/static/js/kiosk/fontcheck.js"
LATIN_FONT_DIRS = ["/usr/share/fonts/truetype/dejavu", "/usr/share/fonts/truetype/liberation"]


def _import(page, expression: str):
    """Evaluate ``expression`` with the page's fontcheck module bound to ``m``."""
    return page.evaluate(f"import('{MODULE}').then((m) => {expression})")


def test_with_a_cjk_font_the_activation_screen_shows_no_font_warning(new_page, live_server):
    page = new_page(kiosk=None)
    page.goto(live_server("/kiosk/activate"))
    expect(page.get_by_role("heading", level=1)).to_have_text("激活本终端")
    expect(page.locator("body")).to_have_attribute("data-cjk-font", "present")  # the check ran
    expect(page.locator("#font-warning")).to_be_hidden()
    expect(page.get_by_role("alert")).to_have_count(0)


def test_the_check_tells_a_character_with_a_glyph_from_one_without(new_page, live_server):
    page = new_page(kiosk=None)
    page.goto(live_server("/kiosk/activate"))
    assert _import(page, "m.glyphStatus('办')") == "present"
    assert _import(page, "m.glyphStatus('A')") == "present"
    # Another private-use code point: no font has it either, so it is "missing".
    assert _import(page, "m.glyphStatus(String.fromCodePoint(0xF0001))") == "missing"
    assert _import(page, "m.glyphStatus(String.fromCodePoint(0x10FFFD))") == "missing"


def test_a_sample_without_a_glyph_shows_the_warning_in_both_languages(new_page, live_server):
    page = new_page(kiosk=None)
    page.goto(live_server("/kiosk/activate"))
    assert _import(page, "m.setupFontCheck(String.fromCodePoint(0xF0001))") == "missing"
    warning = page.get_by_role("alert")
    expect(warning).to_be_visible()
    expect(warning).to_contain_text("本机无法显示中文")
    expect(warning).to_contain_text("This kiosk cannot display Chinese")
    expect(warning).to_contain_text("fonts-noto-cjk")
    expect(warning.get_by_role("link", name="重新加载 / Reload")).to_have_attribute("href", "/kiosk/activate")
    expect(page.locator("body")).to_have_attribute("data-cjk-font", "missing")


@pytest.fixture(scope="module")
def browser_without_cjk_fonts(browser, tmp_path_factory):
    """Chromium with a fontconfig that knows only Latin fonts."""
    dirs = [d for d in LATIN_FONT_DIRS if os.path.isdir(d)]
    if not dirs or not shutil.which("fc-list"):
        pytest.skip("needs fontconfig and the DejaVu or Liberation fonts")
    root = tmp_path_factory.mktemp("fonts")
    (root / "fonts.conf").write_text(
        '<?xml version="1.0"?>\n<!DOCTYPE fontconfig SYSTEM "fonts.dtd">\n<fontconfig>\n'
        + "".join(f"  <dir>{d}</dir>\n" for d in dirs)
        + f"  <cachedir>{root / 'cache'}</cachedir>\n</fontconfig>\n",
        encoding="utf-8",
    )
    env = {**os.environ, "FONTCONFIG_FILE": str(root / "fonts.conf")}
    other = browser.browser_type.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS, env=env)
    yield other
    other.close()


def test_a_browser_without_a_cjk_font_warns_the_installer(browser_without_cjk_fonts, live_server):
    context = browser_without_cjk_fonts.new_context(viewport=PORTRAIT, locale="zh-CN")
    try:
        page = context.new_page()
        page.goto(live_server("/kiosk/activate"))
        warning = page.get_by_role("alert")
        expect(warning).to_be_visible()
        expect(warning).to_contain_text("This kiosk cannot display Chinese")
        expect(warning).to_contain_text("sudo apt-get install fonts-noto-cjk")
        expect(page.locator("body")).to_have_attribute("data-cjk-font", "missing")
    finally:
        context.close()
