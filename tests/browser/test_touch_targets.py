"""Touch targets and type sizes of UX.md, measured in the browser.

Targets: ≥ 44 × 44 CSS px normally, ≥ 60 × 60 in elder mode (长辈版), and no two targets
overlapping. Every visible link, button, input, <summary> and checkbox (measured through
its <label>: the box itself is visually hidden) counts. Links inside a sentence would be
exempt (WCAG 2.5.8 "inline"), but the kiosk has none: the test fails if one appears, so
that somebody decides whether it should be a button instead.

Text: every element with text of its own ≥ 24 px normally, ≥ 30 px in elder mode, line
height ≥ 1.3.
"""
from __future__ import annotations

from urllib.parse import quote

import pytest

from .browser_support import COMMUNITY, GUIDE_CODE, MEASURE_TARGETS, MEASURE_TEXT, POST_OFFICE, describe, overlapping

pytestmark = pytest.mark.browser

PAGES = {
    "home": "/kiosk/",
    "search": "/kiosk/search?q=" + quote("社保"),
    "guide": f"/kiosk/items/{GUIDE_CODE}",
}
LIMITS = {  # mode: (target px, body text px)
    "normal": (44, 24),
    "elder": (60, 30),
}


# Each profile in its own screen size with a kiosk of that profile. Landscape bank kiosks share
# the tablet's layout rules with more room; the tablet is the tight case.
@pytest.mark.parametrize("profile", [POST_OFFICE, COMMUNITY])
@pytest.mark.parametrize("mode", ["normal", "elder"])
def test_every_target_is_big_enough_and_every_text_readable(new_page, live_server, mode, profile):
    target_min, text_min = LIMITS[mode]
    page = new_page(kiosk=profile)
    problems = []
    for name, path in PAGES.items():
        page.goto(live_server(path + ("&" if "?" in path else "?") + f"elder={'1' if mode == 'elder' else '0'}"))
        assert ("elder" in page.locator("body").get_attribute("class").split()) == (mode == "elder")

        targets = page.evaluate(MEASURE_TARGETS)
        assert len(targets) >= 5, f"{name}: no targets found"
        for t in targets:
            if t["inSentence"]:
                problems.append(f"{name}: link inside a sentence {describe(t)}: make it a button or a block link")
            elif t["width"] < target_min or t["height"] < target_min:
                problems.append(f"{name}: {describe(t)} is {t['width']:.0f}×{t['height']:.0f} px, "
                                f"needs ≥ {target_min}×{target_min}")
        for a, b in overlapping(targets):
            problems.append(f"{name}: {describe(a)} overlaps {describe(b)}")

        body_size = float(page.evaluate("parseFloat(getComputedStyle(document.body).fontSize)"))
        if body_size < text_min:
            problems.append(f"{name}: body font-size {body_size}px < {text_min}px")
        for t in page.evaluate(MEASURE_TEXT):
            if t["fontSize"] < text_min - 0.01:
                problems.append(f"{name}: {describe(t)} font-size {t['fontSize']}px < {text_min}px")
            if t["lineHeight"] < 1.3:
                problems.append(f"{name}: {describe(t)} line-height {t['lineHeight']} < 1.3")
    assert not problems, f"{len(problems)} problems:\n" + "\n".join(problems)
