"""Fleet services: sites, enrolment and credentials, commands, alerts, usage (heartbeats: heartbeats.py).

Every function takes the session and explicit arguments, flushes, and raises domain
errors; the caller commits. ``site_ids`` arguments scope a site manager to their sites
(None = every site).
"""
from __future__ import annotations

import math
import secrets
from collections import defaultdict
from datetime import date, datetime, timedelta
from typing import Any, Iterable, Mapping

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, lazyload

from ..core import actors, audit
from ..core.actors import Actor
from ..core.clock import LOCAL_TZ, utcnow
from ..core.errors import Conflict, Forbidden, Invalid, NotFound
from ..core.tokens import new_token, token_hash
from ..sites.services import scoped
from .heartbeats import _open_alert
from .models import (COMMAND_KINDS, Alert, EnrolmentCode, Kiosk, KioskCommand, Site, UsageEvent)
from .states import kiosk_status, peripheral_problems

# Unambiguous when read aloud or typed on a touch keyboard: no 0/O, 1/I/L, 2/Z, 5/S, 8/B.
CODE_ALPHABET = "ACDEFGHJKMNPQRTUVWXY34679"
CODE_LENGTH = 10
COMMAND_TTL_MINUTES = {"reload": 10, "maintenance_on": 60, "maintenance_off": 60, "show_message": 30,
                       "apply_settings": 60}
# Commands that would interrupt a resident; they wait while a session is active unless forced.
INTERRUPTING = {"reload", "maintenance_on"}
SETTINGS_KEYS = {"idle_timeout_seconds": (int, 30, 600), "idle_warning_seconds": (int, 20, 120),
                 "elder_mode_default": (bool, None, None), "font_scale": (float, 0.8, 2.0)}


# ===================================================================== enrolment and credentials

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
    if kiosk.state == "revoked":
        raise Conflict("A revoked kiosk cannot be re-enrolled.", "已吊销的终端不能重新激活。")
    plain, record = create_enrolment_code(session, site=kiosk.site, actor=actor, valid_hours=valid_hours,
                                          profile=kiosk.profile, now=now)
    record.kiosk_id = kiosk.id
    session.flush()
    return plain, record


class EnrolmentRefused(Invalid):
    pass


