"""Pure rules of the fleet: the life cycles of kiosks and commands, and a kiosk's
connectivity status from its last heartbeat."""
from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from enum import StrEnum

from ..core.states import Lifecycle


class KioskState(StrEnum):
    PENDING = "pending"          # enrolled, waiting for an admin (unless the code was pre-authorized)
    AUTHORIZED = "authorized"    # in service
    REVOKED = "revoked"          # for good: credential gone; re-enrol as a new kiosk


KIOSK_LIFECYCLE = Lifecycle("kiosk", {
    KioskState.PENDING: {KioskState.AUTHORIZED, KioskState.REVOKED},
    KioskState.AUTHORIZED: {KioskState.REVOKED},
    KioskState.REVOKED: set(),
})


class CommandState(StrEnum):
    PENDING = "pending"          # queued, not yet handed to the kiosk
    DELIVERED = "delivered"      # sent with a heartbeat answer, not yet acknowledged
    ACKED = "acked"              # the kiosk acknowledged it (done)
    EXPIRED = "expired"          # its time ran out before an acknowledgement
    CANCELLED = "cancelled"


COMMAND_LIFECYCLE = Lifecycle("command", {
    CommandState.PENDING: {CommandState.DELIVERED, CommandState.ACKED, CommandState.EXPIRED, CommandState.CANCELLED},
    CommandState.DELIVERED: {CommandState.ACKED, CommandState.EXPIRED, CommandState.CANCELLED},
    CommandState.ACKED: set(),
    CommandState.EXPIRED: set(),
    CommandState.CANCELLED: set(),
})
# Commands a kiosk may still act on.
OPEN_COMMAND_STATES = tuple(state for state in CommandState if state not in COMMAND_LIFECYCLE.terminal())

HEARTBEAT_SECONDS = 30
MISSED_BEATS_OFFLINE = 3

PRINTER_STATES = ("ok", "paper_low", "paper_out", "error", "absent")
DEVICE_STATES = ("ok", "error", "absent")
STATUS_LABELS = {"online": ("在线", "Online"), "degraded": ("异常", "Degraded"), "offline": ("离线", "Offline"),
                 "never": ("未连接", "Never seen")}


def peripheral_problems(peripherals: Mapping[str, str]) -> list[str]:
    """Names of peripherals that need a person: paper out, errors. Paper low is a warning, not a fault."""
    return [name for name, state in sorted(peripherals.items()) if state in ("paper_out", "error")]


def connectivity(last_seen_at: datetime | None, now: datetime, interval: int = HEARTBEAT_SECONDS) -> str:
    """online / offline (about three missed beats) / never."""
    if last_seen_at is None:
        return "never"
    if now - last_seen_at > timedelta(seconds=interval * MISSED_BEATS_OFFLINE):
        return "offline"
    return "online"


def kiosk_status(last_seen_at: datetime | None, peripherals: Mapping[str, str], now: datetime,
                 interval: int = HEARTBEAT_SECONDS) -> str:
    """online, degraded (a late beat or a peripheral fault), offline, or never."""
    state = connectivity(last_seen_at, now, interval)
    if state != "online":
        return state
    late = now - last_seen_at > timedelta(seconds=interval * 1.5)
    return "degraded" if late or peripheral_problems(peripherals) else "online"
