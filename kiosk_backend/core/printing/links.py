"""Absolute URLs put into QR codes (printouts, the guide page's phone QR, activation QRs).

A phone that scans a printout must reach the server at an address it can route to, which
the address the kiosk used (often ``127.0.0.1``, an internal host name or a LAN address
behind a proxy) usually is not. ``KIOSK_PUBLIC_URL`` says which address phones use.

Without it, the request's own host is used only where that is expected to be wrong in a
harmless way: the demo (a warning is logged once) and tests. In production a QR is
refused with :class:`PublicUrlMissing` (503) instead of printing a code nobody can open;
``kiosk_backend.wsgi`` refuses to start without it (config.check_production_config).
"""
from __future__ import annotations

import logging

from flask import current_app, request

from ..errors import DomainError

__all__ = ["PublicUrlMissing", "host_fallback_allowed", "public_url"]

log = logging.getLogger(__name__)


class PublicUrlMissing(DomainError):
    """KIOSK_PUBLIC_URL is not set in production: a QR code would point at an unroutable host."""

    status_code = 503


def host_fallback_allowed(config) -> bool:
    """May QR codes fall back to the request's host? Only in the demo and in tests."""
    return bool(config.get("KIOSK_DEMO") or config.get("TESTING"))


def public_url(path: str) -> str:
    """``path`` (starting with "/") on the public base URL phones use.

    Raises PublicUrlMissing when KIOSK_PUBLIC_URL is unset outside the demo and tests.
    """
    config = current_app.config
    base = (config.get("KIOSK_PUBLIC_URL") or "").strip()
    if not base:
        if not host_fallback_allowed(config):
            raise PublicUrlMissing(
                "QR codes need KIOSK_PUBLIC_URL (the address phones use to reach this server); it is not set.",
                "未设置 KIOSK_PUBLIC_URL（手机访问本服务的地址），无法生成二维码，请联系管理员。")
        base = request.url_root
        if config.get("KIOSK_DEMO") and not current_app.extensions.get("kiosk_public_url_warned"):
            current_app.extensions["kiosk_public_url_warned"] = True
            log.warning("KIOSK_PUBLIC_URL is not set: QR codes point at %s, which a phone may not reach", base)
    return base.rstrip("/") + path
