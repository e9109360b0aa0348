"""Heartbeat throughput under gunicorn, side by side with a bare JSON hello (``kiosk bench heartbeat``).

A scratch database gets one site and N authorized kiosks, each beaten once beforehand
(a first beat records history, so it takes the transactional path). One gunicorn serves
the real app plus ``/bench/hello``; wrk then loads, in alternating rounds (the order
reversed every other round, so all see the same machine noise):

- hello;
- heartbeats with an unchanged body and each kiosk's own rising ``seq``, as a healthy
  fleet sends them: the one-statement kind;
- a fleet mix: the same, but one beat in ten reports a change and so takes the
  transactional path, as the 5-minute history sample makes a kiosk beating every 30 s do.

The ratio heartbeat/hello is the figure that carries from machine to machine.
"""
from __future__ import annotations

import os
import platform
from collections.abc import Callable

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


def _first_beats(app, credentials: list[str]) -> None:
    """Each kiosk's first beat (first sighting, history row: the transactional path), made
    before the load so that the rounds measure a fleet in its steady state."""
    client = app.test_client()
    for credential in credentials:
        response = client.post("/api/v1/kiosk/heartbeat", json={"seq": 1, "app_version": "bench",
                                                                "peripherals": {"printer": "ok", "card_reader": "ok"}},
                               headers={"Authorization": f"Kiosk {credential}"})
        assert response.status_code == 200, response.text


def heartbeat_lua(credentials: list[str], base_seq: int, *, mix: bool = False) -> str:
    """wrk script: each wrk thread beats its own share of the kiosks round-robin, every
    kiosk's ``seq`` rising from ``base_seq`` (give every wrk run a higher base).

    ``mix``: two beats in twenty of each kiosk report a change (paper low, then ok again),
    staggered over the kiosks, so one beat in ten takes the transactional path, as the
    5-minute history sample makes a kiosk beating every 30 s do."""
    return ("creds = {" + ",".join(f'"{c}"' for c in credentials) + "}\n"
            f"nthreads = {WRK_THREADS}\n"
            f"mix = {'true' if mix else 'false'}\n"
            "made = 0\n"
            "setup = function(thread)\n  thread:set('id', made)\n  made = made + 1\nend\n"
            "counter = 0\n"
            "request = function()\n"
            "  local share = math.floor(#creds / nthreads)\n"
            "  local kiosk = (counter % share) * nthreads + id + 1\n"
            "  local beat = math.floor(counter / share)\n"
            f"  local seq = {base_seq} + beat\n"
            "  local printer = (mix and (beat + kiosk) % 20 == 0) and 'paper_low' or 'ok'\n"
            "  counter = counter + 1\n"
            "  local body = string.format('{\"seq\": %d, \"app_version\": \"bench\", \"peripherals\": "
            "{\"printer\": \"%s\", \"card_reader\": \"ok\"}, \"session_active\": false}', seq, printer)\n"
            "  return wrk.format('POST', '/api/v1/kiosk/heartbeat', {['Authorization'] = 'Kiosk ' .. "
            "creds[kiosk], ['Content-Type'] = 'application/json'}, body)\n"
            "end\n")


def run_heartbeat_benchmark(kiosks: int, seconds: float, *, workers: int = 2, threads: int = 4, connections: int = 16,
                            rounds: int = 5, echo: Callable[[str], None] = print,
                            database_url: str | None = None) -> dict:
    """``seconds`` of load per endpoint in all, split over ``rounds`` alternating rounds."""
    if not have_wrk():
        raise SystemExit("kiosk bench heartbeat needs wrk (Debian package 'wrk') as its load generator.")
    dialect = "postgresql" if database_url else "sqlite"
    per_round = max(1, int(round(seconds / rounds)))
    kinds = ("hello", "heartbeat", "mix")
    totals = {kind: [0, 0] for kind in kinds}  # requests, errors
    lines, ratios = [], []
    with scratch_app(database_url) as (app, db):
        credentials = _enrol(db, kiosks)
        _first_beats(app, credentials)
        env = {"KIOSK_DATABASE_URL": db.engine.url.render_as_string(hide_password=False), "KIOSK_SECRET_KEY": "bench",
               "KIOSK_INSTANCE_PATH": app.instance_path}
        runs = 0

        def load(kind: str, duration: float) -> tuple[int, int]:
            nonlocal runs
            runs += 1
            lua = HELLO_LUA if kind == "hello" else heartbeat_lua(credentials, runs * 1_000_000, mix=kind == "mix")
            return wrk(port, lua, duration, connections)

        with gunicorn("kiosk_backend.benchmarks.catalog:bench_app()", env=env, workers=workers, threads=threads) as port:
            load("hello", 2)  # warm-up: workers, threads and their database connections
            load("heartbeat", 2)
            for n in range(rounds):
                order = kinds if n % 2 == 0 else kinds[::-1]
                got = {}
                for kind in order:
                    done, errors = load(kind, per_round)
                    totals[kind][0] += done
                    totals[kind][1] += errors
                    got[kind] = done / per_round
                ratios.append(got["heartbeat"] / got["hello"] if got["hello"] else 0.0)
                lines.append(f"round {n + 1}: hello {got['hello']:,.0f}/s, heartbeats {got['heartbeat']:,.0f}/s "
                             f"({ratios[-1]:.0%}), fleet mix {got['mix']:,.0f}/s")
    ratios.sort()
    hello = totals["hello"][0] / (per_round * rounds)
    beats = totals["heartbeat"][0] / (per_round * rounds)
    mixed = totals["mix"][0] / (per_round * rounds)
    ratio = beats / hello if hello else 0.0
    echo(f"machine: {platform.machine()}, {os.cpu_count()} cores; database: {dialect}; "
         f"gunicorn {workers} workers × {threads} threads; wrk {connections} connections; {kiosks} kiosks; "
         f"{rounds} alternating rounds of {per_round} s per endpoint")
    for line in lines:
        echo("  " + line)
    echo(f"hello      {hello:8,.0f}/s (errors {totals['hello'][1]})")
    echo(f"heartbeats {beats:8,.0f}/s (errors {totals['heartbeat'][1]}; ≈ {beats * 30:,.0f} kiosks at a 30 s interval)")
    echo(f"fleet mix  {mixed:8,.0f}/s (errors {totals['mix'][1]}; one beat in ten transactional; "
         f"{mixed / hello if hello else 0:.0%} of hello)")
    echo(f"heartbeat/hello throughput ratio {ratio:.0%} over all rounds, median round "
         f"{ratios[len(ratios) // 2] if ratios else 0:.0%} (budget ≥ 40 %); "
         f"budget ≥ 1,000 heartbeats/s on PostgreSQL with 2 cores")
    return {"hello_rps": hello, "heartbeat_rps": beats, "mix_rps": mixed, "ratio": ratio}
