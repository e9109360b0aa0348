"""Heartbeats: liveness, reported state, history samples and peripheral alerts.

The hot path of the fleet: 30,000 kiosks beating every 30 s are 1,000 beats a second, and
almost every beat says "still here, nothing changed". So there are two ways in:

- :func:`quick_beat` records such a beat in **one statement**: authentication (by the
  credential's hash) and the liveness update are a single ``UPDATE … RETURNING`` whose
  WHERE clause also checks that nothing changed and nothing is due. It runs on a
  connection of its own in autocommit (PostgreSQL: ``synchronous_commit off``), without
  the ORM. It answers None when the statement matched no row.
- :func:`record_heartbeat`, the transactional service, decides everything else: state
  changes (peripherals, session, app version, profile), alerts, the usage event of a new
  session, the history sample every HISTORY_SAMPLE, an offline alert to resolve, commands
  to deliver, out-of-order beats, unknown and revoked credentials.

Both give the same answer for the same beat; which one ran is invisible to the kiosk.
Races: the quick statement re-checks its conditions on the row it updates (PostgreSQL
re-evaluates the WHERE clause after waiting for a concurrent writer; SQLite has one
writer at a time), and record_heartbeat locks the kiosk row before deciding, so two beats
of one kiosk at once are decided one after the other.
"""
from __future__ import annotations

import json
import logging
import re
import threading
import weakref
from collections.abc import Mapping
from datetime import datetime, timedelta
from functools import cache
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, lazyload
from sqlalchemy.orm.attributes import set_committed_value

from ..core import database
from ..core.clock import utcnow
from ..core.tokens import token_hash
from .alerts import open_alert
from .commands import due_commands
from .models import Alert, Heartbeat, Kiosk, UsageEvent
from .states import HEARTBEAT_SECONDS, MISSED_BEATS_OFFLINE, kiosk_status, peripheral_problems

log = logging.getLogger(__name__)

# Heartbeat history keeps every change and otherwise one sample per kiosk per 5 minutes:
# a row per beat would be 86 million rows a day for 30,000 kiosks.
HISTORY_SAMPLE = timedelta(minutes=5)
# A beat after this much silence resolves the kiosk's offline alert (states.connectivity).
OFFLINE_AFTER = timedelta(seconds=HEARTBEAT_SECONDS * MISSED_BEATS_OFFLINE)


# ===================================================================== the transactional service

