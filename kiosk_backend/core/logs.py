"""Logging set-up for the entry points (the ``kiosk`` CLI and ``kiosk_backend.wsgi``).

Modules log through ``logging.getLogger(__name__)``; only entry points decide where the
records go, so importing the package or building an app in a test changes nothing.
"""
from __future__ import annotations

import logging
import os

FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def configure_logging(level: str | None = None) -> None:
    """Send records to stderr at ``level``, else KIOSK_LOG_LEVEL, else INFO (an unknown
    name counts as INFO). Idempotent; a handler already on the root logger (a server's
    log config) is kept instead of adding ours, but the level is always applied."""
    chosen = (level or os.environ.get("KIOSK_LOG_LEVEL") or "INFO").strip().upper()
    logging.basicConfig(format=FORMAT)  # no-op when the root logger has a handler already
    logging.getLogger().setLevel(logging.getLevelNamesMapping().get(chosen, logging.INFO))
