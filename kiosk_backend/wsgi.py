"""Entry point for WSGI servers: ``gunicorn kiosk_backend.wsgi:app``.

Entry points configure logging (create_app leaves it alone, so tests and embedding
applications keep their own): one line per record on stderr, which gunicorn and
systemd collect. KIOSK_LOG_LEVEL sets the level (default INFO).
"""
from __future__ import annotations

from .app import create_app
from .config import check_production_config
from .core.logs import configure_logging

configure_logging()
app = create_app()
check_production_config(app.config)  # e.g. no KIOSK_PUBLIC_URL: stop here with a clear message
