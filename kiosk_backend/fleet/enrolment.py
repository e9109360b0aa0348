"""Enrolment and credentials: one-time codes, activation, the kiosk's credential and its
life cycle (pending → authorized → revoked, see states.KIOSK_LIFECYCLE)."""
from __future__ import annotations

import secrets
from collections.abc import Iterable
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, lazyload

from ..core import actors, audit, signals
from ..core.actors import Actor
from ..core.clock import utcnow
from ..core.errors import Conflict, Forbidden, Invalid, NotFound
from ..core.tokens import new_token, token_hash
from ..sites.models import Site
from .models import EnrolmentCode, Kiosk
from .states import KIOSK_LIFECYCLE, KioskState

# Unambiguous when read aloud or typed on a touch keyboard: no 0/O, 1/I/L, 2/Z, 5/S, 8/B.
CODE_ALPHABET = "ACDEFGHJKMNPQRTUVWXY34679"
CODE_LENGTH = 10


def normalize_code(code: str) -> str:
    return "".join(ch for ch in code.upper() if ch.isalnum())


def format_code(code: str) -> str:
    return f"{code[:5]}-{code[5:]}"


def create_enrolment_code(session: Session, *, site: Site, actor: Actor, valid_hours: int = 24,
                          pre_authorized: bool = False, profile: str | None = None, now=utcnow) -> tuple[str, EnrolmentCode]:
    """A new single-use code for ``site``; the plain code is returned once and only its hash kept."""
    if not 1 <= valid_hours <= 24 * 14:
        raise Invalid("A code is valid for 1 hour to 14 days.", "有效期须在 1 小时到 14 天之间。")
    plain = "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))
    moment = now()
    record = EnrolmentCode(site_id=site.id, code_hash=token_hash(plain), hint=plain[-3:], profile=profile,
                           pre_authorized=pre_authorized, created_by=str(actor)[:64], created_at=moment,
                           expires_at=moment + timedelta(hours=valid_hours))
    session.add(record)
    session.flush()
    audit.record(session, actor=actor, action="enrolment_code.create", target=f"site:{site.code}",
                 details={"hint": record.hint, "pre_authorized": pre_authorized, "valid_hours": valid_hours})
    return format_code(plain), record


def create_reenrolment_code(session: Session, *, kiosk: Kiosk, actor: Actor, valid_hours: int = 24,
                            now=utcnow) -> tuple[str, EnrolmentCode]:
    """A single-use code that moves an existing kiosk (number, history, state) to new hardware."""
    if kiosk.state == KioskState.REVOKED:
        raise Conflict("A revoked kiosk cannot be re-enrolled.", "已吊销的终端不能重新激活。")
    plain, record = create_enrolment_code(session, site=kiosk.site, actor=actor, valid_hours=valid_hours,
                                          profile=kiosk.profile, now=now)
    record.kiosk_id = kiosk.id
    session.flush()
    return plain, record


class EnrolmentRefused(Invalid):
    pass


def activate(session: Session, *, code: str, profile: str, app_version: str | None = None,
             known_profiles: Iterable[str] = (), ip: str | None = None, now=utcnow) -> tuple[Kiosk, str]:
    """Turn an enrolment code into a kiosk and its credential (returned once).

    The code is claimed with one conditional UPDATE, so of two kiosks racing with the same
    code exactly one gets it. The kiosk is the actor of its own activation (there is no
    actor before it exists); ``ip`` is where it came from. Sends ``kiosk_state_changed``.
    Raises EnrolmentRefused (unknown, used, expired, bad profile).
    """
    known = set(known_profiles)
    if known and profile not in known:
        raise EnrolmentRefused(f"Unknown device profile {profile!r}.", f"未知的设备型号 {profile!r}。",
                               errors={"profile": ["unknown / 未知的设备型号"]})
    moment = now()
    record = session.scalar(sa.select(EnrolmentCode).where(EnrolmentCode.code_hash == token_hash(normalize_code(code))))
    if record is None:
        raise EnrolmentRefused("This enrolment code is not valid.", "激活码无效，请核对后重新输入。",
                               errors={"code": ["not valid / 激活码无效"]})
    if record.used_at is not None:
        raise EnrolmentRefused("This enrolment code has already been used.", "该激活码已被使用。",
                               errors={"code": ["used / 已被使用"]})
    if record.expires_at <= moment:
        raise EnrolmentRefused("This enrolment code has expired.", "该激活码已过期，请联系管理员重新生成。",
                               errors={"code": ["expired / 已过期"]})
    if record.profile and record.profile != profile:
        raise EnrolmentRefused(f"This code is for {record.profile} kiosks.", f"该激活码仅限 {record.profile} 型号使用。",
                               errors={"profile": [f"{record.profile} only / 仅限 {record.profile}"]})
    claimed = session.execute(
        sa.update(EnrolmentCode)
        .where(EnrolmentCode.id == record.id, EnrolmentCode.used_at.is_(None), EnrolmentCode.expires_at > moment)
        .values(used_at=moment)
        .execution_options(synchronize_session=False)
    ).rowcount
    if claimed != 1:
        raise EnrolmentRefused("This enrolment code has already been used.", "该激活码已被使用。",
                               errors={"code": ["used / 已被使用"]})
    site = record.site
    credential = new_token()
    if record.kiosk_id is not None:
        # A re-enrolment code: new hardware (or a wiped browser) takes over an existing kiosk.
        kiosk = session.get(Kiosk, record.kiosk_id)
        if kiosk is None or kiosk.state == KioskState.REVOKED:
            raise EnrolmentRefused("The kiosk this code was made for is revoked.", "该激活码对应的终端已被吊销。")
        kiosk.credential_hash, kiosk.credential_issued_at, kiosk.rotate_requested = token_hash(credential), moment, False
        kiosk.profile, kiosk.app_version = profile, app_version or kiosk.app_version
        session.flush()
        audit.record(session, actor=actors.kiosk(kiosk.number, ip=ip), action="kiosk.reenrol", target=f"kiosk:{kiosk.number}",
                     details={"profile": profile, "code_hint": record.hint})
        return kiosk, credential
    kiosk = _new_kiosk(session, site, profile=profile, app_version=app_version, credential=credential,
                       authorized=record.pre_authorized, now=moment)
    signals.kiosk_state_changed.send(kiosk, session=session, old=None, new=kiosk.state,
                                     actor=actors.kiosk(kiosk.number, ip=ip))
    session.execute(sa.update(EnrolmentCode).where(EnrolmentCode.id == record.id).values(kiosk_id=kiosk.id)
                    .execution_options(synchronize_session=False))
    audit.record(session, actor=actors.kiosk(kiosk.number, ip=ip), action="kiosk.activate", target=f"site:{site.code}",
                 details={"profile": profile, "code_hint": record.hint, "state": kiosk.state})
    return kiosk, credential


