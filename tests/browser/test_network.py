"""Kiosks sit on government networks: no screen may reach beyond its own backend (no CDN
fonts, analytics or map tiles), and every resource a screen asks for must load."""
from __future__ import annotations

from urllib.parse import urlsplit

import pytest

from .browser_support import PORTRAIT, main_screens

pytestmark = pytest.mark.browser


def test_no_request_leaves_the_kiosk_host_and_every_resource_loads(new_page, live_server):
    page = new_page(PORTRAIT, service_workers="allow")  # the service worker's requests count too
    requests, broken = [], []
    page.context.on("request", lambda r: requests.append((current[0], r.url)))
    # The page icon is fetched after a page has loaded; going on to the next screen at once
    # cancels it (ERR_ABORTED). A missing icon would still show up as a 404 below.
    page.context.on("requestfailed", lambda r: None if r.url.endswith("/favicon.svg") and "ERR_ABORTED" in (r.failure or "")
                    else broken.append(f"{current[0]}: {r.url} failed ({r.failure})"))
    page.context.on("response", lambda r: broken.append(f"{current[0]}: {r.url} → {r.status}")
                    if r.status >= 400 and r.url != live_server(main_screens()["not-found"]) else None)
    current = ["-"]
    for name, path in main_screens().items():
        current[0] = name
        page.goto(live_server(path))
    # Search as you type fetches too.
    current[0] = "typing"
    page.goto(live_server("/kiosk/search"))
    page.get_by_role("button", name="医保", exact=True).click()
    page.locator("#results-box a.result").first.wait_for()
    page.wait_for_load_state("networkidle")

    screens = {name for name, _ in requests}
    assert screens >= set(main_screens()), "some screens made no request at all?"
    outside = [f"{name}: {url}" for name, url in requests
               if not url.startswith(("data:", "blob:")) and urlsplit(url).hostname != "127.0.0.1"]
    assert not outside, "requests leaving the kiosk:\n" + "\n".join(outside)
    assert not broken, "resources that did not load:\n" + "\n".join(broken)