def activate(session: Session, *, code: str, profile: str, app_version: str | None = None,
             known_profiles: Iterable[str] = (), now=utcnow) -> tuple[Kiosk, str]:
    """Turn an enrolment code into a kiosk and its credential (returned once).

    The code is claimed with one conditional UPDATE, so of two kiosks racing with the same
    code exactly one gets it. Raises EnrolmentRefused (unknown, used, expired, bad profile).
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
        if kiosk is None or kiosk.state == "revoked":
            raise EnrolmentRefused("The kiosk this code was made for is revoked.", "该激活码对应的终端已被吊销。")
        kiosk.credential_hash, kiosk.credential_issued_at, kiosk.rotate_requested = token_hash(credential), moment, False
        kiosk.profile, kiosk.app_version = profile, app_version or kiosk.app_version
        session.flush()
        audit.record(session, actor=actors.kiosk(kiosk.number), action="kiosk.reenrol", target=f"kiosk:{kiosk.number}",
                     details={"profile": profile, "code_hint": record.hint})
        return kiosk, credential
    kiosk = _new_kiosk(session, site, profile=profile, app_version=app_version, credential=credential,
                       authorized=record.pre_authorized, now=moment)
    session.execute(sa.update(EnrolmentCode).where(EnrolmentCode.id == record.id).values(kiosk_id=kiosk.id)
                    .execution_options(synchronize_session=False))
    audit.record(session, actor=actors.kiosk(kiosk.number), action="kiosk.activate", target=f"site:{site.code}",
                 details={"profile": profile, "code_hint": record.hint, "state": kiosk.state})
    return kiosk, credential


def _new_kiosk(session: Session, site: Site, *, profile: str, app_version: str | None, credential: str,
               authorized: bool, now: datetime) -> Kiosk:
    count = session.scalar(sa.select(sa.func.count()).select_from(Kiosk).where(Kiosk.site_id == site.id)) or 0
    for attempt in range(count + 1, count + 50):
        kiosk = Kiosk(number=f"{site.code}-{attempt:02d}", site_id=site.id, profile=profile, app_version=app_version,
                      credential_hash=token_hash(credential), credential_issued_at=now,
                      state="authorized" if authorized else "pending", authorized_at=now if authorized else None)
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
    if kiosk.state == "revoked":
        raise Conflict("A revoked kiosk must be enrolled again.", "已吊销的终端需要重新激活。")
    if kiosk.state != "authorized":
        kiosk.state, kiosk.authorized_at = "authorized", now()
        audit.record(session, actor=actor, action="kiosk.authorize", target=f"kiosk:{kiosk.number}")
    session.flush()
    return kiosk


def revoke(session: Session, kiosk: Kiosk, *, actor: Actor, now=utcnow) -> Kiosk:
    """Revoke for good: the credential stops working at once."""
    if kiosk.state != "revoked":
        kiosk.state, kiosk.revoked_at, kiosk.credential_hash = "revoked", now(), None
        audit.record(session, actor=actor, action="kiosk.revoke", target=f"kiosk:{kiosk.number}")
    session.flush()
    return kiosk


def request_rotation(session: Session, kiosk: Kiosk, *, actor: Actor) -> Kiosk:
    """Ask the kiosk to fetch a new credential at its next heartbeat."""
    if kiosk.state == "revoked":
        raise Conflict("A revoked kiosk has no credential to rotate.", "已吊销的终端没有可轮换的凭证。")
    kiosk.rotate_requested = True
    session.flush()
    audit.record(session, actor=actor, action="kiosk.rotate_request", target=f"kiosk:{kiosk.number}")
    return kiosk


def rotate_credential(session: Session, kiosk: Kiosk, *, now=utcnow) -> str:
    """Issue a new credential; the old one stops working in the same transaction."""
    if kiosk.state == "revoked":
        raise Forbidden("This kiosk is revoked.", "该终端已被吊销。")
    credential = new_token()
    kiosk.credential_hash, kiosk.credential_issued_at, kiosk.rotate_requested = token_hash(credential), now(), False
    session.flush()
    audit.record(session, actor=actors.kiosk(kiosk.number), action="kiosk.rotate", target=f"kiosk:{kiosk.number}")
    return credential


# ===================================================================== commands

def _validate_payload(kind: str, payload: Mapping[str, Any]) -> dict:
    if kind == "show_message":
        text = str(payload.get("text", "")).strip()
        if not 1 <= len(text) <= 200:
            raise Invalid("A message needs 1–200 characters.", "提示消息须为 1–200 个字。", errors={"text": ["1–200"]})
        try:
            seconds = int(payload.get("seconds", 30))
        except (TypeError, ValueError):
            seconds = 0
        if not 5 <= seconds <= 3600:
            raise Invalid("Show a message for 5–3600 seconds.", "提示显示时长须在 5–3600 秒之间。",
                          errors={"seconds": ["5–3600"]})
        return {"text": text, "seconds": seconds}
    if kind == "apply_settings":
        clean = {}
        for key, value in payload.items():
            if key not in SETTINGS_KEYS:
                raise Invalid(f"Unknown setting {key}.", f"不支持的设置项 {key}。", errors={key: ["unknown"]})
            kind_, low, high = SETTINGS_KEYS[key]
            try:
                value = kind_(value) if kind_ is not bool else value in (True, "true", "1", 1, "on")
            except (TypeError, ValueError):
                raise Invalid(f"Bad value for {key}.", f"设置项 {key} 的值无效。", errors={key: ["invalid"]}) from None
            if low is not None and not low <= value <= high:
                raise Invalid(f"{key} must be {low}–{high}.", f"{key} 须在 {low}–{high} 之间。", errors={key: ["range"]})
            clean[key] = value
        if not clean:
            raise Invalid("No settings given.", "没有要应用的设置。")
        return clean
    if kind == "maintenance_on":
        return {"reason": str(payload.get("reason", ""))[:200]}
    return {}


def issue_command(session: Session, kiosk: Kiosk, *, kind: str, actor: Actor, payload: Mapping[str, Any] | None = None,
                  force: bool = False, ttl_minutes: int | None = None, now=utcnow) -> KioskCommand:
    """Queue a command from the fixed list. Raises Invalid (kind, payload), Conflict (revoked kiosk)."""
    if kind not in COMMAND_KINDS:
        raise Invalid(f"Unknown command {kind!r}.", f"不支持的指令 {kind!r}。")
    if kiosk.state == "revoked":
        raise Conflict("A revoked kiosk takes no commands.", "已吊销的终端不接收指令。")
    clean = _validate_payload(kind, payload or {})
    ttl = ttl_minutes or COMMAND_TTL_MINUTES[kind]
    moment = now()
    command = KioskCommand(kiosk_id=kiosk.id, kind=kind, payload=clean, force=force, created_by=str(actor)[:64],
                           created_at=moment, expires_at=moment + timedelta(minutes=ttl))
    session.add(command)
    kiosk.commands_pending = True
    session.flush()
    audit.record(session, actor=actor, action=f"command.{kind}", target=f"kiosk:{kiosk.number}",
                 details={"command": command.id, "force": force, **clean})
    return command


def _due_commands(session: Session, kiosk: Kiosk, moment: datetime, session_active: bool) -> tuple[list[dict], bool]:
    """Commands to send now, and whether any command is still open afterwards.

    Marks them delivered and expires stale ones. Only called when the kiosk's
    ``commands_pending`` flag says there may be some, so most beats skip this query.
    """
    due = session.scalars(sa.select(KioskCommand)
                          .where(KioskCommand.kiosk_id == kiosk.id, KioskCommand.state.in_(("pending", "delivered")))
                          .order_by(KioskCommand.id)).all()
    out = []
    still_pending = False
    for command in due:
        if command.expires_at <= moment:
            command.state = "expired"
            continue
        still_pending = True
        if command.kind in INTERRUPTING and session_active and not command.force:
            continue  # wait until the resident is done
        if command.state == "pending":
            command.state, command.delivered_at = "delivered", moment
        out.append({"id": command.id, "kind": command.kind, "payload": command.payload,
                    "expires_at": command.expires_at})
    return out, still_pending


def ack_command(session: Session, kiosk: Kiosk, command_id: int, *, now=utcnow) -> KioskCommand:
    """Acknowledge a command; acknowledging twice is fine. Raises NotFound, Conflict (expired)."""
    command = session.get(KioskCommand, command_id)
    if command is None or command.kiosk_id != kiosk.id:
        raise NotFound("No such command for this kiosk.", "没有找到该指令。")
    if command.state == "acked":
        return command
    if command.state in ("expired", "cancelled") or command.expires_at <= now():
        command.state = "expired" if command.state != "cancelled" else command.state
        session.flush()
        raise Conflict("This command has expired.", "该指令已过期。")
    claimed = session.execute(sa.update(KioskCommand)
                              .where(KioskCommand.id == command.id, KioskCommand.state.in_(("pending", "delivered")))
                              .values(state="acked", acked_at=now()).execution_options(synchronize_session=False)).rowcount
    if claimed:
        if command.kind == "maintenance_on":
            kiosk.maintenance = True
        elif command.kind == "maintenance_off":
            kiosk.maintenance = False
        elif command.kind == "apply_settings":
            kiosk.settings = {**(kiosk.settings or {}), **command.payload}
    session.flush()
    session.refresh(command)
    return command


def commands_of(session: Session, kiosk: Kiosk, limit: int = 30) -> list[KioskCommand]:
    return list(session.scalars(sa.select(KioskCommand).where(KioskCommand.kiosk_id == kiosk.id)
                                .order_by(KioskCommand.id.desc()).limit(limit)))


# ===================================================================== fleet view and alerts

def status_of(kiosk: Kiosk, now: datetime) -> str:
    """What the console shows: connectivity for authorized kiosks, else pending/revoked."""
    if kiosk.state != "authorized":
        return kiosk.state
    return kiosk_status(kiosk.last_seen_at, kiosk.peripherals or {}, now)


def kiosks_at(session: Session, site: Site) -> list[Kiosk]:
    """The kiosks of one site, by number."""
    return list(session.scalars(sa.select(Kiosk).where(Kiosk.site_id == site.id).order_by(Kiosk.number)))


def kiosk_counts(session: Session, site_ids: set[int] | None = None) -> dict[int, int]:
    """{site id: number of kiosks} for the sites a staff member may see."""
    query = scoped(sa.select(Kiosk.site_id, sa.func.count()).group_by(Kiosk.site_id), site_ids, Kiosk.site_id)
    return dict(session.execute(query).all())


def enrolment_codes(session: Session, site: Site, limit: int = 20) -> list[EnrolmentCode]:
    """The site's latest enrolment codes (hints only; codes themselves are never stored)."""
    return list(session.scalars(sa.select(EnrolmentCode).where(EnrolmentCode.site_id == site.id)
                                .order_by(EnrolmentCode.id.desc()).limit(limit)))


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