def record_heartbeat(session: Session, kiosk: Kiosk, *, seq: int, app_version: str | None, profile: str | None,
                     peripherals: Mapping[str, str], session_active: bool, now=utcnow) -> dict:
    """Store a heartbeat and answer with the status and the commands due.

    One UPDATE of the kiosk row; a history row only when something changed or every
    HISTORY_SAMPLE; the command query only when the kiosk's ``commands_pending`` flag is
    set. Beats that arrive out of order (seq not above the last one, without a restart to
    0 or 1) refresh liveness but not the kiosk's reported state. The kiosk row is locked
    and re-read first, so concurrent beats of one kiosk are decided one after the other.
    """
    moment = now()
    if session.get_bind().dialect.name == "postgresql":
        # Liveness data: losing the last fraction of a second of beats in a database crash
        # is harmless, and not waiting for the WAL flush multiplies throughput.
        session.execute(sa.text("SET LOCAL synchronous_commit TO OFF"))
    _lock_and_reload(session, kiosk)
    # Stored with sorted keys, so that quick_beat can compare the stored text with the beat's.
    peripherals = dict(sorted(dict(peripherals).items()))
    status = kiosk_status(moment, peripherals, moment)
    fresh = seq > kiosk.last_seq or seq <= 1
    values: dict[str, Any] = {"last_seen_at": moment}
    changed = False
    with session.no_autoflush:
        if fresh:
            new_version = app_version or kiosk.app_version
            changed = (peripherals != (kiosk.peripherals or {}) or session_active != kiosk.session_active
                       or new_version != kiosk.app_version)
            if session_active and not kiosk.session_active:
                session.execute(sa.insert(UsageEvent).values(kiosk_id=kiosk.id, site_id=kiosk.site_id, kind="session", at=moment))
            if peripherals != (kiosk.peripherals or {}):
                _peripheral_alerts(session, kiosk, peripherals, moment)
            values.update(last_seq=seq, peripherals=peripherals, session_active=session_active,
                          app_version=new_version, profile=profile or kiosk.profile)
        if changed or kiosk.history_at is None or moment - kiosk.history_at >= HISTORY_SAMPLE:
            session.execute(sa.insert(Heartbeat).values(
                kiosk_id=kiosk.id, received_at=moment, seq=seq, app_version=app_version, status=status,
                peripherals=peripherals, session_active=session_active))
            values["history_at"] = moment
        if kiosk.last_seen_at is None or moment - kiosk.last_seen_at > OFFLINE_AFTER:
            _resolve(session, kiosk, "offline", moment)
        # A kiosk waiting for authorization is seen alive but gets (and uses up) no commands.
        commands: list[dict] = []
        if kiosk.state == "authorized" and kiosk.commands_pending:
            commands, still_pending = due_commands(session, kiosk, moment,
                                                   values.get("session_active", kiosk.session_active))
            if not still_pending:
                values["commands_pending"] = False
        session.execute(sa.update(Kiosk).where(Kiosk.id == kiosk.id).values(**values)
                        .execution_options(synchronize_session=False))
        for key, value in values.items():  # keep the caller's object in step without a second write
            set_committed_value(kiosk, key, value)
    return {"status": status, "server_time": moment, "interval": HEARTBEAT_SECONDS,
            "maintenance": kiosk.maintenance, "rotate_credential": kiosk.rotate_requested, "commands": commands}


def _lock_and_reload(session: Session, kiosk: Kiosk) -> None:
    """Hold the kiosk's row until the transaction ends and re-read it (pending changes are
    flushed first), so decisions see the latest beat, quick or not."""
    query = (sa.select(Kiosk).where(Kiosk.id == kiosk.id).options(lazyload(Kiosk.site))
             .execution_options(populate_existing=True))
    if session.get_bind().dialect.name == "sqlite":
        # No row locks in SQLite: a first write takes the database's write lock instead.
        session.execute(sa.update(Kiosk).where(Kiosk.id == kiosk.id).values(last_seq=Kiosk.last_seq)
                        .execution_options(synchronize_session=False))
    else:
        query = query.with_for_update()
    session.execute(query).scalar_one()  # fetching the row is what refreshes the object


def _peripheral_alerts(session: Session, kiosk: Kiosk, peripherals: Mapping[str, str], moment: datetime) -> None:
    problems = peripheral_problems(peripherals)
    paper_out = peripherals.get("printer") == "paper_out"
    errors = [p for p in problems if peripherals.get(p) == "error"]
    for kind, active, detail in (("paper_out", paper_out, "printer"), ("peripheral_error", bool(errors), ",".join(errors))):
        current = open_alert(session, kiosk, kind)
        if active and current is None:
            session.add(Alert(kiosk_id=kiosk.id, kind=kind, detail=detail, opened_at=moment))
        elif not active and current is not None:
            current.resolved_at = moment


def _resolve(session: Session, kiosk: Kiosk, kind: str, moment: datetime) -> None:
    session.execute(sa.update(Alert).where(Alert.kiosk_id == kiosk.id, Alert.kind == kind, Alert.resolved_at.is_(None))
                    .values(resolved_at=moment).execution_options(synchronize_session=False))


def heartbeat_history(session: Session, kiosk: Kiosk, limit: int = 50) -> list[Heartbeat]:
    return list(session.scalars(sa.select(Heartbeat).where(Heartbeat.kiosk_id == kiosk.id)
                                .order_by(Heartbeat.received_at.desc(), Heartbeat.id.desc()).limit(limit)))


# ===================================================================== the quick path

