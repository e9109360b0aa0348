"""QR login under load (``kiosk bench qr``): how fast a kiosk learns that its code was
confirmed, and what the waiting costs.

A scratch database (SQLite, or PostgreSQL from KIOSK_BENCH_DATABASE_URL) gets N authorized
kiosks and N residents with mini-app sessions. One gunicorn serves the real app. Each kiosk
opens its login screen (``GET /kiosk/login``) and then polls its challenge as qrlogin.js
does: every KIOSK_QR_POLL_MS with the ETag it last saw, over a keep-alive connection (an
asyncio client, so that 200 waiting kiosks cost the load generator little).

1. **Waiting**: every kiosk polls, nobody confirms. Measured on the server (gunicorn's access
   log, ``%(D)s`` per request) and by the clients: polls per second, share answered 304,
   server time per poll, worker occupancy (server time of all requests / (seconds × worker
   threads)), and the CPU the gunicorn workers used (/proc).
2. **Logins**: the same 200 kiosks keep polling while each resident in turn scans and
   confirms their kiosk's code through the mini-app API (``POST /api/v1/qr-login/scan`` then
   ``/confirm``), spread over the phase. Confirm→kiosk is measured from the moment the
   confirm request is sent to the moment that kiosk's poll answers ``consumed`` (its session
   cookie set), and to the moment the logged-in home page (the answer's ``next``) has
   loaded with that cookie. A kiosk that logged in opens a new login screen and waits
   again, so 200 kiosks wait throughout.

Rate limits are switched off in the server (one load generator is one IP for every resident).
"""
from __future__ import annotations

import asyncio
import json
import os
import platform
import random
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from . import free_port, scratch_app, wait_for

ACCESS_FORMAT = '%(D)s %(s)s "%(r)s"'


# ------------------------------------------------------------------ a small keep-alive HTTP client

class Connection:
    """One HTTP/1.1 connection, kept alive (reopened when the server closes it) unless
    ``keep_alive`` is False: then every request opens its own, as kiosks behind a proxy that
    does not pool, and as gunicorn spreads best over its workers (a kept-alive connection
    stays with the worker that accepted it)."""

    def __init__(self, port: int, keep_alive: bool = True):
        self.port = port
        self.keep_alive = keep_alive
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def _open(self) -> None:
        self.reader, self.writer = await asyncio.open_connection("127.0.0.1", self.port)

    async def request(self, method: str, path: str, headers: dict | None = None,
                      body: bytes = b"") -> tuple[int, dict, bytes]:
        for attempt in range(2):
            if self.writer is None:
                await self._open()
            try:
                return await self._exchange(method, path, headers or {}, body)
            except (ConnectionError, asyncio.IncompleteReadError):
                self.close()
                if attempt:
                    raise
        raise AssertionError("unreachable")

    async def _exchange(self, method, path, headers, body):
        lines = [f"{method} {path} HTTP/1.1", "Host: 127.0.0.1",
                 "Connection: keep-alive" if self.keep_alive else "Connection: close"]
        lines += [f"{k}: {v}" for k, v in headers.items()]
        if body or method == "POST":
            lines.append(f"Content-Length: {len(body)}")
        self.writer.write(("\r\n".join(lines) + "\r\n\r\n").encode() + body)
        await self.writer.drain()
        head = await self.reader.readuntil(b"\r\n\r\n")
        status_line, *header_lines = head.decode("latin-1").split("\r\n")
        status = int(status_line.split()[1])
        answer: dict[str, str] = {}
        for line in header_lines:
            if ":" in line:
                name, _, value = line.partition(":")
                answer.setdefault(name.strip().lower(), value.strip())  # first Set-Cookie is enough here
        length = int(answer.get("content-length", 0))
        data = await self.reader.readexactly(length) if length else b""
        if answer.get("connection", "").lower() == "close" or not self.keep_alive:
            self.close()
        return status, answer, data

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
        self.reader = self.writer = None


# ------------------------------------------------------------------ one kiosk at its login screen

