"""Two app servers (gunicorn processes on two ports), one PostgreSQL schema, one Redis:
a rate limit counted on one is enforced on the other, and a catalog import made through
one is found by the other's search.

PostgreSQL only (SQLite is the one-machine default); Redis must be reachable, or the test
is skipped outside CI.
"""
from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path
from urllib.parse import quote

import pytest

from kiosk_backend.core.gateways import HttpRequest, UrllibTransport
from tests.conftest import PG_URL, item_row
from tests.core.test_ratelimit import redis_or_skip

pytestmark = [pytest.mark.postgres_only,
              pytest.mark.skipif(not PG_URL, reason="scale-out needs PostgreSQL (KIOSK_TEST_DATABASE_URL)")]

ROOT = Path(__file__).resolve().parent.parent
http = UrllibTransport(timeout=10)
SERVERS_DATABASE: dict[str, str] = {}  # the servers' database URL, for tests that prepare rows in it


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_until_up(base: str, process: subprocess.Popen, *, log: Path, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            tail = log.read_text(errors="replace")[-3000:]
            raise RuntimeError(f"app server exited with {process.returncode}:\n{tail}")
        try:
            if http.send(HttpRequest("GET", base + "/healthz"), timeout=1).status < 500:
                return
        except Exception:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"{base} did not come up")


@pytest.fixture(scope="module")
def servers(make_app, databases, tmp_path_factory):
    """Two gunicorn servers on one new PostgreSQL schema, an admin bearer token for it."""
    from kiosk_backend.core.actors import SYSTEM
    from kiosk_backend.extensions import db
    from kiosk_backend.identity import services as identity

    redis_url = redis_or_skip()
    url = databases.new_url()
    SERVERS_DATABASE["url"] = url
    app = make_app(DATABASE_URL=url)
    with app.app_context():
        identity.create_staff(db.session, username="admin", password="correct horse battery", role="admin",
                              actor=SYSTEM)
        token = identity.issue_token(db.session, username="admin", name="scale-out test", actor=SYSTEM)
        db.session.commit()

    prefix = f"kiosk-scale-{uuid.uuid4().hex[:10]}"
    env = {**os.environ, "KIOSK_DATABASE_URL": url, "KIOSK_SECRET_KEY": "scale-out", "KIOSK_REDIS_URL": redis_url,
           "KIOSK_PUBLIC_URL": "https://zwfw.example.gov.cn",
           "KIOSK_DATA_KEY": "scale-out-data-key-of-at-least-32-characters",
           "KIOSK_RATELIMIT_KEY_PREFIX": prefix, "KIOSK_RATELIMIT_ENROLMENT_IP": "3/minute",
           "KIOSK_INSTANCE_PATH": str(tmp_path_factory.mktemp("scale-instance")), "KIOSK_LOG_LEVEL": "WARNING"}
    bases, processes = [], []
    logs = tmp_path_factory.mktemp("scale-logs")
    try:
        for number in range(2):
            port = free_port()
            # The server's log goes to a file (a pipe nobody reads would fill and stall it).
            with open(logs / f"server-{number}.log", "wb") as log:
                processes.append(subprocess.Popen(
                    [sys.executable, "-m", "gunicorn", "--bind", f"127.0.0.1:{port}", "--workers", "1",
                     "--threads", "2", "kiosk_backend.wsgi:app"],
                    cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=log))
            bases.append(f"http://127.0.0.1:{port}")
        for number, (base, process) in enumerate(zip(bases, processes)):
            wait_until_up(base, process, log=logs / f"server-{number}.log")
        yield bases, token
    finally:
        for process in processes:
            process.send_signal(signal.SIGTERM)
        for process in processes:
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        import redis

        client = redis.Redis.from_url(redis_url)
        for key in client.scan_iter(f"{prefix}*"):
            client.delete(key)
        client.close()


def claim(base: str):
    return http.send(HttpRequest("POST", base + "/api/v1/kiosk/activate", {"Content-Type": "application/json"},
                                 json.dumps({"code": "ABCD-EFGH-JKLM"}).encode()))


def test_a_rate_limit_counted_on_one_server_is_enforced_on_the_other(servers):
    (a, b), _token = servers
    assert [claim(a).status, claim(b).status, claim(a).status] == [422, 422, 422]
    refused = claim(b)
    assert refused.status == 429 and refused.headers.get("Retry-After", "").isdigit()
    assert json.loads(refused.body)["code"] == 429
    assert claim(a).status == 429


def search(base: str, q: str) -> list[str]:
    answer = http.send(HttpRequest("GET", base + "/api/v1/catalog/items?q=" + quote(q)))
    assert answer.status == 200, answer.body
    return [item["task_code"] for item in json.loads(answer.body)["items"]]


