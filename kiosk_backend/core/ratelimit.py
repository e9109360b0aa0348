"""Rate limits (flask-limiter): who is counted, how much they may do, and where it is counted.

The limiter itself is ``extensions.limiter`` (a :class:`KioskLimiter`, created unbound);
route modules put one of the decorators below under their route decorator:

=====================  ============================================  ==============================
decorator              counts                                        settings (``config.py``)
=====================  ============================================  ==============================
``login``              admin console login POSTs, per username       KIOSK_RATELIMIT_LOGIN_USERNAME
                       (from the form) from one IP, and per IP       KIOSK_RATELIMIT_LOGIN_IP
``enrolment``          enrolment-code claims (browser and API), IP   KIOSK_RATELIMIT_ENROLMENT_IP
``catalog_search``     catalog search, suggest and the kiosk search  KIOSK_RATELIMIT_SEARCH_KIOSK
                       page, per kiosk and per IP (one budget for    KIOSK_RATELIMIT_SEARCH_IP
                       the three)
``qr_challenge``       QR login codes a kiosk shows, per kiosk       KIOSK_RATELIMIT_QR_KIOSK
``qr_login``           QR login scans, confirms and denials (phone   KIOSK_RATELIMIT_QR_RESIDENT
                       pages and mini-app API, one budget), per      KIOSK_RATELIMIT_QR_IP
                       resident and per IP
``token_exchange``     resident logins (an ID token or demo choice   KIOSK_RATELIMIT_TOKEN_IP
                       for a session: mini-app API and phone pages,
                       one budget), per IP
``progress_lookup``    progress lookups without login (application   KIOSK_RATELIMIT_LOOKUP_KIOSK
                       number + last 4 characters: kiosk page,       KIOSK_RATELIMIT_LOOKUP_IP
                       phone page, mini-app API; one budget), per    KIOSK_RATELIMIT_LOOKUP_NUMBER
                       kiosk, per IP and per application number
``check``              called by a view once it knows who: resident  KIOSK_RATELIMIT_TOKEN_RESIDENT
                       logins per resident (after the token is
                       verified, so nobody can spend another's)
=====================  ============================================  ==============================

Limits are read from the app's config on every request, so each app (and each test app)
has its own. Counters live in ``RATELIMIT_STORAGE_URI``: ``memory://`` in the embedded
default, Redis (``KIOSK_REDIS_URL``) when several app servers must share them. A refused
request raises flask-limiter's ``RateLimitExceeded`` (a werkzeug 429), which core.errors
renders in the one error shape; the limiter adds ``Retry-After``.

Key functions never query the database: the kiosk is identified by a digest of the
credential it sends, the IP by :func:`core.requests.client_ip`.
"""
from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Callable

from flask import Flask, current_app, has_app_context, request
from flask_limiter import Limiter
from limits import parse_many
from limits.storage import storage_from_string
from limits.strategies import STRATEGIES, RateLimiter
from werkzeug.exceptions import TooManyRequests

from .kiosk_shell import credential_from_request

log = logging.getLogger(__name__)
_APP_STATE = "kiosk_ratelimit"


# ---------------------------------------------------------------- keys

def by_ip() -> str:
    # Imported here: core.requests imports extensions, which imports this module.
    from .requests import client_ip

    return f"ip:{client_ip() or 'unknown'}"


def by_username_and_ip() -> str:
    """The username typed into the login form, case-folded, from one IP. Not the username
    alone: guesses from anywhere would then shut its owner out everywhere. (Failed logins
    are also counted, with backoff, in the database: identity/throttle.py.)"""
    from .requests import client_ip

    return f"user:{request.form.get('username', '').strip().casefold()[:64]}@{client_ip() or 'unknown'}"


def by_kiosk() -> str:
    """The kiosk as the owner of the credential it sends, without asking the database: a
    digest, so that no credential is written to the limit store."""
    return "kiosk:" + hashlib.sha256((credential_from_request() or "").encode()).hexdigest()[:32]


def _no_kiosk() -> bool:
    return credential_from_request() is None  # phones and browsers without a credential: the IP limit still applies


def setting(name: str) -> Callable[[], str]:
    """The limit string in config ``name`` of the current app (``"10 per minute;50 per hour"``)."""
    return lambda: current_app.config[name]


# ---------------------------------------------------------------- decorators

def _limit(view, name: str, key_func, *, scope: str | None = None, methods=None, exempt_when=None):
    from ..extensions import limiter  # the route modules are imported after extensions

    if scope is None:
        decorator = limiter.limit(setting(name), key_func=key_func, methods=methods, exempt_when=exempt_when)
    else:
        decorator = limiter.shared_limit(setting(name), scope, key_func=key_func, methods=methods,
                                         exempt_when=exempt_when)
    return decorator(view)


def login(view):
    """Admin console login: POSTs only, per (username, IP) and per IP, independently."""
    view = _limit(view, "KIOSK_RATELIMIT_LOGIN_IP", by_ip, methods=["POST"])
    return _limit(view, "KIOSK_RATELIMIT_LOGIN_USERNAME", by_username_and_ip, methods=["POST"])


def enrolment(view):
    """Enrolment-code claims per IP; the browser page and the API share one budget."""
    return _limit(view, "KIOSK_RATELIMIT_ENROLMENT_IP", by_ip, scope="enrolment", methods=["POST"])


def catalog_search(view):
    """Catalog search per kiosk and per IP; API search, suggest and the kiosk page share one budget."""
    view = _limit(view, "KIOSK_RATELIMIT_SEARCH_IP", by_ip, scope="catalog-search")
    return _limit(view, "KIOSK_RATELIMIT_SEARCH_KIOSK", by_kiosk, scope="catalog-search", exempt_when=_no_kiosk)