def common_beat(body: bytes) -> dict | None:
    """The beat in ``body`` if it is plainly valid, in the shape ``HeartbeatIn().load``
    gives; None for anything else, which the schema then judges (and words the 422 of).

    Strict on purpose: only exact JSON types are accepted (no "5" for 5, no "true" for
    true). tests/fleet/test_heartbeats.py checks it agrees with the schema.
    """
    try:
        data = json.loads(body)
    except (ValueError, RecursionError):  # the schema's parser then answers as it always has
        return None
    if type(data) is not dict or not data.keys() <= _FIELDS:
        return None
    seq = data.get("seq")
    version, profile = data.get("app_version"), data.get("profile")
    peripherals = data.get("peripherals", {})
    active = data.get("session_active", False)
    if (type(seq) is not int or not 0 <= seq <= 2**62 or type(active) is not bool
            or not _plain(version, 32) or not _plain(profile, 64) or type(peripherals) is not dict):
        return None
    for name, state in peripherals.items():
        if type(state) is not str or state not in _PERIPHERAL_STATES.get(name, ()):
            return None
    return {"seq": seq, "app_version": version, "profile": profile, "peripherals": peripherals,
            "session_active": active}


_FIELDS = frozenset(("seq", "app_version", "profile", "peripherals", "session_active"))
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def _plain(value, limit: int) -> bool:
    return value is None or (type(value) is str and len(value) <= limit and not _CONTROL.search(value))


def _peripheral_states() -> dict[str, frozenset[str]]:
    from .states import DEVICE_STATES, PRINTER_STATES

    return {"printer": frozenset(PRINTER_STATES), **{name: frozenset(DEVICE_STATES) for name in
                                                     ("card_reader", "scanner", "qr_scanner", "camera")}}


_PERIPHERAL_STATES = _peripheral_states()


def quick_beat(engine: Engine, credential: str | None, beat: Mapping[str, Any], *,
               connect_args: Mapping[str, Any] | None = None, now=utcnow) -> dict | None:
    """Record an unchanged beat in one statement and answer as record_heartbeat would.

    ``beat`` is validated data (HeartbeatIn). None when the statement matched no row:
    unknown or revoked credential, a change to report, stale seq, history sample or
    offline alert due, commands pending; also when the database failed the statement.
    The caller then goes the transactional way, which decides (or reports the outage).
    """
    if not credential:
        return None
    moment = now()
    peripherals = dict(sorted(beat["peripherals"].items()))
    version, profile = beat["app_version"], beat["profile"]
    quick = liveness_engine(engine, connect_args)
    statement = _quick_statement(quick.dialect, version is not None, profile is not None)
    row = statement.run(quick, {
        "hash": token_hash(credential), "seq": beat["seq"], "moment": moment, "active": beat["session_active"],
        "reported": json.dumps(peripherals), "online_since": moment - OFFLINE_AFTER,
        "sampled_since": moment - HISTORY_SAMPLE, "version": version, "model": profile})
    if row is None:
        return None
    return {"status": kiosk_status(moment, peripherals, moment), "server_time": moment, "interval": HEARTBEAT_SECONDS,
            "maintenance": bool(row[0]), "rotate_credential": bool(row[1]), "commands": []}


class _Compiled:
    """A statement compiled once by SQLAlchemy Core and run on a pooled DBAPI connection.

    Skips Core's per-execution work (cache key, execution context, result wrapping),
    which costs more CPU than the statement's round trip; binds still go through the
    columns' types (UTCDateTime, SQLite's datetime text), so values compare as stored.
    """

    def __init__(self, statement: sa.Update, dialect) -> None:
        compiled = statement.compile(dialect=dialect)
        self.sql = compiled.string
        self.positions = compiled.positiontup if compiled.positional else None
        self.binds = {key: (bind.value, bind.type.bind_processor(dialect)) for key, bind in compiled.binds.items()}

    def run(self, engine: Engine, values: Mapping[str, Any]):
        params = {}
        for key, (default, process) in self.binds.items():
            value = values[key] if key in values else default
            params[key] = process(value) if process is not None else value
        if self.positions is not None:
            params = tuple(params[key] for key in self.positions)
        try:
            connection = engine.raw_connection()
        except (engine.dialect.loaded_dbapi.Error, sa.exc.TimeoutError):
            # No connection now (database down, pool exhausted): the transactional path decides.
            log.warning("quick heartbeat got no connection; taking the transactional path")
            return None
        try:
            cursor = connection.cursor()
            cursor.execute(self.sql, params)
            row = cursor.fetchone()
            cursor.close()
        except engine.dialect.loaded_dbapi.Error:
            # A dropped connection (database restart; no pre-ping here) or a lock timeout:
            # the connection is replaced and the transactional path, whose pool pings, decides.
            log.warning("quick heartbeat failed; taking the transactional path", exc_info=True)
            connection.invalidate()
            return None
        finally:
            connection.close()
        return row