def upload(base: str, token: str, rows: list[dict]):
    boundary = uuid.uuid4().hex
    content = json.dumps(rows, ensure_ascii=False).encode()
    body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"items.json\"\r\n"
            f"Content-Type: application/json\r\n\r\n").encode() + content + f"\r\n--{boundary}--\r\n".encode()
    return http.send(HttpRequest("POST", base + "/api/v1/admin/catalog/import", {
        "Authorization": f"Bearer {token}", "Content-Type": f"multipart/form-data; boundary={boundary}"}, body))


def test_a_catalog_import_through_one_server_is_found_by_the_other(servers):
    (a, b), token = servers
    assert upload(a, token, [item_row(task_name="居民身份证申领", task_code="SCALE0000000000000001")]).status == 200
    assert search(b, "身份证") == ["SCALE0000000000000001"]  # b builds its index now

    row = item_row(task_name="出入境通行证签注", task_code="SCALE0000000000000002", dept_name="江州市公安局出入境管理支队")
    answer = upload(a, token, [row])
    assert answer.status == 200 and json.loads(answer.body)["created"] == 1
    deadline = time.monotonic() + 5  # the index looks at the catalog revision at most once a second
    while "SCALE0000000000000002" not in search(b, "签注"):
        assert time.monotonic() < deadline, "server b never saw the import made through server a"
        time.sleep(0.2)


def test_a_qr_login_created_on_one_server_and_confirmed_on_the_other_reaches_the_kiosk_polling_either(
        servers, make_app):
    """The kiosk opens its login screen on server a; the resident's mini-app confirms through
    server b; the kiosk's polls, alternating between a and b, see the change (ETag moves
    from 304 to 200) and the one that finds it confirmed logs the kiosk in."""
    import re

    from kiosk_backend.core.actors import SYSTEM
    from kiosk_backend.extensions import db
    from kiosk_backend.fleet import services as fleet
    from kiosk_backend.identity import sessions
    from kiosk_backend.identity.models import Resident
    from kiosk_backend.sites import services as sites
    from tests.conftest import SITE

    (a, b), _token = servers
    app = make_app(create_schema=False, DATABASE_URL=SERVERS_DATABASE["url"])
    with app.app_context():
        site = sites.create_site(db.session, actor=SYSTEM, **{**SITE, "code": "QR01"})
        code, _ = fleet.create_enrolment_code(db.session, site=site, actor="test", pre_authorized=True)
        _, credential = fleet.activate(db.session, code=code, profile="post-office-portrait")
        resident = Resident(provider="demo", subject="scale-qr", name="张三")
        db.session.add(resident)
        db.session.flush()
        _, resident_token = sessions.start(db.session, channel="api", idle_seconds=600, absolute_seconds=3600,
                                           resident=resident, actor=SYSTEM)
        db.session.commit()
        db.session.remove()
    kiosk = {"Cookie": f"kiosk_credential={credential}"}
    page = http.send(HttpRequest("GET", a + "/kiosk/login", kiosk))
    assert page.status == 200
    html = page.body.decode()
    poll = re.search(r'data-poll-url="([^"]+)"', html).group(1)
    phone_url = re.search(r'data-phone-url="([^"]+)"', html).group(1)
    assert phone_url.startswith("https://zwfw.example.gov.cn/m/login/")  # KIOSK_PUBLIC_URL
    token = phone_url.rsplit("/", 1)[1]

    first = http.send(HttpRequest("GET", b + poll, kiosk))
    assert first.status == 200 and json.loads(first.body)["state"] == "pending"
    etag = first.headers["ETag"]
    assert http.send(HttpRequest("GET", a + poll, {**kiosk, "If-None-Match": etag})).status == 304

    mini_app = {"Authorization": f"Resident {resident_token}", "Content-Type": "application/json"}
    for step in ("scan", "confirm"):
        answer = http.send(HttpRequest("POST", f"{b}/api/v1/qr-login/{step}", mini_app,
                                       json.dumps({"token": token}).encode()))
        assert answer.status == 200, answer.body

    seen = http.send(HttpRequest("GET", a + poll, {**kiosk, "If-None-Match": etag}))
    assert seen.status == 200 and json.loads(seen.body) == {"state": "consumed", "next": "/kiosk/"}
    assert "kiosk_session=" in seen.headers["Set-Cookie"]
    replay = http.send(HttpRequest("GET", b + poll, kiosk))
    assert json.loads(replay.body) == {"state": "consumed"} and "kiosk_session=" not in replay.headers.get(
        "Set-Cookie", "")