def evaluate_offline_alerts(session: Session, *, minutes: int = 10, now=utcnow) -> int:
    """Open an offline alert for every authorized kiosk silent for ``minutes``; returns how many opened."""
    moment = now()
    cutoff = moment - timedelta(minutes=minutes)
    silent = session.scalars(sa.select(Kiosk).where(Kiosk.state == "authorized", Kiosk.last_seen_at.is_not(None),
                                                    Kiosk.last_seen_at < cutoff)).all()
    opened = 0
    for kiosk in silent:
        if _open_alert(session, kiosk, "offline") is None:
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


# ===================================================================== usage

def record_usage(session: Session, kiosk: Kiosk, kind: str, *, now=utcnow) -> None:
    session.add(UsageEvent(kiosk_id=kiosk.id, site_id=kiosk.site_id, kind=kind, at=now()))


def usage_series(session: Session, *, site_ids: set[int] | None = None, site_id: int | None = None,
                 kiosk_id: int | None = None, days: int = 14, now=utcnow) -> dict:
    """Daily counts of sessions, searches and prints (local dates), oldest first."""
    end = now().astimezone(LOCAL_TZ).date()
    start = end - timedelta(days=days - 1)
    since = datetime.combine(start, datetime.min.time(), LOCAL_TZ)
    query = scoped(sa.select(UsageEvent.kind, UsageEvent.at).where(UsageEvent.at >= since), site_ids, UsageEvent.site_id)
    if site_id:
        query = query.where(UsageEvent.site_id == site_id)
    if kiosk_id:
        query = query.where(UsageEvent.kiosk_id == kiosk_id)
    counts: dict[tuple[str, date], int] = defaultdict(int)
    for kind, at in session.execute(query):
        counts[(kind, at.astimezone(LOCAL_TZ).date())] += 1
    dates = [start + timedelta(days=i) for i in range(days)]
    return {"dates": [d.isoformat() for d in dates],
            **{kind: [counts[(kind, d)] for d in dates] for kind in ("session", "search", "print")}}
