"""Benchmarks, run by `kiosk bench …`: shared plumbing (scratch databases, gunicorn).

Like the CLI, benchmarks build whole apps; domains never import this package.
"""
from __future__ import annotations

import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import sqlalchemy as sa


@contextmanager
def scratch_app(database_url: str | None) -> Iterator:
    from ..app import create_app
    from ..core.database import upgrade_database
    from ..extensions import db

    with tempfile.TemporaryDirectory(prefix="kiosk-bench-") as tmp:
        schema = None
        if database_url:
            schema = f"bench_{uuid.uuid4().hex[:8]}"
            admin = sa.create_engine(pg_url(database_url))
            with admin.begin() as conn:
                conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
            sep = "&" if "?" in database_url else "?"
            url = f"{database_url}{sep}options=-csearch_path%3D{schema}"
        else:
            url = f"sqlite:///{Path(tmp) / 'bench.db'}"
        app = create_app({"DATABASE_URL": url, "INSTANCE_PATH": tmp, "SECRET_KEY": "bench"})
        try:
            with app.app_context():
                # The migrations' log lines say nothing about what is measured.
                upgrade_database(quiet=True)
                yield app, db
                db.session.remove()
                db.engine.dispose()
        finally:
            if schema:
                with admin.begin() as conn:
                    conn.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
                admin.dispose()


def pg_url(url: str) -> str:
    from ..config import normalize_database_url

    return normalize_database_url(url)


def wait_for(port: int, timeout: float = 60.0) -> None:
    import http.client

    deadline = time.perf_counter() + timeout
    while time.perf_counter() < deadline:
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            conn.request("GET", "/healthz")
            if conn.getresponse().status == 200:
                return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError("gunicorn did not start")


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def gunicorn(app_spec: str, *, env: dict, workers: int = 2, threads: int = 4) -> Iterator[int]:
    """Run ``app_spec`` under gunicorn on a free loopback port; yields the port."""
    import os
    import subprocess
    import sys

    port = free_port()
    worker = ["-k", "gthread", "--threads", str(threads)] if threads > 1 else ["-k", "sync"]
    cmd = [sys.executable, "-m", "gunicorn", "-w", str(workers), *worker, "-b", f"127.0.0.1:{port}",
           "--log-level", "warning", app_spec]
    server = subprocess.Popen(cmd, env={**os.environ, **env})
    try:
        wait_for(port)
        yield port
    finally:
        server.terminate()
        server.wait(timeout=30)


def wrk(port: int, lua: str, seconds: float, connections: int) -> tuple[int, int]:
    """Requests and errors (non-2xx and socket errors) measured by wrk, the C load
    generator from Debian's ``wrk`` package, driven by a Lua ``request`` function."""
    import re
    import shutil
    import subprocess

    script = lua + (
        "\ndone = function(summary, latency, requests)\n"
        "  local e = summary.errors\n"
        "  io.write(string.format('RESULT %d %d\\n', summary.requests, e.status + e.connect + e.read + e.write + e.timeout))\n"
        "end\n")
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as fh:
        fh.write(script)
    try:
        out = subprocess.run([shutil.which("wrk"), "-t2", f"-c{connections}", f"-d{int(seconds)}s", "-s", fh.name,
                              f"http://127.0.0.1:{port}"], capture_output=True, text=True, check=True).stdout
    finally:
        Path(fh.name).unlink()
    requests, errors = map(int, re.search(r"RESULT (\d+) (\d+)", out).groups())
    return requests, errors


def have_wrk() -> bool:
    import shutil

    return shutil.which("wrk") is not None
