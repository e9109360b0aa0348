"""axe-core on every main screen, normal and elder mode: no serious or critical violations.

axe.min.js comes inside the axe-playwright-python wheel and is injected with
page.evaluate (which the page's CSP does not apply to): nothing is fetched from the network.
The open overlays (idle countdown, offline notice) are checked too, since they are shown
over any screen.
"""
from __future__ import annotations

import pytest

from .browser_support import LANDSCAPE, PORTRAIT, main_screens

pytestmark = pytest.mark.browser

BLOCKING = {"serious", "critical"}


def _blocking_violations(axe, page) -> list[str]:
    results = axe.run(page)
    found = []
    for violation in results.response["violations"]:
        if violation["impact"] in BLOCKING:
            targets = "; ".join(", ".join(map(str, node["target"])) for node in violation["nodes"][:5])
            found.append(f"{violation['id']} ({violation['impact']}, {len(violation['nodes'])} nodes): "
                         f"{violation['help']} — {targets}")
    return found


@pytest.mark.parametrize("elder", [False, True], ids=["normal", "elder"])
def test_no_screen_has_serious_accessibility_violations(new_page, live_server, axe, elder):
    page = new_page(PORTRAIT if elder else LANDSCAPE)
    page.goto(live_server(f"/kiosk/?elder={int(elder)}"))
    problems = []
    for name, path in main_screens().items():
        page.goto(live_server(path))
        problems += [f"{name}: {v}" for v in _blocking_violations(axe, page)]
    assert not problems, "\n".join(problems)


def test_the_idle_and_offline_overlays_are_accessible(new_page, live_server, axe):
    page = new_page(PORTRAIT)
    page.goto(live_server(main_screens()["guide"]))
    problems = []
    for overlay in ("idle-overlay", "offline-overlay"):
        page.evaluate("id => { document.getElementById(id).hidden = false; }", overlay)
        problems += [f"{overlay}: {v}" for v in _blocking_violations(axe, page)]
        page.evaluate("id => { document.getElementById(id).hidden = true; }", overlay)
    assert not problems, "\n".join(problems)


def test_axe_is_loaded_from_the_package_not_the_network(new_page, live_server, axe):
    page = new_page(PORTRAIT)
    requests = []
    page.on("request", lambda request: requests.append(request.url))
    page.goto(live_server("/kiosk/help"))
    before = len(requests)
    axe.run(page)
    assert page.evaluate("axe.version").startswith("4.")
    assert requests[before:] == []