def record_refused_activation(session: Session, *, code: str, reason: str, ip: str | None, now=utcnow) -> None:
    """Audit an activation that was refused (the refused request itself is rolled back, so
    the caller passes a session of its own). Only the code's last characters are kept."""
    hint = normalize_code(code)[-3:] if code else ""
    audit.record(session, actor=actors.Actor(actors.ActorKind.KIOSK, "unenrolled", "未激活终端", ip),
                 action="kiosk.activate_refused", details={"code_hint": hint, "reason": reason[:200]}, now=now)


def _new_kiosk(session: Session, site: Site, *, profile: str, app_version: str | None, credential: str,
               authorized: bool, now: datetime) -> Kiosk:
    count = session.scalar(sa.select(sa.func.count()).select_from(Kiosk).where(Kiosk.site_id == site.id)) or 0
    for attempt in range(count + 1, count + 50):
        kiosk = Kiosk(number=f"{site.code}-{attempt:02d}", site_id=site.id, profile=profile, app_version=app_version,
                      credential_hash=token_hash(credential), credential_issued_at=now,
                      state=KioskState.AUTHORIZED.value if authorized else KioskState.PENDING.value, authorized_at=now if authorized else None)
        try:
            with session.begin_nested():  # a concurrent activation may take the same number
                session.add(kiosk)
            return kiosk
        except IntegrityError:
            continue
    raise Conflict("Could not number the kiosk; try again.", "无法为终端分配编号，请重试。")


def authenticate(session: Session, credential: str | None) -> Kiosk | None:
    """The kiosk holding ``credential`` (any state), or None. The site loads only if used."""
    if not credential:
        return None
    return session.scalar(sa.select(Kiosk).where(Kiosk.credential_hash == token_hash(credential))
                          .options(lazyload(Kiosk.site)))


def get_kiosk(session: Session, kiosk_id: int, site_ids: set[int] | None = None) -> Kiosk:
    kiosk = session.get(Kiosk, kiosk_id)
    if kiosk is None or (site_ids is not None and kiosk.site_id not in site_ids):
        raise NotFound("No such kiosk.", "没有找到该终端。")
    return kiosk


def authorize(session: Session, kiosk: Kiosk, *, actor: Actor, now=utcnow) -> Kiosk:
    """Put a pending kiosk into service; authorizing it again changes nothing.

    One conditional UPDATE (states.KIOSK_LIFECYCLE), so an authorization racing a
    revocation can never bring the revoked kiosk back. Raises Conflict (revoked).
    """
    if kiosk.state == KioskState.REVOKED:
        raise Conflict("A revoked kiosk must be enrolled again.", "已吊销的终端需要重新激活。")
    old = kiosk.state
    moved = KIOSK_LIFECYCLE.advance(session, Kiosk, kiosk.id, KioskState.AUTHORIZED, authorized_at=now())
    session.refresh(kiosk)
    if kiosk.state == KioskState.REVOKED:  # revoked by someone else a moment ago
        raise Conflict("A revoked kiosk must be enrolled again.", "已吊销的终端需要重新激活。")
    if moved:
        audit.record(session, actor=actor, action="kiosk.authorize", target=f"kiosk:{kiosk.number}")
        session.flush()
        signals.kiosk_state_changed.send(kiosk, session=session, old=old, new=kiosk.state, actor=actor)
    return kiosk


