"""`kiosk worker` as a real process on the real queue storage (SqliteHuey in the instance
folder, or RedisHuey): a worker SIGKILLed mid-job loses nothing and the next one does the
job exactly once; SIGTERM lets the running job finish before the worker exits."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
import sqlalchemy as sa

from kiosk_backend.core import outbox, tasks
from kiosk_backend.core.outbox import DONE, RUNNING, OutboxMessage
from kiosk_backend.extensions import db as _db

from .test_tasks import redis_or_skip

PROJECT = Path(__file__).resolve().parents[2]

# The worker process: registers a slow handler, then runs the real `kiosk worker` command.
WORKER = '''
import os, sys, time
from kiosk_backend.core import outbox

LOG = os.environ["TEST_WORKER_LOG"]


def note(line):
    with open(LOG, "a") as fh:
        fh.write(line + "\\n")


@outbox.handler("test.slow")
def slow(payload, *, key, session):
    note(f"start {key} {os.getpid()}")
    if os.environ.get("TEST_WORKER_SLOW") == "1":
        time.sleep(payload["seconds"])
    note(f"done {key} {os.getpid()}")


from kiosk_backend.cli import main

main(["worker", "--workers", "1", "--no-periodic"])
'''


@pytest.fixture(params=["sqlite-queue", "redis-queue"])
def worker_app(request, make_app, tmp_path):
    config = {"KIOSK_JOB_LEASE_SECONDS": 2}
    if request.param == "redis-queue":
        config |= {"KIOSK_REDIS_URL": redis_or_skip(), "KIOSK_QUEUE_NAME": f"kiosk-test-{uuid.uuid4().hex[:8]}"}
    app = make_app(**config)
    app.test_log = tmp_path / "handler.log"
    app.test_log.touch()
    yield app
    app.extensions["huey"].flush()


def start_worker(app, tmp_path, *, slow: bool) -> subprocess.Popen:
    script = tmp_path / "worker.py"
    script.write_text(WORKER)
    env = {**os.environ,
           "KIOSK_DATABASE_URL": str(app.config["SQLALCHEMY_DATABASE_URI"]),
           "KIOSK_INSTANCE_PATH": app.instance_path, "KIOSK_SECRET_KEY": "test",
           "KIOSK_JOB_LEASE_SECONDS": str(app.config["KIOSK_JOB_LEASE_SECONDS"]),
           "KIOSK_REDIS_URL": app.config["KIOSK_REDIS_URL"], "KIOSK_QUEUE_NAME": app.config["KIOSK_QUEUE_NAME"],
           "TEST_WORKER_LOG": str(app.test_log), "TEST_WORKER_SLOW": "1" if slow else "0",
           "PYTHONPATH": str(PROJECT)}
    script = script.rename(tmp_path / f"worker-{time.monotonic_ns()}.py")
    with open(script.with_suffix(".out"), "w") as log:
        return subprocess.Popen([sys.executable, str(script)], env=env, cwd=tmp_path, stdout=log,
                                stderr=subprocess.STDOUT)


def wait_for(condition, *, process=None, timeout=60.0, what="condition"):
    """Poll ``condition``; a worker that died meanwhile fails the test with its output."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        if process is not None and process.poll() is not None:
            raise AssertionError(f"the worker exited ({process.returncode}) before {what}:\n"
                                 + Path(process.args[-1]).with_suffix(".out").read_text()[-3000:])
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def lines(app) -> list[str]:
    return [line.split()[0] + " " + line.split()[1] for line in app.test_log.read_text().splitlines()]


def row(key: str) -> OutboxMessage:
    _db.session.expire_all()
    return _db.session.scalar(sa.select(OutboxMessage).where(OutboxMessage.key == key))


def test_a_worker_killed_mid_job_loses_nothing_and_the_next_worker_does_it_exactly_once(worker_app, tmp_path):
    app = worker_app
    with app.app_context():
        outbox.enqueue(_db.session, "test.slow", {"seconds": 60}, key="k1")
        _db.session.commit()  # relayed to the queue's storage on commit
        first = start_worker(app, tmp_path, slow=True)
        try:
            wait_for(lambda: "start k1" in lines(app), process=first, what="the first worker to start the job")
        finally:
            first.send_signal(signal.SIGKILL)
            first.wait(timeout=10)
        assert (row("k1").state, row("k1").attempts) == (RUNNING, 1)

        # The lease (2 s here) runs out; the periodic sweep hands the message on.
        time.sleep(2.2)
        assert tasks.sweep_outbox(_db.session, app.config) == 1
        second = start_worker(app, tmp_path, slow=False)
        try:
            wait_for(lambda: row("k1").state == DONE, process=second, what="the second worker to finish the job")
        finally:
            second.send_signal(signal.SIGTERM)
            second.wait(timeout=30)
        assert lines(app) == ["start k1", "start k1", "done k1"]
        assert row("k1").attempts == 2
        # A late duplicate delivery finds nothing to do.
        assert outbox.run(_db.session, row("k1").id) == outbox.SKIPPED
        _db.session.remove()


def test_sigterm_lets_the_running_job_finish_then_the_worker_exits(worker_app, tmp_path):
    app = worker_app
    with app.app_context():
        outbox.enqueue(_db.session, "test.slow", {"seconds": 3}, key="k1")
        _db.session.commit()
        worker = start_worker(app, tmp_path, slow=True)
        try:
            wait_for(lambda: "start k1" in lines(app), process=worker, what="the worker to start the job")
            worker.send_signal(signal.SIGTERM)
            assert worker.wait(timeout=30) == 0
        finally:
            if worker.poll() is None:
                worker.kill()
        assert lines(app) == ["start k1", "done k1"]
        assert (row("k1").state, row("k1").attempts) == (DONE, 1)

        # Stopped means stopped: a message committed now waits for the next worker.
        outbox.enqueue(_db.session, "test.slow", {"seconds": 0}, key="k2")
        _db.session.commit()
        time.sleep(0.5)
        assert row("k2").state == "pending"
        _db.session.remove()