class Kiosk:
    def __init__(self, port: int, credential: str, poll_ms: int, keep_alive: bool = True):
        self.conn = Connection(port, keep_alive)
        self.cookie = f"kiosk_credential={credential}"
        self.poll_s = poll_ms / 1000
        self.poll_path = self.token = self.etag = None
        self.confirm_sent: float | None = None
        self.seen: list[float] = []       # confirm sent → poll answered consumed
        self.screen: list[float] = []     # confirm sent → logged-in home loaded
        self.polls = self.not_modified = self.errors = 0
        self.ready = asyncio.Event()

    async def open_login(self) -> None:
        status, _, body = await self.conn.request("GET", "/kiosk/login", {"Cookie": self.cookie})
        if status != 200:
            raise RuntimeError(f"login screen answered {status}")
        html = body.decode()
        self.poll_path = re.search(r'data-poll-url="([^"]+)"', html).group(1)
        self.token = re.search(r'data-phone-url="[^"]*/m/login/([^"]+)"', html).group(1)
        self.etag = None
        self.ready.set()

    async def run(self, stop_at: float) -> None:
        await self.open_login()
        await asyncio.sleep(random.random() * self.poll_s)  # kiosks do not poll in step
        while time.perf_counter() < stop_at:
            started = time.perf_counter()
            try:
                await self.poll_once()
            except Exception:
                self.errors += 1
                self.conn.close()
            await asyncio.sleep(max(0.0, self.poll_s - (time.perf_counter() - started)))

    async def poll_once(self) -> None:
        headers = {"Cookie": self.cookie, "Accept": "application/json"}
        if self.etag:
            headers["If-None-Match"] = self.etag
        status, answer, body = await self.conn.request("GET", self.poll_path, headers)
        self.polls += 1
        if status == 304:
            self.not_modified += 1
            return
        if status != 200:
            self.errors += 1
            return
        self.etag = answer.get("etag", self.etag)
        state = json.loads(body)["state"]
        if state == "consumed" and self.confirm_sent is not None:
            self.seen.append(time.perf_counter() - self.confirm_sent)
            session = answer.get("set-cookie", "").split(";", 1)[0]
            home, _, _ = await self.conn.request("GET", json.loads(body)["next"],
                                                 {"Cookie": f"{self.cookie}; {session}"})
            if home == 200:
                self.screen.append(time.perf_counter() - self.confirm_sent)
            else:
                self.errors += 1
            self.confirm_sent = None
            self.ready.clear()
            await self.open_login()  # the resident leaves; the screen waits for the next one
        elif state in ("expired", "denied", "unknown"):
            await self.open_login()


CONFIRMS: list[float] = []  # the confirm request's own time, sent → answered


async def _confirm(conn: Connection, kiosk: Kiosk, resident_token: str) -> bool:
    await kiosk.ready.wait()
    headers = {"Authorization": f"Resident {resident_token}", "Content-Type": "application/json"}
    body = json.dumps({"token": kiosk.token}).encode()
    status, _, _ = await conn.request("POST", "/api/v1/qr-login/scan", headers, body)
    if status != 200:
        return False
    kiosk.confirm_sent = sent = time.perf_counter()
    status, _, _ = await conn.request("POST", "/api/v1/qr-login/confirm", headers, body)
    CONFIRMS.append(time.perf_counter() - sent)
    if status != 200:
        kiosk.confirm_sent = None
        return False
    return True


# ------------------------------------------------------------------ server-side measures

def _worker_pids(master: int) -> list[int]:
    try:
        return [int(p) for p in Path(f"/proc/{master}/task/{master}/children").read_text().split()]
    except OSError:
        return []


def _cpu_seconds(pids: list[int]) -> float:
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])  # utime, stime
        except OSError:
            pass
    return total / ticks


def _server_times(log: Path, start: int, end: int) -> dict[str, list[float]]:
    """Server time (seconds) of each request logged between byte offsets, by kind."""
    kinds: dict[str, list[float]] = {"poll": [], "other": []}
    with log.open("rb") as fh:
        fh.seek(start)
        for line in fh.read(end - start).decode(errors="replace").splitlines():
            micros, _, rest = line.partition(" ")
            if micros.isdigit():
                kinds["poll" if "/kiosk/login/challenges/" in rest else "other"].append(int(micros) / 1e6)
    return kinds


def _pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


