"""``kiosk worker``: the Huey consumer that runs outbox messages and periodic jobs.

SIGTERM (what systemd, Docker and Kubernetes send) stops the worker gracefully: no new
job is taken, the running ones finish, then the process exits. Huey's own default is to
interrupt on SIGTERM; here a second SIGTERM, or SIGINT (Ctrl-C), interrupts at once. A
job interrupted that way, or by SIGKILL, is not lost: its outbox lease expires and the
sweep hands it to the next worker.
"""
from __future__ import annotations

import inspect
import logging
import signal

import click
from flask import Flask, current_app
from flask.cli import with_appcontext
from huey.api import Huey
from huey.consumer import Consumer

log = logging.getLogger(__name__)

_HAS_GRACEFUL_SIGNAL = "graceful_signal" in inspect.signature(Consumer.__init__).parameters


class KioskConsumer(Consumer):
    """Huey's consumer with SIGTERM graceful; ``signals=False`` for a consumer embedded in
    another program's thread (signal handlers can only be set from the main thread)."""

    def __init__(self, huey: Huey, *, signals: bool = True, **options):
        self._install_signals = signals
        if _HAS_GRACEFUL_SIGNAL:  # huey >= 3
            options.setdefault("graceful_signal", "TERM")
        super().__init__(huey, **options)

    def _set_signal_handlers(self):
        if not self._install_signals:
            return
        super()._set_signal_handlers()
        if not _HAS_GRACEFUL_SIGNAL:  # huey 2.x: SIGINT is its graceful signal; give SIGTERM the same handler
            signal.signal(signal.SIGTERM, signal.getsignal(signal.SIGINT))


def make_consumer(app: Flask, *, workers: int | None = None, periodic: bool = True, signals: bool = True,
                  **options) -> KioskConsumer:
    """A consumer of the app's queue with ``workers`` threads (default KIOSK_WORKERS)."""
    options.setdefault("check_worker_health", True)
    options.setdefault("max_delay", 2.0)  # an idle worker polls at least every 2 s (Huey: 10 s)
    return KioskConsumer(app.extensions["huey"], signals=signals, workers=workers or app.config["KIOSK_WORKERS"],
                         periodic=periodic, worker_type="thread", **options)


def start_embedded(app: Flask, *, workers: int = 1) -> KioskConsumer:
    """Start a consumer in background threads of this process (``kiosk demo``); stop it
    with ``consumer.stop(graceful=True)``."""
    consumer = make_consumer(app, workers=workers, signals=False)
    consumer.start()
    return consumer


@click.command("worker")
@click.option("--workers", "-w", type=click.IntRange(1, 64), help="Worker threads (default: KIOSK_WORKERS).")
@click.option("--periodic/--no-periodic", default=True, show_default=True,
              help="Run the periodic jobs' scheduler (one host is enough).")
@with_appcontext
def worker(workers: int | None, periodic: bool):
    """Run outbox messages and periodic jobs until SIGTERM (graceful) or Ctrl-C."""
    app = current_app._get_current_object()
    huey = app.extensions["huey"]
    click.echo(f"kiosk worker: queue {huey.name!r} on {type(huey.storage).__name__}, "
               f"{workers or app.config['KIOSK_WORKERS']} thread(s), periodic {'on' if periodic else 'off'}")
    make_consumer(app, workers=workers, periodic=periodic).run()