def revoke(session: Session, kiosk: Kiosk, *, actor: Actor, now=utcnow) -> Kiosk:
    """Revoke for good: the credential stops working at once. Revoking twice changes nothing."""
    old = kiosk.state
    moved = KIOSK_LIFECYCLE.advance(session, Kiosk, kiosk.id, KioskState.REVOKED, revoked_at=now(),
                                    credential_hash=None)
    session.refresh(kiosk)
    if moved:
        audit.record(session, actor=actor, action="kiosk.revoke", target=f"kiosk:{kiosk.number}")
        session.flush()
        signals.kiosk_state_changed.send(kiosk, session=session, old=old, new=kiosk.state, actor=actor)
    return kiosk


def request_rotation(session: Session, kiosk: Kiosk, *, actor: Actor) -> Kiosk:
    """Ask the kiosk to fetch a new credential at its next heartbeat."""
    if kiosk.state == KioskState.REVOKED:
        raise Conflict("A revoked kiosk has no credential to rotate.", "已吊销的终端没有可轮换的凭证。")
    kiosk.rotate_requested = True
    session.flush()
    audit.record(session, actor=actor, action="kiosk.rotate_request", target=f"kiosk:{kiosk.number}")
    return kiosk


def revoke_credential_and_reenrol(session: Session, kiosk: Kiosk, *, actor: Actor, valid_hours: int = 24,
                                  now=utcnow) -> tuple[str, EnrolmentCode]:
    """Withdraw the kiosk's credential at once and issue a re-enrolment code for it.

    Unlike :func:`request_rotation` the old credential stops working in this transaction
    (a stolen or copied credential is dead now, not at the kiosk's next heartbeat); the kiosk
    keeps its number, site, state and history, and its browser lands on the activation
    screen at its next request until someone enters the returned code (shown once).
    One conditional UPDATE, so it cannot resurrect a kiosk revoked a moment ago.
    Raises Conflict (revoked).
    """
    if kiosk.state == KioskState.REVOKED:
        raise Conflict("A revoked kiosk cannot be re-enrolled.", "已吊销的终端不能重新激活。")
    withdrawn = session.execute(
        sa.update(Kiosk).where(Kiosk.id == kiosk.id, Kiosk.state != KioskState.REVOKED.value)
        .values(credential_hash=None, rotate_requested=False)
        .execution_options(synchronize_session=False)
    ).rowcount
    session.refresh(kiosk)
    if withdrawn != 1:  # revoked by someone else a moment ago
        raise Conflict("A revoked kiosk cannot be re-enrolled.", "已吊销的终端不能重新激活。")
    plain, record = create_reenrolment_code(session, kiosk=kiosk, actor=actor, valid_hours=valid_hours, now=now)
    audit.record(session, actor=actor, action="kiosk.credential_revoke", target=f"kiosk:{kiosk.number}",
                 details={"code_hint": record.hint, "valid_hours": valid_hours})
    return plain, record


def rotate_credential(session: Session, kiosk: Kiosk, *, actor: Actor | None = None, now=utcnow) -> str:
    """Issue a new credential; the old one stops working in the same transaction.

    ``actor``: the kiosk as it asked (with its address); default the kiosk itself.
    One conditional UPDATE on the credential the kiosk authenticated with, so a rotation
    racing an admin's "revoke now and re-enrol" (or revocation) cannot bring a credential back.
    Raises Forbidden (revoked, or the credential was withdrawn meanwhile)."""
    if kiosk.state == KioskState.REVOKED or kiosk.credential_hash is None:
        raise Forbidden("This kiosk is revoked.", "该终端已被吊销。")
    credential, moment = new_token(), now()
    swapped = session.execute(
        sa.update(Kiosk)
        .where(Kiosk.id == kiosk.id, Kiosk.credential_hash == kiosk.credential_hash,
               Kiosk.state != KioskState.REVOKED.value)
        .values(credential_hash=token_hash(credential), credential_issued_at=moment, rotate_requested=False)
        .execution_options(synchronize_session=False)
    ).rowcount
    session.refresh(kiosk)
    if swapped != 1:
        raise Forbidden("This credential is no longer valid.", "该终端的凭证已失效，请重新激活。")
    audit.record(session, actor=actor or actors.kiosk(kiosk.number), action="kiosk.rotate",
                 target=f"kiosk:{kiosk.number}")
    return credential


def enrolment_codes(session: Session, site: Site, limit: int = 20) -> list[EnrolmentCode]:
    """The site's latest enrolment codes (hints only; codes themselves are never stored)."""
    return list(session.scalars(sa.select(EnrolmentCode).where(EnrolmentCode.site_id == site.id)
                                .order_by(EnrolmentCode.id.desc()).limit(limit)))