# ------------------------------------------------------------------ the benchmark

def _prepare(db, kiosks: int) -> tuple[list[str], list[str]]:
    from ..core.actors import SYSTEM
    from ..identity import sessions
    from ..identity.models import Resident
    from .heartbeat import _enrol

    credentials = _enrol(db, kiosks)
    tokens = []
    for n in range(kiosks):
        resident = Resident(provider="demo", subject=f"bench-{n}", name="张三")
        db.session.add(resident)
        db.session.flush()
        _, token = sessions.start(db.session, channel="api", idle_seconds=3600, absolute_seconds=7200,
                                  resident=resident, actor=SYSTEM)
        tokens.append(token)
    db.session.commit()
    return credentials, tokens


async def _phases(port: int, credentials: list[str], tokens: list[str], *, poll_ms: int, wait_s: float,
                  login_s: float, master: int, log: Path, keep_alive: bool) -> dict:
    start = time.perf_counter()
    stop_at = start + 3 + wait_s + login_s + 3
    kiosks = [Kiosk(port, credential, poll_ms, keep_alive) for credential in credentials]
    runners = [asyncio.create_task(k.run(stop_at)) for k in kiosks]
    await asyncio.sleep(3)  # every login screen open, polls spread out
    workers = _worker_pids(master)

    # Phase 1: waiting.
    polls0 = sum(k.polls for k in kiosks)
    not_modified0 = sum(k.not_modified for k in kiosks)
    offset0, cpu0, t0 = log.stat().st_size, _cpu_seconds(workers), time.perf_counter()
    await asyncio.sleep(wait_s)
    offset1, cpu1, t1 = log.stat().st_size, _cpu_seconds(workers), time.perf_counter()
    polls1 = sum(k.polls for k in kiosks)
    not_modified1 = sum(k.not_modified for k in kiosks)
    waiting = {"seconds": t1 - t0, "polls": polls1 - polls0, "not_modified": not_modified1 - not_modified0,
               "cpu": cpu1 - cpu0, "server": _server_times(log, offset0, offset1)}

    # Phase 2: each resident confirms their kiosk's code once, spread over login_s.
    conns = [Connection(port) for _ in range(8)]
    order = list(range(len(kiosks)))
    random.shuffle(order)
    gap = login_s / len(order)
    confirmed = 0

    async def confirm_in_turn(slot: int):
        nonlocal confirmed
        for n, index in enumerate(order):
            if n % len(conns) != slot:
                continue
            await asyncio.sleep(max(0.0, t1 + n * gap - time.perf_counter()))
            done = await _confirm(conns[slot], kiosks[index], tokens[index])
            confirmed += done

    cpu2 = _cpu_seconds(workers)
    offset2 = log.stat().st_size
    await asyncio.gather(*(confirm_in_turn(slot) for slot in range(len(conns))))
    await asyncio.gather(*runners)
    t3, cpu3, offset3 = time.perf_counter(), _cpu_seconds(workers), log.stat().st_size
    for conn in conns:
        conn.close()
    for k in kiosks:
        k.conn.close()
    logins = {"seconds": t3 - t1, "confirmed": confirmed, "seen": [s for k in kiosks for s in k.seen],
              "screen": [s for k in kiosks for s in k.screen], "cpu": cpu3 - cpu2,
              "server": _server_times(log, offset2, offset3), "errors": sum(k.errors for k in kiosks)}
    return {"waiting": waiting, "logins": logins}


