"""Pickup slots (courier/services.py): a place is taken by one conditional UPDATE and given
back without going below zero; the open slots of a site; the day's windows made once."""
from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa

from kiosk_backend.core.audit import AuditEntry
from kiosk_backend.core.errors import Invalid, NotFound
from kiosk_backend.courier import services
from kiosk_backend.courier.models import PickupSlot
from kiosk_backend.courier.services import SlotFull
from tests.conftest import SITE2


def taken(db, slot) -> int:
    db.session.expire_all()
    return db.session.get(PickupSlot, slot.id).taken


def test_places_are_taken_up_to_the_capacity_and_not_one_more(db, make_slot):
    slot = make_slot(capacity=2)
    services.take_slot(db.session, slot.id, slot.site_id)
    services.take_slot(db.session, slot.id, slot.site_id)
    with pytest.raises(SlotFull):
        services.take_slot(db.session, slot.id, slot.site_id)
    assert taken(db, slot) == 2


def test_taking_is_one_conditional_update_statement(db, make_slot):
    slot = make_slot(capacity=1)
    statements: list[str] = []
    engine = db.engine

    def seen(conn, cursor, statement, *args):
        statements.append(statement)

    slot_id, site_id = slot.id, slot.site_id
    sa.event.listen(engine, "before_cursor_execute", seen)
    try:
        services.take_slot(db.session, slot_id, site_id)
    finally:
        sa.event.remove(engine, "before_cursor_execute", seen)
    writes = [s for s in statements if s.lstrip().upper().startswith(("UPDATE", "INSERT", "DELETE"))]
    assert len(writes) == 1 and "taken < courier_pickup_slot.capacity" in writes[0]
    assert not [s for s in statements if s.lstrip().upper().startswith("SELECT")]  # no read before the write


def test_a_loaded_slot_shows_the_new_count(db, make_slot):
    slot = make_slot(capacity=3)
    services.take_slot(db.session, slot.id, slot.site_id)
    assert slot.taken == 1


def test_giving_back_never_goes_below_zero(db, make_slot):
    slot = make_slot(capacity=2, taken=1)
    services.release_slot(db.session, slot.id)
    services.release_slot(db.session, slot.id)
    services.release_slot(db.session, None)
    assert taken(db, slot) == 0


def test_the_open_slots_have_places_left_and_windows_still_to_come(db, make_slot, make_site, clock):
    today = clock().date()  # Monday 2 March 2026, 10:00 in China
    over = make_slot(day=today, starts="08:00", ends="10:00")
    running = make_slot(day=today, starts="09:30", ends="11:00")
    full = make_slot(day=today + timedelta(days=1), capacity=1, taken=1)
    later = make_slot(day=today + timedelta(days=1), starts="14:00", ends="16:00")
    beyond = make_slot(day=today + timedelta(days=7))
    make_slot(site=make_site(**SITE2), day=today + timedelta(days=1))
    found = services.open_slots(db.session, later.site_id, day_from=today, now=clock)
    assert found == [running, later]
    assert over not in found and full not in found and beyond not in found
    assert services.open_slots(db.session, later.site_id, day_from=today, days=8, now=clock)[-1] == beyond


def test_the_days_windows_are_made_once_and_kept_as_they_are(db, site, clock):
    day = clock().date() + timedelta(days=3)
    made = services.ensure_slots(db.session, site.id, day, actor="admin")
    assert [(s.starts, s.ends, s.capacity) for s in made] == [("09:00", "11:00", 10), ("14:00", "16:00", 10)]
    made[0].capacity = 4
    db.session.commit()
    again = services.ensure_slots(db.session, site.id, day, [("09:00", "11:00", 10), ("16:00", "18:00", 5)],
                                  actor="admin")
    assert [(s.starts, s.capacity) for s in again] == [("09:00", 4), ("16:00", 5)]
    db.session.commit()
    details = [e.details for e in db.session.scalars(sa.select(AuditEntry).where(
        AuditEntry.action == "courier.slots.ensure").order_by(AuditEntry.id))]
    assert details == [{"day": day.isoformat(), "windows": ["09:00-11:00", "14:00-16:00"]},
                       {"day": day.isoformat(), "windows": ["16:00-18:00"]}]
    services.ensure_slots(db.session, site.id, day, actor="admin")
    assert db.session.scalar(sa.select(sa.func.count()).select_from(AuditEntry)
                             .where(AuditEntry.action == "courier.slots.ensure")) == 2


@pytest.mark.parametrize("window", [("9:00", "11:00", 10), ("11:00", "09:00", 10), ("09:00", "11:00", -1),
                                    ("09:00", "24:00", 10), ("09:00", "11:00", 501)])
def test_a_bad_window_is_refused(db, site, clock, window):
    with pytest.raises(Invalid):
        services.ensure_slots(db.session, site.id, clock().date(), [window], actor="admin")


def test_windows_of_an_unknown_site_are_refused(db, clock):
    with pytest.raises(NotFound):
        services.ensure_slots(db.session, 10**6, clock().date(), actor="admin")
