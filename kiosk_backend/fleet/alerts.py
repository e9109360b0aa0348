"""Alerts: kiosks gone silent (opened by a periodic job), paper out and peripheral
faults (opened by heartbeats), acknowledged by staff."""
from __future__ import annotations

from datetime import timedelta

import sqlalchemy as sa
from sqlalchemy.orm import Session

from ..core import audit
from ..core.actors import Actor
from ..core.clock import utcnow
from ..core.database import scoped
from ..core.errors import NotFound
from .models import Alert, Kiosk
from .states import KioskState


def open_alert(session: Session, kiosk: Kiosk, kind: str) -> Alert | None:
    """The kiosk's unresolved alert of ``kind``, if any."""
    return session.scalar(sa.select(Alert).where(Alert.kiosk_id == kiosk.id, Alert.kind == kind,
                                                 Alert.resolved_at.is_(None)))


def evaluate_offline_alerts(session: Session, *, minutes: int = 10, now=utcnow) -> int:
    """Open an offline alert for every authorized kiosk silent for ``minutes``; returns how many opened.
    A kiosk whose credential an admin revoked to re-enrol it is silent on purpose: no alert."""
    moment = now()
    cutoff = moment - timedelta(minutes=minutes)
    silent = session.scalars(sa.select(Kiosk).where(Kiosk.state == KioskState.AUTHORIZED, Kiosk.last_seen_at.is_not(None),
                                                    Kiosk.credential_hash.is_not(None),
                                                    Kiosk.last_seen_at < cutoff)).all()
    opened = 0
    for kiosk in silent:
        if open_alert(session, kiosk, "offline") is None:
            session.add(Alert(kiosk_id=kiosk.id, kind="offline", detail=f">{minutes} min", opened_at=moment))
            opened += 1
    session.flush()
    return opened


def list_alerts(session: Session, *, site_ids: set[int] | None = None, open_only: bool = True) -> list[Alert]:
    query = sa.select(Alert).join(Kiosk, Alert.kiosk_id == Kiosk.id).order_by(Alert.opened_at.desc())
    query = scoped(query, site_ids, Kiosk.site_id)
    if open_only:
        query = query.where(Alert.resolved_at.is_(None))
    return list(session.scalars(query.limit(500)))


def acknowledge_alert(session: Session, alert_id: int, *, actor: Actor, site_ids: set[int] | None = None,
                      now=utcnow) -> Alert:
    alert = session.get(Alert, alert_id)
    if alert is None or (site_ids is not None and alert.kiosk.site_id not in site_ids):
        raise NotFound("No such alert.", "没有找到该告警。")
    if alert.acknowledged_at is None:
        alert.acknowledged_at, alert.acknowledged_by = now(), str(actor)[:64]
        audit.record(session, actor=actor, action="alert.acknowledge", target=f"kiosk:{alert.kiosk.number}",
                     details={"alert": alert.id, "kind": alert.kind})
    session.flush()
    return alert
