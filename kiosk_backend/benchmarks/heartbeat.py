"""Heartbeat throughput under gunicorn (run by ``kiosk bench heartbeat``).

A scratch database gets one site and N authorized kiosks; wrk then POSTs heartbeats
round-robin over the kiosks' credentials, exactly as kiosks do (auth, state update,
history row, due commands), and the rate of 200 answers is printed.
"""
from __future__ import annotations

import os
import platform
from typing import Callable

from . import gunicorn, have_wrk, scratch_app, wrk


def _enrol(db, kiosks: int) -> list[str]:
    from ..fleet import services

    site = services.create_site(db.session, actor="bench", code="BENCH", kind="service_hall", name="基准测试大厅",
                                province_code="36", city_code="3604", county_code="360403", address="浔阳路 1 号")
    credentials = []
    for _ in range(kiosks):
        code, _record = services.create_enrolment_code(db.session, site=site, actor="bench", pre_authorized=True)
        _kiosk, credential = services.activate(db.session, code=code, profile="post-office-portrait")
        credentials.append(credential)
    db.session.commit()
    return credentials


def run_heartbeat_benchmark(kiosks: int, seconds: float, *, workers: int = 2, threads: int = 4, connections: int = 16,
                            echo: Callable[[str], None] = print, database_url: str | None = None) -> float:
    if not have_wrk():
        raise SystemExit("kiosk bench heartbeat needs wrk (Debian package 'wrk') as its load generator.")
    dialect = "postgresql" if database_url else "sqlite"
    with scratch_app(database_url) as (app, db):
        credentials = _enrol(db, kiosks)
        env = {"KIOSK_DATABASE_URL": db.engine.url.render_as_string(hide_password=False), "KIOSK_SECRET_KEY": "bench",
               "KIOSK_INSTANCE_PATH": app.instance_path}
        lua = ("creds = {" + ",".join(f'"{c}"' for c in credentials) + "}\n"
               "counter = 0\n"
               "request = function()\n"
               "  counter = counter + 1\n"
               "  local body = string.format('{\"seq\": %d, \"app_version\": \"bench\", \"peripherals\": "
               "{\"printer\": \"ok\", \"card_reader\": \"ok\"}, \"session_active\": false}', counter)\n"
               "  return wrk.format('POST', '/api/v1/kiosk/heartbeat', {['Authorization'] = 'Kiosk ' .. "
               "creds[(counter % #creds) + 1], ['Content-Type'] = 'application/json'}, body)\n"
               "end\n")
        with gunicorn("kiosk_backend.app:create_app()", env=env, workers=workers, threads=threads) as port:
            wrk(port, lua, 2, connections)  # warm-up
            done, errors = wrk(port, lua, seconds, connections)
    rate = done / seconds
    echo(f"machine: {platform.machine()}, {os.cpu_count()} cores; database: {dialect}; "
         f"gunicorn {workers} workers × {threads} threads; wrk {connections} connections; {kiosks} kiosks")
    echo(f"heartbeats {rate:.0f}/s over {seconds:.0f} s (errors {errors}); budget ≥ 1,000/s on PostgreSQL "
         f"(≈ {rate * 30:,.0f} kiosks at a 30 s interval)")
    return rate