def run_qr_benchmark(kiosks: int = 200, *, wait_seconds: float = 15, login_seconds: float = 30,
                     poll_ms: int = 500, workers: int = 2, threads: int = 4, keep_alive: bool = False,
                     echo: Callable[[str], None] = print,
                     database_url: str | None = None) -> dict:
    dialect = "postgresql" if database_url else "sqlite"
    CONFIRMS.clear()
    with scratch_app(database_url) as (app, db), tempfile.TemporaryDirectory(prefix="kiosk-bench-qr-") as tmp:
        credentials, tokens = _prepare(db, kiosks)
        log = Path(tmp) / "access.log"
        log.touch()
        env = {**os.environ, "KIOSK_DATABASE_URL": db.engine.url.render_as_string(hide_password=False),
               "KIOSK_SECRET_KEY": "bench", "KIOSK_INSTANCE_PATH": app.instance_path,
               "KIOSK_PUBLIC_URL": "http://127.0.0.1", "KIOSK_RATELIMIT_ENABLED": "0",
               "KIOSK_QR_POLL_MS": str(poll_ms), "KIOSK_DATA_KEY": "bench-data-key-of-at-least-32-characters"}
        port = free_port()
        worker = ["-k", "gthread", "--threads", str(threads)] if threads > 1 else ["-k", "sync"]
        server = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "-w", str(workers), *worker, "-b", f"127.0.0.1:{port}",
             "--log-level", "warning", "--keep-alive", "5", "--access-logfile", str(log),
             "--access-logformat", ACCESS_FORMAT, "kiosk_backend.benchmarks.catalog:bench_app()"],
            env=env)
        try:
            wait_for(port)
            result = asyncio.run(_phases(port, credentials, tokens, poll_ms=poll_ms, wait_s=wait_seconds,
                                         login_s=login_seconds, master=server.pid, log=log, keep_alive=keep_alive))
        finally:
            server.send_signal(signal.SIGTERM)
            server.wait(timeout=30)
    slots = workers * threads
    waiting, logins = result["waiting"], result["logins"]
    w_server = waiting["server"]["poll"] + waiting["server"]["other"]
    l_server = logins["server"]["poll"] + logins["server"]["other"]
    load = os.getloadavg()[0]
    echo(f"machine: {platform.machine()}, {os.cpu_count()} cores (load average {load:.1f} at the end); database: {dialect}; gunicorn {workers} workers × "
         f"{threads} threads ({slots} request slots); {kiosks} kiosks polling every {poll_ms} ms with ETags, "
         f"{'kept-alive connections' if keep_alive else 'a connection per request'}")
    echo(f"waiting ({waiting['seconds']:.0f} s, nobody confirms):")
    echo(f"  polls {waiting['polls'] / waiting['seconds']:,.0f}/s, {waiting['not_modified'] / max(1, waiting['polls']):.0%}"
         f" answered 304; server time per poll mean {statistics.fmean(waiting['server']['poll'] or [0]) * 1000:.1f} ms,"
         f" p95 {_pct(waiting['server']['poll'], .95) * 1000:.1f} ms")
    echo(f"  worker occupancy {sum(w_server) / (waiting['seconds'] * slots):.1%} of {slots} slots; gunicorn CPU "
         f"{waiting['cpu'] / waiting['seconds']:.2f} cores")
    seen, screen = logins["seen"], logins["screen"]
    echo(f"logins ({logins['seconds']:.0f} s, {logins['confirmed']} confirmed through the mini-app API while all "
         f"{kiosks} kiosks keep waiting; errors {logins['errors']}):")
    echo(f"  the confirm request itself: p50 {_pct(CONFIRMS, .5) * 1000:.0f} ms, p95 {_pct(CONFIRMS, .95) * 1000:.0f} ms")
    echo(f"  confirm → kiosk's poll sees it: p50 {_pct(seen, .5) * 1000:.0f} ms, p95 {_pct(seen, .95) * 1000:.0f} ms, "
         f"max {max(seen or [float('nan')]) * 1000:.0f} ms (n={len(seen)})")
    echo(f"  confirm → logged-in home loaded: p50 {_pct(screen, .5) * 1000:.0f} ms, p95 {_pct(screen, .95) * 1000:.0f} ms"
         f" (budget p95 ≤ 1,500 ms)")
    echo(f"  worker occupancy {sum(l_server) / (logins['seconds'] * slots):.1%}; gunicorn CPU "
         f"{logins['cpu'] / logins['seconds']:.2f} cores")
    return {"poll_rps": waiting["polls"] / waiting["seconds"],
            "not_modified_share": waiting["not_modified"] / max(1, waiting["polls"]),
            "occupancy_waiting": sum(w_server) / (waiting["seconds"] * slots),
            "seen_p50": _pct(seen, .5), "seen_p95": _pct(seen, .95), "screen_p95": _pct(screen, .95),
            "confirmed": logins["confirmed"], "errors": logins["errors"]}
