"""Heartbeat throughput under gunicorn, side by side with a bare JSON hello (``kiosk bench heartbeat``).

A scratch database gets one site and N authorized kiosks. One gunicorn serves the real app
plus ``/bench/hello``; wrk then loads the two endpoints in alternating rounds (hello first
in odd rounds, heartbeats first in even ones), so both see the same machine noise. Each
kiosk beats with its own rising ``seq`` and an unchanged body, as a healthy fleet does:
after the warm-up (every kiosk's first beat records history and so takes the
transactional path) the beats are the common, one-statement kind. The ratio
heartbeat/hello is the figure that carries from machine to machine.
"""
from __future__ import annotations

import os
import platform
from typing import Callable

from . import gunicorn, have_wrk, scratch_app, wrk

WRK_THREADS = 2  # benchmarks.wrk runs wrk -t2
HELLO_LUA = "request = function()\n  return wrk.format('GET', '/bench/hello')\nend\n"


def _enrol(db, kiosks: int) -> list[str]:
    from ..core.actors import SYSTEM
    from ..fleet import services
    from ..sites import services as sites

    site = sites.create_site(db.session, actor=SYSTEM, code="BENCH", kind="service_hall", name="基准测试大厅",
                                province_code="36", city_code="3604", county_code="360403", address="浔阳路 1 号")
    credentials = []
    for _ in range(kiosks):
        code, _record = services.create_enrolment_code(db.session, site=site, actor="bench", pre_authorized=True)
        _kiosk, credential = services.activate(db.session, code=code, profile="post-office-portrait")
        credentials.append(credential)
    db.session.commit()
    return credentials


def heartbeat_lua(credentials: list[str], base_seq: int) -> str:
    """wrk script: each wrk thread beats its own share of the kiosks round-robin, every
    kiosk's ``seq`` rising from ``base_seq`` (give every wrk run a higher base)."""
    return ("creds = {" + ",".join(f'"{c}"' for c in credentials) + "}\n"
            f"nthreads = {WRK_THREADS}\n"
            "made = 0\n"
            "setup = function(thread)\n  thread:set('id', made)\n  made = made + 1\nend\n"
            "counter = 0\n"
            "request = function()\n"
            "  local share = math.floor(#creds / nthreads)\n"
            "  local kiosk = (counter % share) * nthreads + id + 1\n"
            f"  local seq = {base_seq} + math.floor(counter / share)\n"
            "  counter = counter + 1\n"
            "  local body = string.format('{\"seq\": %d, \"app_version\": \"bench\", \"peripherals\": "
            "{\"printer\": \"ok\", \"card_reader\": \"ok\"}, \"session_active\": false}', seq)\n"
            "  return wrk.format('POST', '/api/v1/kiosk/heartbeat', {['Authorization'] = 'Kiosk ' .. "
            "creds[kiosk], ['Content-Type'] = 'application/json'}, body)\n"
            "end\n")


def run_heartbeat_benchmark(kiosks: int, seconds: float, *, workers: int = 2, threads: int = 4, connections: int = 16,
                            rounds: int = 3, echo: Callable[[str], None] = print,
                            database_url: str | None = None) -> dict:
    """``seconds`` of load per endpoint in all, split over ``rounds`` alternating rounds."""
    if not have_wrk():
        raise SystemExit("kiosk bench heartbeat needs wrk (Debian package 'wrk') as its load generator.")
    dialect = "postgresql" if database_url else "sqlite"
    per_round = max(1, int(round(seconds / rounds)))
    totals = {"hello": [0, 0], "heartbeat": [0, 0]}  # requests, errors
    lines = []
    with scratch_app(database_url) as (app, db):
        credentials = _enrol(db, kiosks)
        env = {"KIOSK_DATABASE_URL": db.engine.url.render_as_string(hide_password=False), "KIOSK_SECRET_KEY": "bench",
               "KIOSK_INSTANCE_PATH": app.instance_path}
        runs = 0

        def load(kind: str, duration: float) -> tuple[int, int]:
            nonlocal runs
            runs += 1
            lua = HELLO_LUA if kind == "hello" else heartbeat_lua(credentials, base_seq=runs * 1_000_000)
            return wrk(port, lua, duration, connections)

        with gunicorn("kiosk_backend.benchmarks.catalog:bench_app()", env=env, workers=workers, threads=threads) as port:
            load("hello", 2)  # warm-up: every worker and connection, and each kiosk's first (history) beat
            load("heartbeat", 3)
            for n in range(rounds):
                order = ("hello", "heartbeat") if n % 2 == 0 else ("heartbeat", "hello")
                got = {}
                for kind in order:
                    done, errors = load(kind, per_round)
                    totals[kind][0] += done
                    totals[kind][1] += errors
                    got[kind] = done / per_round
                lines.append(f"round {n + 1}: hello {got['hello']:,.0f}/s, heartbeats {got['heartbeat']:,.0f}/s "
                             f"({got['heartbeat'] / got['hello']:.0%})")
    hello = totals["hello"][0] / (per_round * rounds)
    beats = totals["heartbeat"][0] / (per_round * rounds)
    ratio = beats / hello if hello else 0.0
    echo(f"machine: {platform.machine()}, {os.cpu_count()} cores; database: {dialect}; "
         f"gunicorn {workers} workers × {threads} threads; wrk {connections} connections; {kiosks} kiosks; "
         f"{rounds} alternating rounds of {per_round} s per endpoint")
    for line in lines:
        echo("  " + line)
    echo(f"hello      {hello:8,.0f}/s (errors {totals['hello'][1]})")
    echo(f"heartbeats {beats:8,.0f}/s (errors {totals['heartbeat'][1]}; ≈ {beats * 30:,.0f} kiosks at a 30 s interval)")
    echo(f"heartbeat/hello throughput ratio {ratio:.0%} (budget ≥ 40 %); "
         f"budget ≥ 1,000 heartbeats/s on PostgreSQL with 2 cores")
    return {"hello_rps": hello, "heartbeat_rps": beats, "ratio": ratio}
