"""Courier's background jobs (registered with core.tasks on import)."""
from __future__ import annotations

from . import models  # noqa: F401  (the tables are part of the schema wherever jobs are registered)
