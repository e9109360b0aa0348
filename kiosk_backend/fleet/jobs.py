"""The fleet's background jobs (registered with core.tasks on import)."""
from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta
from typing import Any

from sqlalchemy.orm import Session

from ..core import tasks
from . import services


@tasks.periodic("fleet.offline_alerts", every=timedelta(minutes=1))
def check_offline_kiosks(session: Session, config: Mapping[str, Any]) -> int:
    """Open an offline alert for kiosks silent for KIOSK_OFFLINE_ALERT_MINUTES (core commits)."""
    return services.evaluate_offline_alerts(session, minutes=config["KIOSK_OFFLINE_ALERT_MINUTES"])
