"""Commands to kiosks: a fixed list, validated payloads, expiry, delivery with the
heartbeat answer and idempotent acknowledgement (states.COMMAND_LIFECYCLE)."""
from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from ..core import actors, audit
from ..core.actors import Actor
from ..core.clock import utcnow
from ..core.errors import Conflict, Invalid, NotFound
from .models import COMMAND_KINDS, Kiosk, KioskCommand
from .states import COMMAND_LIFECYCLE, OPEN_COMMAND_STATES, CommandState, KioskState

COMMAND_TTL_MINUTES = {"reload": 10, "maintenance_on": 60, "maintenance_off": 60, "show_message": 30,
                       "apply_settings": 60}
# Commands that would interrupt a resident; they wait while a session is active unless forced.
INTERRUPTING = {"reload", "maintenance_on"}
# Commands whose acknowledgement changes the kiosk row (maintenance, settings).
APPLIED_TO_KIOSK = {"maintenance_on", "maintenance_off", "apply_settings"}
SETTINGS_KEYS = {"idle_timeout_seconds": (int, 30, 600), "idle_warning_seconds": (int, 20, 120),
                 "elder_mode_default": (bool, None, None), "font_scale": (float, 0.8, 2.0)}


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
    if kiosk.state == KioskState.REVOKED:
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


def due_commands(session: Session, kiosk: Kiosk, moment: datetime, session_active: bool) -> tuple[list[dict], bool]:
    """Commands to send now, and whether any command is still open afterwards.

    Marks them delivered and expires stale ones. Only called when the kiosk's
    ``commands_pending`` flag says there may be some, so most beats skip this query.
    """
    due = session.scalars(sa.select(KioskCommand)
                          .where(KioskCommand.kiosk_id == kiosk.id, KioskCommand.state.in_(OPEN_COMMAND_STATES))
                          .order_by(KioskCommand.id)).all()
    out = []
    still_pending = False
    for command in due:
        if command.expires_at <= moment:
            command.state = CommandState.EXPIRED.value
            continue
        still_pending = True
        if command.kind in INTERRUPTING and session_active and not command.force:
            continue  # wait until the resident is done
        if command.state == CommandState.PENDING:
            command.state, command.delivered_at = CommandState.DELIVERED.value, moment
        out.append({"id": command.id, "kind": command.kind, "payload": command.payload,
                    "expires_at": command.expires_at})
    return out, still_pending


def ack_command(session: Session, kiosk: Kiosk, command_id: int, *, actor: Actor | None = None,
                now=utcnow) -> KioskCommand:
    """Acknowledge a command; acknowledging twice is fine. The acknowledgement that applies it
    (maintenance, settings) is audited as ``actor`` (default: the kiosk itself).

    Raises NotFound, Conflict (expired)."""
    command = session.get(KioskCommand, command_id)
    if command is None or command.kiosk_id != kiosk.id:
        raise NotFound("No such command for this kiosk.", "没有找到该指令。")
    if command.state == CommandState.ACKED:
        return command
    if command.state in COMMAND_LIFECYCLE.terminal() or command.expires_at <= now():
        if COMMAND_LIFECYCLE.allows(command.state, CommandState.EXPIRED):
            command.state = CommandState.EXPIRED.value
        session.flush()
        raise Conflict("This command has expired.", "该指令已过期。")
    if command.kind in APPLIED_TO_KIOSK:
        # Parallel acks of different commands would each merge into a stale copy of the kiosk
        # (lost settings): lock its row and re-read it first. Kiosk before command, as a heartbeat
        # does (it locks the kiosk, then marks commands delivered), so the two cannot deadlock.
        from .heartbeats import _lock_and_reload  # heartbeats imports this module

        _lock_and_reload(session, kiosk)
    # One conditional UPDATE: of two acknowledgements racing, one applies the command.
    if COMMAND_LIFECYCLE.advance(session, KioskCommand, command.id, CommandState.ACKED, acked_at=now()):
        if command.kind == "maintenance_on":
            kiosk.maintenance = True
        elif command.kind == "maintenance_off":
            kiosk.maintenance = False
        elif command.kind == "apply_settings":
            kiosk.settings = {**(kiosk.settings or {}), **command.payload}
        audit.record(session, actor=actor or actors.kiosk(kiosk.number), action="command.ack",
                     target=f"kiosk:{kiosk.number}", details={"command": command.id, "kind": command.kind})
    session.flush()
    session.refresh(command)
    return command


def commands_of(session: Session, kiosk: Kiosk, limit: int = 30) -> list[KioskCommand]:
    return list(session.scalars(sa.select(KioskCommand).where(KioskCommand.kiosk_id == kiosk.id)
                                .order_by(KioskCommand.id.desc()).limit(limit)))
