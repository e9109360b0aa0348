"""Who is acting: the one answer every service and audit entry gets.

Each surface's authentication hook sets ``g.actor`` (staff in the console, the kiosk on
/kiosk and its API, a resident on /m, a department or courier on signed API calls);
CLI commands and background jobs act as :data:`SYSTEM` or as a named staff account.
Services take ``actor=`` and write the audit entry themselves, so an action and the
record of who did it are committed together.

For assisted service (帮办代办) a helper acts *for* a resident: ``on_behalf_of`` holds the
resident and the audit entry records both.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from enum import StrEnum


class ActorKind(StrEnum):
    STAFF = "staff"
    KIOSK = "kiosk"
    RESIDENT = "resident"
    DEPARTMENT = "department"
    COURIER = "courier"
    SYSTEM = "system"


@dataclass(frozen=True, slots=True)
class Actor:
    """An authenticated caller. ``id`` is stable (username, kiosk number, resident id);
    ``name`` is for people; ``ip`` is where the request came from, if any."""

    kind: ActorKind
    id: str
    name: str = ""
    ip: str | None = None
    on_behalf_of: Actor | None = None

    @property
    def label(self) -> str:
        """``kind:id`` as written in the audit log; staff keep their bare username, which
        is how the console has always shown them."""
        return self.id if self.kind is ActorKind.STAFF else f"{self.kind}:{self.id}"

    def at(self, ip: str | None) -> Actor:
        """The same actor seen from ``ip``."""
        return replace(self, ip=ip)

    def acting_for(self, other: Actor) -> Actor:
        """This actor (a helper) acting on behalf of ``other`` (an applicant)."""
        return replace(self, on_behalf_of=other)

    def __str__(self) -> str:
        return self.label


SYSTEM = Actor(ActorKind.SYSTEM, "system", "系统")


def staff(username: str, *, name: str | None = None, ip: str | None = None) -> Actor:
    return Actor(ActorKind.STAFF, username, name or username, ip)


def kiosk(number: str, *, ip: str | None = None) -> Actor:
    return Actor(ActorKind.KIOSK, number, number, ip)


def cli(username: str | None = None) -> Actor:
    """Who a CLI command acts as: a named staff account, else the system."""
    return staff(username, name=f"{username} (cli)") if username else Actor(ActorKind.SYSTEM, "cli", "命令行")
