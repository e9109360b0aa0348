"""Identity's background jobs (registered with core.tasks on import)."""
from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from ..core import tasks
from ..core.actors import SYSTEM
from ..core.clock import utcnow
from . import qr_login, sessions, throttle
from .models import AdminSession

KEEP_ENDED_SESSIONS = timedelta(days=1)


def delete_ended_sessions(session: Session, *, keep: timedelta = KEEP_ENDED_SESSIONS, now=utcnow) -> int:
    """Delete console sessions that expired, or were revoked, more than ``keep`` ago.

    A day's grace keeps a just-ended session readable for "why was I logged out" support.
    """
    cutoff = now() - keep
    result = session.execute(sa.delete(AdminSession).where(
        sa.or_(AdminSession.expires_at < cutoff, AdminSession.revoked_at < cutoff)))
    return result.rowcount


@tasks.periodic("identity.ended_sessions", every=timedelta(hours=1))
def cleanup_sessions(session: Session, config: Mapping[str, Any]) -> int:
    return delete_ended_sessions(session)


@tasks.periodic("identity.login_throttle", every=timedelta(hours=1))
def forget_login_failures(session: Session, config: Mapping[str, Any]) -> int:
    """Delete login-throttle rows untouched for a day whose lock has run out."""
    return throttle.forget(session)


@tasks.periodic("identity.overdue_sessions", every=timedelta(minutes=1))
def end_overdue_sessions(session: Session, config: Mapping[str, Any]) -> int:
    """End residents' and kiosk staff sessions past their idle time or absolute limit that
    no request looked up since (a kiosk switched off mid-session, a phone put away): each
    ends once, audited ``identity.session.end`` with its reason, as the system."""
    return sessions.end_overdue(session, actor=SYSTEM)


@tasks.periodic("identity.expired_challenges", every=timedelta(minutes=1))
def expire_login_challenges(session: Session, config: Mapping[str, Any]) -> int:
    """Mark QR login challenges past their deadline expired (the services already refuse
    them; this keeps the table, the audit log and the console's counts honest)."""
    return qr_login.expire_due(session, actor=SYSTEM)
