"""axe-core on every main screen of every device profile (each in its own screen size, with
a kiosk of that profile), normal and elder mode; on the kiosk's own screens (activation,
waiting for authorization, maintenance); and on the admin console: no serious or critical
violations. Screenshots of the kiosk-state screens and the console go to
test-artifacts/screenshots/.

axe.min.js comes inside the axe-playwright-python wheel and is injected with
page.evaluate (which the page's CSP does not apply to): nothing is fetched from the network.
The open overlays (idle countdown, remote message, offline notice) are checked too, since
they are shown over any screen.
"""
from __future__ import annotations

import pytest

from .browser_support import BANK, COMMUNITY, OPEN_SITE, POST_OFFICE, enrol, ensure_site, expect, main_screens

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


# (profile, elder): None is the profile's default, which is elder mode on the community tablet;
# elder mode's colours and structure are the same on every screen, so one profile checks it.
MODES = [(POST_OFFICE, False), (BANK, False), (COMMUNITY, None)]


@pytest.mark.parametrize("profile, elder", MODES, ids=["post-office", "bank", "tablet-elder"])
def test_no_screen_has_serious_accessibility_violations(new_page, live_server, axe, profile, elder):
    page = new_page(kiosk=profile)
    page.goto(live_server("/kiosk/" if elder is None else f"/kiosk/?elder={int(elder)}"))
    if elder is None:
        assert "elder" in page.locator("body").get_attribute("class").split()
    problems = []
    for name, path in main_screens(profile).items():
        page.goto(live_server(path))
        problems += [f"{name}: {v}" for v in _blocking_violations(axe, page)]
    assert not problems, "\n".join(problems)


def test_the_overlays_are_accessible(new_page, live_server, axe):
    page = new_page(kiosk=POST_OFFICE)
    page.goto(live_server(main_screens()["guide"]))
    page.evaluate("document.getElementById('message-text').textContent = '本机将于 18:00 暂停服务'")
    problems = []
    for overlay in ("idle-overlay", "message-overlay", "offline-overlay"):
        page.evaluate("id => { document.getElementById(id).hidden = false; }", overlay)
        problems += [f"{overlay}: {v}" for v in _blocking_violations(axe, page)]
        page.evaluate("id => { document.getElementById(id).hidden = true; }", overlay)
    assert not problems, "\n".join(problems)


def test_the_kiosk_state_screens_are_accessible(new_page, live_server, kiosk_app, axe, screenshot_dir):
    """Activation (no credential), waiting for authorization, maintenance."""
    from kiosk_backend.extensions import db
    from kiosk_backend.fleet.models import Kiosk

    pending = enrol(kiosk_app, POST_OFFICE, authorized=False)
    in_maintenance = enrol(kiosk_app, BANK)
    with kiosk_app.app_context():
        ensure_site(db.session, **OPEN_SITE)
        db.session.get(Kiosk, in_maintenance.id).maintenance = True
        db.session.commit()
        db.session.remove()

    problems = []
    screens = [("activate", None, "激活本终端"), ("pending", pending, "等待管理员授权"),
               ("maintenance", in_maintenance, "暂停服务")]
    for name, kiosk, heading in screens:
        page = new_page(kiosk=kiosk)
        page.goto(live_server("/kiosk/"))
        expect(page.get_by_role("heading", level=1)).to_contain_text(heading)
        page.screenshot(path=screenshot_dir / f"kiosk-{name}-{kiosk.profile if kiosk else POST_OFFICE}.png")
        problems += [f"{name}: {v}" for v in _blocking_violations(axe, page)]
    assert not problems, "\n".join(problems)


def test_axe_is_loaded_from_the_package_not_the_network(new_page, live_server, axe):
    page = new_page(kiosk=POST_OFFICE)
    requests = []
    page.on("request", lambda request: requests.append(request.url))
    page.goto(live_server("/kiosk/help"))
    before = len(requests)
    axe.run(page)
    assert page.evaluate("axe.version").startswith("4.")
    # The kiosk's own heartbeat (1 s after loading) may fall inside a slow axe run: not axe's.
    # Nor is the page's icon, which the browser fetches after the page has loaded.
    own = ("/api/v1/kiosk/heartbeat", "/kiosk/ping", "/favicon.svg")
    assert [url for url in requests[before:] if not url.endswith(own)] == []
