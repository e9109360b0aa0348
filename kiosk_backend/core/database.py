"""Engine set-up that must be identical for every surface and the CLI."""
from __future__ import annotations

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


def upgrade_database() -> None:
    """Apply every migration (inside an app context), as ``kiosk db upgrade`` does."""
    from flask import current_app
    from flask_migrate import upgrade

    upgrade(directory=current_app.extensions["migrate"].directory)


def scoped(query, ids: set[int] | None, column):
    """``query`` limited to rows whose ``column`` is in ``ids``; None means no limit (a site
    manager sees their sites, an admin all). An empty set matches nothing."""
    return query if ids is None else query.where(column.in_(ids or {-1}))
