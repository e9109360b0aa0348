"""core.signals: each documented signal is sent, once, with its documented arguments,
inside the sender's transaction."""
from __future__ import annotations

import json
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path

import pytest

from kiosk_backend.catalog import services as catalog
from kiosk_backend.core import actors, outbox, signals
from kiosk_backend.core.actors import SYSTEM
from kiosk_backend.fleet import services as fleet
from tests.conftest import item_row


@contextmanager
def caught(signal):
    seen = []

    def receiver(sender, **kw):
        seen.append((sender, kw))

    signal.connect(receiver)
    try:
        yield seen
    finally:
        signal.disconnect(receiver)


def test_every_signal_is_documented_in_the_module():
    source = Path(signals.__file__).read_text(encoding="utf-8")
    for signal in signals.ALL:
        assert f'signal("{signal.name}")' in source
        assert "#: " in source.split(f'signal("{signal.name}")')[0].rsplit("\n\n", 1)[-1]


def test_activation_authorization_and_revocation_announce_the_kiosks_new_state(db, make_site):
    site = make_site()
    admin = actors.staff("wang", ip="10.0.0.2")
    with caught(signals.kiosk_state_changed) as seen:
        code, _ = fleet.create_enrolment_code(db.session, site=site, actor=admin)
        kiosk, _ = fleet.activate(db.session, code=code, profile="post-office-portrait", ip="10.1.1.1")
        fleet.authorize(db.session, kiosk, actor=admin)
        fleet.authorize(db.session, kiosk, actor=admin)     # already authorized: no second signal
        fleet.revoke(db.session, kiosk, actor=admin)
        fleet.revoke(db.session, kiosk, actor=admin)
    moves = [(kw["old"], kw["new"]) for _sender, kw in seen]
    assert moves == [(None, "pending"), ("pending", "authorized"), ("authorized", "revoked")]
    assert all(sender is kiosk and kw["session"] is db.session for sender, kw in seen)
    assert seen[0][1]["actor"].ip == "10.1.1.1" and seen[1][1]["actor"] is admin


def test_a_receiver_writes_in_the_senders_transaction(db, make_site):
    from kiosk_backend.core import audit

    def note(kiosk, *, session, old, new, actor):
        audit.record(session, actor=actor, action="test.noted", target=f"kiosk:{kiosk.number}")

    signals.kiosk_state_changed.connect(note)
    try:
        code, _ = fleet.create_enrolment_code(db.session, site=make_site(), actor=SYSTEM)
        fleet.activate(db.session, code=code, profile="post-office-portrait")
        db.session.rollback()   # the change goes: so does what the receiver wrote
    finally:
        signals.kiosk_state_changed.disconnect(note)
    assert audit.search(db.session, action="test.noted") == []


def test_imports_and_synonym_changes_announce_a_catalog_change_with_the_new_revision(db):
    checked = catalog.check_file(json.dumps([item_row(task_code="S1")], ensure_ascii=False).encode(), fmt="json")
    with caught(signals.catalog_changed) as seen:
        catalog.import_items(db.session, checked, actor=SYSTEM)
        synonym = catalog.add_synonym(db.session, term="农保", expansion="城乡居民基本养老保险", kind="synonym",
                                      actor=SYSTEM)
        catalog.delete_synonym(db.session, synonym.id, actor=SYSTEM)
        catalog.import_items(db.session, checked, actor=SYSTEM, dry_run=True)   # writes nothing: no signal
    assert [kw["reason"] for _s, kw in seen] == ["import", "synonym", "synonym"]
    assert len({sender for sender, _kw in seen}) == 3 and all(isinstance(s, str) for s, _kw in seen)


def test_a_message_that_runs_out_of_attempts_is_announced_once(db):
    def broken(payload, *, key, session):
        raise RuntimeError("carrier says no")

    outbox.handler("test.signal.broken")(broken)
    message = outbox.enqueue(db.session, "test.signal.broken", {}, key="k1")
    db.session.commit()
    policy = outbox.Policy(max_attempts=2, backoff_base=1, backoff_cap=1)
    clock = [message.created_at]
    with caught(signals.outbox_message_dead) as seen:
        for _ in range(3):
            outbox.run(db.session, message.id, policy=policy, now=lambda: clock[0])
            clock[0] += timedelta(minutes=5)
    assert len(seen) == 1
    sender, kw = seen[0]
    assert sender == message.id and kw["topic"] == "test.signal.broken" and kw["key"] == "k1"
    assert "carrier says no" in kw["error"]


@pytest.fixture(autouse=True)
def _forget_test_handlers():
    yield
    outbox._handlers.pop("test.signal.broken", None)
