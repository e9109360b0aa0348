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
from collections.abc import Callable

from flask import Flask, current_app, has_app_context, request
from flask_limiter import Limiter
from limits.storage import storage_from_string
from limits.strategies import STRATEGIES, RateLimiter

from .kiosk_shell import credential_from_request

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
