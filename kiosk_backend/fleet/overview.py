"""What the console shows of the fleet: each kiosk's status, kiosks per site."""
from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Session

from ..core.clock import utcnow
from ..core.database import scoped
from ..sites.models import Site
from .models import Kiosk
from .states import KioskState, kiosk_status, peripheral_problems


def status_of(kiosk: Kiosk, now: datetime) -> str:
    """What the console shows: connectivity for authorized kiosks, else pending/revoked;
    "reenrol" while a kiosk whose credential was revoked now waits for its re-enrolment code
    (it cannot send heartbeats, so "offline" would say less)."""
    if kiosk.state != KioskState.REVOKED and kiosk.credential_hash is None:
        return "reenrol"
    if kiosk.state != KioskState.AUTHORIZED:
        return kiosk.state
    return kiosk_status(kiosk.last_seen_at, kiosk.peripherals or {}, now)


def kiosks_at(session: Session, site: Site) -> list[Kiosk]:
    """The kiosks of one site, by number."""
    return list(session.scalars(sa.select(Kiosk).where(Kiosk.site_id == site.id).order_by(Kiosk.number)))


def kiosk_counts(session: Session, site_ids: set[int] | None = None) -> dict[int, int]:
    """{site id: number of kiosks} for the sites a staff member may see."""
    query = scoped(sa.select(Kiosk.site_id, sa.func.count()).group_by(Kiosk.site_id), site_ids, Kiosk.site_id)
    return dict(session.execute(query).all())


def fleet(session: Session, *, site_ids: set[int] | None = None, status: str | None = None, site_id: int | None = None,
          profile: str | None = None, q: str | None = None, now=utcnow) -> list[dict]:
    """Kiosks with their computed status, for the fleet grid."""
    moment = now()
    query = scoped(sa.select(Kiosk).order_by(Kiosk.number), site_ids, Kiosk.site_id)
    if site_id:
        query = query.where(Kiosk.site_id == site_id)
    if profile:
        query = query.where(Kiosk.profile == profile)
    if q:
        query = query.where(Kiosk.number.contains(q.upper(), autoescape=True))
    rows = []
    for kiosk in session.scalars(query):
        state = status_of(kiosk, moment)
        if status and state != status:
            continue
        rows.append({"kiosk": kiosk, "status": state, "problems": peripheral_problems(kiosk.peripherals or {})})
    return rows