def by_resident() -> str:
    """The resident of this request (``g.resident``, set by the phone pages' session or the
    mini-app's token before the view runs: put the decorator under the login decorator)."""
    from flask import g

    resident = getattr(g, "resident", None)
    return f"resident:{resident.id if resident is not None else 'none'}"


def _no_resident() -> bool:
    from flask import g

    return getattr(g, "resident", None) is None


def qr_challenge(view):
    """QR login codes per kiosk: the login screen (each open and each refresh makes one)."""
    return _limit(view, "KIOSK_RATELIMIT_QR_KIOSK", by_kiosk, scope="qr-challenge")


def qr_login(view):
    """QR login scans, confirms and denials per resident and per IP; the phone pages and the
    mini-app API share one budget. Under the login decorator, so the resident is known."""
    view = _limit(view, "KIOSK_RATELIMIT_QR_IP", by_ip, scope="qr-login")
    return _limit(view, "KIOSK_RATELIMIT_QR_RESIDENT", by_resident, scope="qr-login", exempt_when=_no_resident)


def token_exchange(view):
    """Resident logins per IP; the mini-app's token exchange and the phone pages' logins
    share one budget. Per resident: :func:`check` with KIOSK_RATELIMIT_TOKEN_RESIDENT."""
    return _limit(view, "KIOSK_RATELIMIT_TOKEN_IP", by_ip, scope="resident-token", methods=["POST"])


def by_application_number() -> str:
    """The application number a lookup asks about (in the path, else the form field, query or
    JSON ``number``), blanks removed and upper-cased as the service normalises it: guessing
    the last 4 characters of one application from many kiosks and addresses still meets one
    budget."""
    value = (request.view_args or {}).get("number") or request.values.get("number")
    if value is None and request.is_json:
        body = request.get_json(silent=True)
        value = body.get("number") if isinstance(body, dict) else None
    number = "".join(str(value or "").split()).upper()[:40]
    return f"number:{number}"


def _no_number() -> bool:
    return by_application_number() == "number:"


def progress_lookup(view):
    """Progress lookups without login, per kiosk, per IP and per application number; the
    kiosk page, the phone page and the mini-app API share one budget. POSTs only (the form
    itself is free to show)."""
    view = _limit(view, "KIOSK_RATELIMIT_LOOKUP_IP", by_ip, scope="progress-lookup", methods=["POST"])
    view = _limit(view, "KIOSK_RATELIMIT_LOOKUP_NUMBER", by_application_number, scope="progress-lookup-number",
                  methods=["POST"], exempt_when=_no_number)
    return _limit(view, "KIOSK_RATELIMIT_LOOKUP_KIOSK", by_kiosk, scope="progress-lookup", methods=["POST"],
                  exempt_when=_no_kiosk)


def check(name: str, key: str) -> None:
    """Count one request against the limits in config ``name`` for ``key`` (a limit a view
    applies once it knows who is asking, e.g. a resident after their ID token is verified);
    raises werkzeug's TooManyRequests (429 with Retry-After) when one is exceeded. Counted
    where the decorators count (memory or Redis); a failing store lets the request through
    and is logged, as for the decorators."""
    if _switched_off():
        return
    from ..extensions import limiter

    strategy = limiter.limiter
    scope = name.removeprefix("KIOSK_RATELIMIT_").lower()
    try:
        for item in parse_many(current_app.config[name]):
            if not strategy.hit(item, scope, key):
                reset = strategy.get_window_stats(item, scope, key).reset_time
                raise TooManyRequests(f"{item}", retry_after=max(1, int(reset - time.time()) + 1))
    except TooManyRequests:
        raise
    except Exception:
        log.warning("rate limit store failed; %s not counted", name, exc_info=True)


# ---------------------------------------------------------------- the limiter

def _switched_off() -> bool:
    return not current_app.config.get("KIOSK_RATELIMIT_ENABLED", True)


class KioskLimiter(Limiter):
    """flask-limiter's Limiter with its storage per app rather than per process.

    One Limiter object is shared by every app made in a process (the decorators bind to it
    at import), but flask-limiter keeps the storage on the object: the last ``init_app``
    would win. Here each app keeps its own storage and strategy in ``app.extensions``,
    and ``KIOSK_RATELIMIT_ENABLED`` is read per request for the same reason.

    When the shared store (Redis) fails, each app server falls back to counting in memory
    and checks the store again with backoff; errors are logged, never shown to kiosks.
    """

    def __init__(self) -> None:
        super().__init__(key_func=by_ip, headers_enabled=True, swallow_errors=True, in_memory_fallback_enabled=True)
        self.request_filter(_switched_off)

    def init_app(self, app: Flask) -> None:
        config = app.config
        config["RATELIMIT_ENABLED"] = True  # the switch is KIOSK_RATELIMIT_ENABLED, read per request
        super().init_app(app)
        storage = storage_from_string(config["RATELIMIT_STORAGE_URI"], **config.get("RATELIMIT_STORAGE_OPTIONS", {}))
        app.extensions[_APP_STATE] = STRATEGIES[config.get("RATELIMIT_STRATEGY", "fixed-window")](storage)

    def _app_strategy(self) -> RateLimiter | None:
        return current_app.extensions.get(_APP_STATE) if has_app_context() else None

    @property
    def limiter(self) -> RateLimiter:
        if self._storage_dead and self._fallback_limiter is not None:
            return self._fallback_limiter
        return self._app_strategy() or super().limiter

    @property
    def storage(self):
        strategy = self._app_strategy()
        return strategy.storage if strategy is not None else super().storage
