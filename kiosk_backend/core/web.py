"""Request handling shared by the HTML surfaces: language, elder mode, security headers."""
from __future__ import annotations

import re
from urllib.parse import urlsplit

from flask import Flask, Response, g, request
from werkzeug.routing import IntegerConverter

from .clock import LOCAL_TZ
from .errors import Forbidden
from .i18n import LANGUAGES, negotiate_language, translate

# No inline script or style anywhere: every page loads its JS and CSS from /static.
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; "
    "connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'self'; "
    "form-action 'self'; frame-ancestors 'none'"
)


def _before_request() -> None:
    if request.path.startswith("/api/"):
        return  # JSON clients get both languages in every error; no cookies to read
    if request.method not in SAFE_METHODS and not same_origin():
        # Forms posted from another site: the console login and kiosk activation have no
        # session (so no CSRF token) yet, and browsers always say where a POST comes from.
        raise Forbidden("This form was sent from another site.", "该表单来自其他网站，已拒绝。")
    asked = request.args.get("lang") or request.cookies.get("lang") or request.accept_languages.best_match(
        ["zh-CN", "zh", "en"]
    )
    g.lang = negotiate_language(asked)
    elder = request.args.get("elder")
    g.elder = elder == "1" if elder is not None else request.cookies.get("elder") == "1"


SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def same_origin() -> bool:
    """Whether the browser says this request comes from our own pages. ``Origin`` first, else
    ``Referer``; a client that sends neither (scripts, old browsers) is not a browser on
    another site, and the console's own CSRF token still applies to it."""
    source = request.headers.get("Origin") or request.headers.get("Referer")
    if not source:
        return True
    if source == "null":  # sandboxed frames, file:// pages, some redirects: never ours
        return False
    parts = urlsplit(source)
    return (parts.scheme, parts.netloc) == (request.scheme, request.host)


def _after_request(response: Response) -> Response:
    headers = response.headers
    headers.setdefault("X-Content-Type-Options", "nosniff")
    # Same-origin only: the kiosk's 返回 button uses it; nothing leaves the host.
    headers.setdefault("Referrer-Policy", "same-origin")
    if response.mimetype == "text/html":
        headers.setdefault("Content-Security-Policy", CSP)
        headers.setdefault("X-Frame-Options", "DENY")
        # Kiosks are shared screens: never let the back button or a cache show a page again.
        headers["Cache-Control"] = "no-store"
    if request.is_secure:
        # Served over HTTPS (directly or through a trusted proxy, see KIOSK_PROXY_COUNT): stay there.
        headers.setdefault("Strict-Transport-Security", "max-age=31536000")
    # Persist explicit choices made through ?lang= / ?elder= so later pages follow them.
    if "lang" in request.args and request.args["lang"] in LANGUAGES:
        response.set_cookie("lang", request.args["lang"], samesite="Lax", httponly=True)
    if request.args.get("elder") in ("0", "1"):
        response.set_cookie("elder", request.args["elder"], samesite="Lax", httponly=True)
    return response


def _device_setting(name: str):
    """A UI setting of the kiosk asking: its own (sent by apply_settings), else its device
    profile's, else None (not a kiosk)."""
    kiosk, profile = getattr(g, "kiosk", None), getattr(g, "profile", None)
    settings = (kiosk.settings or {}) if kiosk is not None else {}
    if name in settings:
        return settings[name]
    return getattr(profile.ui, name) if profile is not None else None


def _elder_mode() -> bool:
    """Elder mode as chosen on this screen, else the kiosk's default."""
    if request.args.get("elder") in ("0", "1") or request.cookies.get("elder") in ("0", "1"):
        return getattr(g, "elder", False)
    return bool(_device_setting("elder_mode_default")) or getattr(g, "elder", False)


def _language() -> str:
    """The negotiated language, unless this kiosk's profile does not offer it."""
    lang = getattr(g, "lang", "zh-CN")
    profile = getattr(g, "profile", None)
    if profile is not None and lang not in profile.ui.languages:
        return "zh-CN"
    return lang


def _template_context() -> dict:
    lang = _language()
    scale = _device_setting("font_scale") or 1.0
    return {
        "lang": lang,
        "elder": _elder_mode(),
        # font scale as a class (no inline styles under the CSP): fs-12 = 1.2 ×
        "font_scale_class": f"fs-{int(round(float(scale) * 10))}",
        "t": lambda key, **kw: translate(key, lang, **kw),
        "t_in": lambda language, key, **kw: translate(key, language, **kw),  # a string in another language
    }


_STEP_NUMBER = re.compile(r"^\s*(?:第[一二三四五六七八九十]+步|\d{1,2})\s*[.、．:：）)]?\s*")


def strip_step_number(step: str) -> str:
    """Steps are shown in a numbered list; drop the numbers data files already carry."""
    return _STEP_NUMBER.sub("", step, count=1)


def dict_without(args, *keys: str) -> dict:
    """Query arguments without ``keys``, for links that change one of them."""
    return {k: v for k, v in args.items() if k not in keys}


def understood(notes: list[str], lang: str) -> str:
    """How a query was understood, for people: the words searched for, not the rewrites
    (``["社保→社会保险", "社保→社会保障"]`` → ``“社会保险”“社会保障”``)."""
    words = list(dict.fromkeys(note.split("→")[-1] for note in notes))
    return ", ".join(words) if lang == "en" else "”“".join(words)


def local_time(moment) -> str:
    """Times are stored in UTC and shown in China Standard Time."""
    return moment.astimezone(LOCAL_TZ).strftime("%Y-%m-%d %H:%M:%S") if moment else ""


def holiday_line(holiday: dict) -> str:
    return f"{holiday['date']} {'班' if holiday.get('open') else '休'} {holiday.get('note', '')}".rstrip()


class DatabaseId(IntegerConverter):
    """``<int:…>`` in every route: an id that cannot be in an INTEGER column (over 2^31 - 1,
    PostgreSQL's limit and far beyond any row) matches no route — a 404 like any unknown id,
    instead of an overflow inside the database driver."""

    def __init__(self, map, fixed_digits: int = 0, min: int | None = None, max: int | None = 2**31 - 1,  # MAX_ID
                 signed: bool = False):
        super().__init__(map, fixed_digits, min, max, signed)


MAX_ID = 2**31 - 1


def db_id(text: str) -> int:
    """An id from a query string or form (``request.args.get("site", type=db_id)``): a whole
    number a row can have, else ValueError, which ``get(type=…)`` turns into "not given"."""
    value = int(text)
    if not 0 < value <= MAX_ID:
        raise ValueError(f"{text!r} is not an id")
    return value


def init_app(app: Flask) -> None:
    app.url_map.converters["int"] = DatabaseId
    app.jinja_env.filters["local_time"] = local_time
    app.jinja_env.filters["holiday_line"] = holiday_line
    app.jinja_env.filters["understood"] = understood
    app.jinja_env.filters["strip_step_number"] = strip_step_number
    app.jinja_env.filters["dict_without"] = dict_without
    app.before_request(_before_request)
    app.after_request(_after_request)
    app.context_processor(_template_context)
    # Browsers and tools ask for /favicon.ico whatever a page links: the emblem, not a 404.
    app.add_url_rule("/favicon.ico", "favicon", lambda: app.send_static_file("favicon.ico"))
