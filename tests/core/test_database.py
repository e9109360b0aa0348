"""Database timeouts: a database that stops answering gives 503 + Retry-After within the
configured time instead of hanging the worker (config.engine_options, core.errors)."""
from __future__ import annotations

import socket
import threading
import time

import pytest
import sqlalchemy as sa

from kiosk_backend.extensions import db
from tests.conftest import PG_URL

needs_pg = pytest.mark.skipif(not PG_URL, reason="needs PostgreSQL (KIOSK_TEST_DATABASE_URL)")


def _assert_unavailable(response):
    assert response.status_code == 503
    assert response.headers["Retry-After"].isdigit()


class SilentServer:
    """A TCP port that accepts connections (the kernel does the handshake) and never
    answers: a PostgreSQL that hangs. ``hang_up_after(6)`` closes it 6 s later (the client
    then gets a reset), so that a missing connect timeout fails a test instead of hanging it."""

    def __init__(self):
        self.socket = socket.socket()
        self.socket.bind(("127.0.0.1", 0))
        self.socket.listen(8)
        self.port = self.socket.getsockname()[1]
        self.guard: threading.Timer | None = None

    def hang_up_after(self, seconds: float) -> None:
        self.guard = threading.Timer(seconds, self.socket.close)
        self.guard.start()

    def close(self) -> None:
        if self.guard is not None:
            self.guard.cancel()
        self.socket.close()


@pytest.fixture
def silent_server():
    server = SilentServer()
    yield server
    server.close()


def test_connect_timeout_gives_up_in_the_configured_seconds(make_app, silent_server):
    app = make_app(create_schema=False, DATABASE_URL=f"postgresql://postgres@127.0.0.1:{silent_server.port}/test",
                   KIOSK_DB_CONNECT_TIMEOUT=1)
    client = app.test_client()
    silent_server.hang_up_after(6)
    started = time.monotonic()
    response = client.get("/healthz")
    elapsed = time.monotonic() - started
    _assert_unavailable(response)
    assert elapsed < 4, elapsed  # libpq's minimum connect_timeout is 2 s; without one it hangs


def test_pool_timeout_gives_503_when_no_connection_comes_free(make_app, tmp_path):
    url = f"sqlite:///{tmp_path / 'pool.db'}"
    app = make_app(DATABASE_URL=url, KIOSK_DB_POOL_TIMEOUT=1)
    with app.app_context():
        assert db.engine.pool.timeout() == 1
    # The same options with a pool of one connection, which the test holds.
    options = {**app.config["SQLALCHEMY_ENGINE_OPTIONS"], "pool_size": 1, "max_overflow": 0}
    small = make_app(create_schema=False, DATABASE_URL=url, SQLALCHEMY_ENGINE_OPTIONS=options)
    with small.app_context():
        held = db.engine.connect()
        try:
            started = time.monotonic()
            response = small.test_client().get("/healthz")
            elapsed = time.monotonic() - started
        finally:
            held.close()
    _assert_unavailable(response)
    assert 0.9 < elapsed < 3, elapsed


@needs_pg
def test_statement_timeout_cancels_a_long_statement_with_503(make_app):
    app = make_app(KIOSK_DB_STATEMENT_TIMEOUT_MS=200)

    @app.get("/_test/sleep")
    def _sleep():
        db.session.execute(sa.text("SELECT pg_sleep(2)"))
        return "slept"

    started = time.monotonic()
    response = app.test_client().get("/_test/sleep")
    elapsed = time.monotonic() - started
    _assert_unavailable(response)
    assert elapsed < 1.5, elapsed
    with app.app_context():  # the connection recovered; the URL's search_path survived the merge
        assert db.session.execute(sa.text("SHOW statement_timeout")).scalar_one() == "200ms"
        search_path = db.session.execute(sa.text("SHOW search_path")).scalar_one()
        assert search_path.startswith("t_"), search_path
        db.session.remove()
