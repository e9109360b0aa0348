"""Department clients: the systems that create applications and push their events with
HMAC-signed requests (core/signing.py).

An admin registers a client and receives its key id and secret once; the secret is kept
sealed (identity.residents.seal: AES-GCM under KIOSK_DATA_KEY), because checking an HMAC
needs it in clear. Rotating issues a new secret and keeps the previous one valid for a
grace period (default 24 h) so that the department can switch without refused requests;
disabling refuses the client's requests at once.
"""
from __future__ import annotations

import secrets
from datetime import timedelta

import sqlalchemy as sa
from sqlalchemy.orm import Session

from ..core import audit
from ..core.actors import Actor
from ..core.clock import utcnow
from ..core.errors import Conflict, Invalid, NotFound
from ..identity import residents
from .models import DepartmentClient

_SECRET_PURPOSE = b"applications_department_client.secret"
ROTATION_GRACE = timedelta(hours=24)


def _new_secret() -> str:
    return secrets.token_urlsafe(32)  # 256 bits


def _seal(secret: str) -> str:
    return residents.seal(secret, purpose=_SECRET_PURPOSE)


def create_client(session: Session, *, name: str, region_code: str | None = None, actor: Actor | str,
                  now=utcnow) -> tuple[DepartmentClient, str]:
    """Register a department system; returns the client and its secret (shown once, never
    stored in clear). Raises Invalid (empty or over-long name, bad region code)."""
    name = (name or "").strip()
    if not name or len(name) > 200:
        raise Invalid("A department client needs a name of 1 to 200 characters.", "部门名称应为 1 到 200 个字符。",
                      errors={"name": ["length"]})
    if region_code and not (len(region_code) == 6 and region_code.isdigit()):
        raise Invalid("region_code is a 6-digit division code.", "行政区划代码应为 6 位数字。",
                      errors={"region_code": ["format"]})
    secret = _new_secret()
    moment = now()
    client = DepartmentClient(key_id="dept-" + secrets.token_hex(6), name=name, region_code=region_code or None,
                              secret_encrypted=_seal(secret), active=True, created_at=moment, updated_at=moment,
                              created_by=str(getattr(actor, "username", None) or actor)[:100])
    session.add(client)
    session.flush()
    audit.record(session, actor=actor, action="department_client.create", target=f"department_client:{client.id}",
                 details={"key_id": client.key_id, "name": name}, now=now)
    return client, secret


def get_client(session: Session, client_id: int) -> DepartmentClient:
    client = session.get(DepartmentClient, client_id)
    if client is None:
        raise NotFound("No such department client.", "没有找到该部门接入方。")
    return client


def list_clients(session: Session) -> list[DepartmentClient]:
    return list(session.scalars(sa.select(DepartmentClient).order_by(DepartmentClient.active.desc(),
                                                                     DepartmentClient.name)))


def rotate_secret(session: Session, client_id: int, *, actor: Actor | str, grace: timedelta = ROTATION_GRACE,
                  now=utcnow) -> tuple[DepartmentClient, str]:
    """A new secret for the client (returned once); the old one stays valid for ``grace``.
    Raises NotFound, Conflict (a disabled client)."""
    client = get_client(session, client_id)
    if not client.active:
        raise Conflict("A disabled client cannot get a new secret; enable it first.", "已停用的接入方不能更换密钥。")
    secret = _new_secret()
    moment = now()
    client.previous_secret_encrypted = client.secret_encrypted
    client.previous_valid_until = moment + grace
    client.secret_encrypted = _seal(secret)
    client.rotated_at = moment
    session.flush()
    audit.record(session, actor=actor, action="department_client.rotate", target=f"department_client:{client.id}",
                 details={"key_id": client.key_id, "previous_valid_until": client.previous_valid_until.isoformat()},
                 now=now)
    return client, secret


def set_active(session: Session, client_id: int, active: bool, *, actor: Actor | str, now=utcnow) -> DepartmentClient:
    """Disable (refused at once) or enable a client. Raises NotFound."""
    client = get_client(session, client_id)
    if client.active == active:
        return client
    client.active = active
    client.disabled_at = None if active else now()
    if not active:
        client.previous_secret_encrypted = None
        client.previous_valid_until = None
    session.flush()
    audit.record(session, actor=actor, action="department_client.enable" if active else "department_client.disable",
                 target=f"department_client:{client.id}", details={"key_id": client.key_id}, now=now)
    return client


def by_key_id(session: Session, key_id: str) -> DepartmentClient | None:
    return session.scalar(sa.select(DepartmentClient).where(DepartmentClient.key_id == key_id))


def secrets_for(client: DepartmentClient | None, *, now=utcnow) -> list[str]:
    """The secrets a signature of ``client`` may be made with now: the current one, and the
    previous one during its grace period. None for an unknown or disabled client."""
    if client is None or not client.active:
        return []
    found = [residents.unseal(client.secret_encrypted, purpose=_SECRET_PURPOSE)]
    if client.previous_secret_encrypted and client.previous_valid_until and client.previous_valid_until > now():
        found.append(residents.unseal(client.previous_secret_encrypted, purpose=_SECRET_PURPOSE))
    return found
