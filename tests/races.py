"""Running work in several threads released at once, for the race tests of every domain
(credential claims, command acknowledgements, QR confirmations, ...)."""
from __future__ import annotations

import threading


def run_in_threads(app, count: int, work, *, commit: bool = False, timeout: float = 60):
    """Run ``work(i)`` in ``count`` threads released together by a barrier, each with its own
    app context and so its own database session; with ``commit`` each thread commits what
    its work did. Returns the results (or the exceptions raised) in thread order; fails the
    test if a thread hangs."""
    from kiosk_backend.extensions import db

    barrier = threading.Barrier(count)
    results: list = [None] * count

    def target(i):
        with app.app_context():
            try:
                barrier.wait(timeout=timeout / 2)
                results[i] = work(i)
                if commit:
                    db.session.commit()
            except Exception as exc:  # reported to the test
                db.session.rollback()
                results[i] = exc
            finally:
                db.session.remove()

    threads = [threading.Thread(target=target, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=timeout)
    assert not any(t.is_alive() for t in threads), "a thread hung"
    return results
