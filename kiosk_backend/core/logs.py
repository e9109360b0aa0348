"""Logging set-up for the entry points (the ``kiosk`` CLI and ``kiosk_backend.wsgi``).

Modules log through ``logging.getLogger(__name__)``; only entry points decide where the
records go, so importing the package or building an app in a test changes nothing.
"""
from __future__ import annotations

import logging
import os

FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def configure_logging(level: str | None = None) -> None:
    """Send records to stderr at KIOSK_LOG_LEVEL (default INFO); idempotent."""
    chosen = (level or os.environ.get("KIOSK_LOG_LEVEL") or "INFO").upper()
    logging.basicConfig(level=getattr(logging, chosen, logging.INFO), format=FORMAT)
