"""Signals: how one domain reacts to what happens in another without importing it.

Domains form a DAG (sites ← fleet ← identity ← catalog ← applications ← courier, assist,
ratings). A higher domain may call a lower one's services; a lower domain that must
react to a higher one connects a receiver to a signal here instead of importing upward.

Rules for every signal below:
- It is sent by the service that made the change, after ``session.flush()``, inside the
  request's transaction. Receivers get the same ``session``: what they write commits or
  rolls back together with the change.
- Receivers must not talk to the outside world (HTTP, SMS, a carrier) — a rollback
  would leave that done for a change that never happened. Enqueue an outbox message
  (core.outbox.enqueue) instead; it is sent after the commit.
- Receivers must be quick and must not raise for ordinary cases: an exception aborts
  the sender's operation.

Connect in the receiving domain's module that app.py imports (its ``jobs`` module or its
services module)::

    @signals.kiosk_state_changed.connect
    def _end_sessions_on_revocation(kiosk, *, session, old, new, actor):
        ...
"""
from __future__ import annotations

from blinker import Namespace

_signals = Namespace()

#: A kiosk moved in its life cycle (fleet.states.KIOSK_LIFECYCLE): activation, authorize,
#: revoke. Sender: the Kiosk. Keywords: ``session``, ``old`` (None at activation), ``new``,
#: ``actor``.
kiosk_state_changed = _signals.signal("kiosk-state-changed")

#: The catalog changed (import, synonyms): search indexes and anything derived from items
#: must be refreshed. Sender: the new revision token (str). Keywords: ``session``,
#: ``actor``, ``reason`` ("import", "synonym").
catalog_changed = _signals.signal("catalog-changed")

#: An outbox message ran out of attempts and is dead until an admin retries it. Sender:
#: the message id (int). Keywords: ``session`` (the worker's), ``topic``, ``key``,
#: ``error``. Domains use it to mark their own record as failed (e.g. a courier booking
#: the carrier never accepted) so people are told.
outbox_message_dead = _signals.signal("outbox-message-dead")

ALL = (kiosk_state_changed, catalog_changed, outbox_message_dead)