@cache
def _quick_statement(dialect, with_version: bool, with_profile: bool) -> _Compiled:
    k = Kiosk.__table__.c  # bind names differ from column names, as UPDATE requires
    unchanged = [
        k.credential_hash == sa.bindparam("hash"),
        k.state != "revoked",
        k.last_seq < sa.bindparam("seq"),                         # fresh: stale beats go the long way
        k.session_active == sa.bindparam("active"),
        # The JSON as stored (record_heartbeat writes sorted keys); PostgreSQL's json has no "=".
        sa.cast(k.peripherals, sa.Text) == sa.bindparam("reported", type_=sa.Text),
        k.last_seen_at >= sa.bindparam("online_since"),           # no offline alert to resolve
        k.history_at > sa.bindparam("sampled_since"),             # no history sample due
        sa.or_(k.state != "authorized", k.commands_pending == sa.false()),  # no command to deliver
    ]
    if with_version:
        unchanged.append(k.app_version == sa.bindparam("version"))
    if with_profile:
        unchanged.append(k.profile == sa.bindparam("model"))
    statement = (sa.update(Kiosk.__table__).where(*unchanged)
                 .values(last_seen_at=sa.bindparam("moment"), updated_at=sa.bindparam("moment"),
                         last_seq=sa.bindparam("seq"))
                 .returning(k.maintenance, k.rotate_requested))
    return _Compiled(statement, dialect)


_liveness_engines: weakref.WeakKeyDictionary[Engine, Engine] = weakref.WeakKeyDictionary()
_liveness_lock = threading.Lock()


def liveness_engine(engine: Engine, connect_args: Mapping[str, Any] | None = None) -> Engine:
    """An engine on ``engine``'s database for quick beats, made once per engine.

    Autocommit (the statement is the transaction), no pre-ping round trip (a dead
    connection fails the statement and is replaced; see _Compiled.run), and on
    PostgreSQL ``synchronous_commit off`` for the whole connection: a crash may lose the
    last fraction of a second of liveness, which the next beat restores. ``connect_args``
    are the app engine's (connect and statement timeouts), with a shorter connect timeout:
    a beat that cannot connect at once takes the transactional path, which reports the outage.
    """
    with _liveness_lock:
        quick = _liveness_engines.get(engine)
        if quick is None:
            options: dict[str, Any] = {"isolation_level": "AUTOCOMMIT", "pool_pre_ping": False}
            if engine.dialect.name != "sqlite":
                # A small pool of its own: statements last a millisecond, and a kiosk that waits
                # longer than pool_timeout simply takes the transactional path.
                options.update(pool_size=2, max_overflow=4, pool_timeout=1)
            if engine.dialect.name == "postgresql":
                options["connect_args"] = {**(connect_args or {}), "connect_timeout": 2}
            quick = sa.create_engine(engine.url, **options)
            database.configure_engine(quick)
            if quick.dialect.name == "postgresql":
                sa.event.listen(quick, "connect", _asynchronous_commit)
            _liveness_engines[engine] = quick
        return quick


def _asynchronous_commit(dbapi_connection, _record) -> None:
    with dbapi_connection.cursor() as cursor:
        cursor.execute("SET synchronous_commit TO OFF")
    dbapi_connection.commit()  # a no-op in autocommit; ends the implicit transaction otherwise
