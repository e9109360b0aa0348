"""Engine set-up that must be identical for every surface and the CLI."""
from __future__ import annotations

import logging

import sqlalchemy as sa
from sqlalchemy.engine import Engine


def configure_engine(engine: Engine) -> None:
    """SQLite needs foreign keys switched on, WAL for concurrent readers and a busy
    timeout so that concurrent writers wait instead of failing at once."""
    if engine.dialect.name != "sqlite":
        return

    @sa.event.listens_for(engine, "connect")
    def _sqlite_pragmas(dbapi_conn, _record):
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute("PRAGMA busy_timeout=15000")
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.close()


def accepts_writes(session) -> bool:
    """Whether the database behind ``session`` answers and takes writes; cheap enough for a
    health check every few seconds. Outages (refused, timed out, locked beyond the busy
    timeout) raise as from any query.

    PostgreSQL: ``transaction_read_only`` of the session (on for a hot standby and under
    ``default_transaction_read_only``). SQLite: a write that is rolled back, on a connection
    of its own (BEGIN IMMEDIATE alone succeeds on a read-only file).
    """
    engine = session.get_bind()
    if engine.dialect.name == "postgresql":
        return session.execute(sa.text("SHOW transaction_read_only")).scalar_one() != "on"
    if engine.dialect.name != "sqlite":
        session.execute(sa.text("SELECT 1"))
        return True
    with engine.connect() as conn:  # rolled back when closed
        try:
            conn.exec_driver_sql("BEGIN IMMEDIATE")
            version = conn.exec_driver_sql("PRAGMA user_version").scalar_one()
            conn.exec_driver_sql(f"PRAGMA user_version = {int(version)}")  # dirties page 1, never written
        except sa.exc.OperationalError as error:
            if "readonly" not in str(error.orig).lower():
                raise  # locked beyond the busy timeout, disk I/O: an outage (503)
            return False
    return True


def upgrade_database(*, quiet: bool = False) -> None:
    """Apply every migration (inside an app context), as ``kiosk db upgrade`` does.

    ``quiet`` leaves out alembic's line per revision (the demo and the benchmarks say what
    they are doing themselves); ``migrations/env.py`` reconfigures alembic's loggers, so this
    holds back INFO records for the upgrade's duration instead of setting a logger's level."""
    from flask import current_app
    from flask_migrate import upgrade

    previous = logging.root.manager.disable
    if quiet:
        logging.disable(logging.INFO)
    try:
        upgrade(directory=current_app.extensions["migrate"].directory)
    finally:
        logging.disable(previous)


def scoped(query, ids: set[int] | None, column):
    """``query`` limited to rows whose ``column`` is in ``ids``; None means no limit (a site
    manager sees their sites, an admin all). An empty set matches nothing."""
    return query if ids is None else query.where(column.in_(ids or {-1}))
