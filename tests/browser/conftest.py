"""Browser tests: real Chromium (Debian's /usr/bin/chromium) driven by Playwright's sync API.

One live server (werkzeug, background thread) serves an app loaded with the demo catalog.
One browser per session, a fresh context (cookies, storage, service workers) per test.

Every /kiosk page needs an enrolled, authorized kiosk: each new context gets the credential
cookie of a kiosk (by default the shared kiosk of the profile asked for, enrolled once per
session), and its viewport is that profile's screen. ``new_page(kiosk=None)`` is a browser
that was never enrolled.

No Chromium: the tests are skipped with the reason, except in CI (``CI=true``), where a
missing browser is an error: CI must run them.
"""
from __future__ import annotations

import os

import pytest

from .browser_support import ARTIFACTS, CHROMIUM, CHROMIUM_ARGS, POST_OFFICE, SCREENS, Enrolled, LiveServer, enrol


def _unavailable(reason: str):
    if os.environ.get("CI") == "true":
        pytest.fail(f"browser tests must run in CI: {reason}", pytrace=False)
    pytest.skip(reason)


# ------------------------------------------------------------------ live servers

def _app_with_demo_catalog(make_app, **config):
    from kiosk_backend.catalog import services
    from kiosk_backend.extensions import db

    app = make_app(**config)
    with app.app_context():
        services.load_demo_catalog(db.session)
        db.session.commit()
        db.session.remove()
    return app


@pytest.fixture(scope="session")
def kiosk_app(make_app):
    return _app_with_demo_catalog(make_app)


@pytest.fixture(scope="session")
def live_server(kiosk_app):
    server = LiveServer(kiosk_app)
    yield server
    server.stop()


@pytest.fixture(scope="session")
def kiosks(kiosk_app):
    """``kiosks(profile)``: the session's shared authorized kiosk of ``profile`` (enrolled on
    first use). Tests that change a kiosk's state (maintenance, settings) enrol their own."""
    shared: dict[str, Enrolled] = {}

    def _get(profile: str = POST_OFFICE) -> Enrolled:
        if profile not in shared:
            shared[profile] = enrol(kiosk_app, profile)
        return shared[profile]

    return _get


@pytest.fixture(scope="session")
def idle_kiosk(kiosk_app):
    """A post-office kiosk with a short idle time (5 s, the least the kiosk JS accepts) and
    the shortest allowed warning, written straight into its settings (apply_settings itself
    accepts 30 s at least)."""
    return enrol(kiosk_app, POST_OFFICE, settings={"idle_timeout_seconds": 5, "idle_warning_seconds": 20})


# ------------------------------------------------------------------ browser

@pytest.fixture(scope="session")
def browser():
    if not os.path.exists(CHROMIUM):
        _unavailable(f"Chromium not found at {CHROMIUM} (apt-get install chromium)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError as exc:  # pragma: no cover - depends on the environment
        _unavailable(f"playwright is not installed: {exc}")
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def new_page(browser, kiosks):
    """``new_page(viewport=None, kiosk=POST_OFFICE, **context_options)``: a page in a fresh context.

    ``kiosk`` is a profile name (the shared kiosk of that profile), an ``Enrolled`` kiosk, or
    None (no credential: every kiosk page redirects to the activation screen). The viewport
    defaults to the kiosk profile's screen.

    Service workers are blocked unless a test asks for them (``service_workers="allow"``):
    they are what the offline tests test, and elsewhere they only add requests.

    Every page records console errors and CSP violations; a test fails if any occurred
    (the CSP forbids inline script and style, so a violation is a real bug).
    """
    contexts = []
    problems: list[str] = []

    def _new(viewport: dict | None = None, *, kiosk: str | Enrolled | None = POST_OFFICE, **context_options):
        if isinstance(kiosk, str):
            kiosk = kiosks(kiosk)
        viewport = viewport or SCREENS[kiosk.profile if kiosk else POST_OFFICE]
        context_options.setdefault("locale", "zh-CN")
        context_options.setdefault("service_workers", "block")
        context = browser.new_context(viewport=viewport, **context_options)
        context.set_default_timeout(10_000)
        if kiosk is not None:
            context.add_cookies([kiosk.cookie()])
        contexts.append(context)
        page = context.new_page()
        page.on("pageerror", lambda exc: problems.append(f"page error: {exc}"))
        page.on("console", lambda msg: problems.append(f"console {msg.type}: {msg.text}")
                if msg.type == "error" and _counts_as_error(msg.text) else None)
        return page

    yield _new
    for context in contexts:
        context.close()
    assert not problems, "errors in the browser console:\n" + "\n".join(problems)


def _counts_as_error(text: str) -> bool:
    # Resource failures that a test provokes on purpose (aborted pings, a stopped server)
    # are expected; CSP violations and script errors are not.
    expected = ("net::ERR_FAILED", "net::ERR_CONNECTION_REFUSED", "Failed to load resource")
    return not any(marker in text for marker in expected)


@pytest.fixture(scope="session")
def screenshot_dir():
    path = ARTIFACTS / "screenshots"
    path.mkdir(parents=True, exist_ok=True)
    return path


@pytest.fixture(scope="session")
def axe():
    """axe-core from the axe-playwright-python package: the script ships inside the wheel,
    so injecting it needs no network."""
    from axe_playwright_python import base
    from axe_playwright_python.sync_playwright import Axe

    assert base.AXE_FILE_PATH.is_file(), "axe.min.js is not bundled with axe-playwright-python"
    return Axe()


ADMIN = {"username": "admin", "password": "correct horse battery"}


@pytest.fixture(scope="session")
def admin_account(kiosk_app):
    """An admin account on the live server (made once per session)."""
    from kiosk_backend.core.actors import SYSTEM
    from kiosk_backend.extensions import db
    from kiosk_backend.identity import services as identity

    with kiosk_app.app_context():
        identity.create_staff(db.session, role="admin", actor=SYSTEM, **ADMIN)
        db.session.commit()
        db.session.remove()
    return ADMIN
