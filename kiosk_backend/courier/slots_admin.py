"""Pickup slots as the console edits them: a site's windows over the next days, new windows
over a range of days, and a window's capacity or times.

The rule that matters: a slot's capacity never goes below the places already taken. It is
kept the same way places are taken (services.book): by ONE conditional UPDATE
(``capacity = :new WHERE taken <= :new``), never read-then-write, so a booking that takes
the last place at the same moment either comes first (and the lowering is refused) or
after (and finds the slot full). The table's CHECK constraint holds the line as well.

A window's times move only while nobody has taken a place in it: bookings were promised
those times (and the carrier was told them).

Every function flushes and never commits; changes are audited (``courier.slot.*``).
``site_ids`` scopes a site manager to their own sites (None: every site), like
sites.services.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, timedelta

import sqlalchemy as sa
from sqlalchemy.orm import Session

from ..core import audit
from ..core.actors import Actor
from ..core.errors import Conflict, Invalid, NotFound
from ..sites import services as sites
from ..sites.models import Site
from .models import PickupSlot

GRID_DAYS = 14  # the console shows and edits this many days from today
MAX_CAPACITY = 500  # places in one window: more is a typing error
MAX_RANGE_DAYS = 62  # new windows over at most two months at once
_TIME = re.compile(r"^([01][0-9]|2[0-3]):[0-5][0-9]\Z")


class SlotNotFound(NotFound):
    def __init__(self) -> None:
        super().__init__("No such pickup slot.", "没有找到该揽收时段。")


@dataclass(frozen=True)
class DayRow:
    """One day of a site's grid: its windows in time order (empty: no pickups that day)."""

    day: date
    slots: list[PickupSlot]

    @property
    def capacity(self) -> int:
        return sum(slot.capacity for slot in self.slots)

    @property
    def taken(self) -> int:
        return sum(slot.taken for slot in self.slots)


def _check_times(starts: str, ends: str) -> None:
    problems = {}
    for field, value in (("starts", starts), ("ends", ends)):
        if not isinstance(value, str) or not _TIME.match(value):
            problems[field] = ["A time as HH:MM (24 hours) / 请按 HH:MM（24 小时制）填写时间"]
    if not problems and starts >= ends:
        problems["ends"] = ["The window must end after it starts / 结束时间应晚于开始时间"]
    if problems:
        raise Invalid("Check the window's times.", "请检查时段的起止时间。", errors=problems)


def _check_capacity(capacity: int) -> None:
    if not isinstance(capacity, int) or isinstance(capacity, bool) or not 0 <= capacity <= MAX_CAPACITY:
        raise Invalid(f"Capacity is a whole number from 0 to {MAX_CAPACITY}.", f"容量应为 0 至 {MAX_CAPACITY} 的整数。",
                      errors={"capacity": [f"0–{MAX_CAPACITY} / 应为 0 至 {MAX_CAPACITY}"]})


def grid(session: Session, site: Site, *, day_from: date, days: int = GRID_DAYS) -> list[DayRow]:
    """Every day from ``day_from`` on, each with all its windows (full ones too)."""
    rows = session.scalars(sa.select(PickupSlot).where(
        PickupSlot.site_id == site.id, PickupSlot.day >= day_from, PickupSlot.day < day_from + timedelta(days=days))
        .order_by(PickupSlot.day, PickupSlot.starts))
    by_day: dict[date, list[PickupSlot]] = {}
    for slot in rows:
        by_day.setdefault(slot.day, []).append(slot)
    return [DayRow(day, by_day.get(day, [])) for day in (day_from + timedelta(days=n) for n in range(days))]


def totals(session: Session, site_ids: set[int] | None, *, day_from: date,
           days: int = GRID_DAYS) -> dict[tuple[int, date], tuple[int, int]]:
    """(taken, capacity) per (site, day) over the days, for the overview of every site."""
    query = (sa.select(PickupSlot.site_id, PickupSlot.day, sa.func.sum(PickupSlot.taken),
                       sa.func.sum(PickupSlot.capacity))
             .where(PickupSlot.day >= day_from, PickupSlot.day < day_from + timedelta(days=days))
             .group_by(PickupSlot.site_id, PickupSlot.day))
    if site_ids is not None:
        query = query.where(PickupSlot.site_id.in_(site_ids))
    return {(site_id, day): (int(taken or 0), int(capacity or 0)) for site_id, day, taken, capacity in session.execute(query)}


def get_slot(session: Session, slot_id: int, site_ids: set[int] | None = None) -> PickupSlot:
    """The slot, if the staff member's scope covers its site; raises SlotNotFound."""
    slot = session.get(PickupSlot, slot_id)
    if slot is None or (site_ids is not None and slot.site_id not in site_ids):
        raise SlotNotFound()
    return slot


def add_windows(session: Session, site_id: int, *, day_from: date, day_to: date, starts: str, ends: str,
                capacity: int, today: date, actor: Actor | str, site_ids: set[int] | None = None) -> tuple[int, int]:
    """Open the window ``starts``–``ends`` with ``capacity`` places on every day from
    ``day_from`` to ``day_to`` (both included) at the site. A day that has a window starting
    at the same time already keeps it as it is (change it with :func:`set_capacity`).
    Returns (created, kept).

    Raises NotFound (a site outside ``site_ids``), Invalid (times, capacity, a day in the
    past, a range longer than MAX_RANGE_DAYS or backwards)."""
    site = sites.get_site(session, site_id, site_ids)
    _check_times(starts, ends)
    _check_capacity(capacity)
    if day_from < today:
        raise Invalid("Windows are opened from today on.", "只能从今天起开放揽收时段。",
                      errors={"day_from": ["Today or later / 应为今天或以后"]})
    if day_to < day_from or (day_to - day_from).days >= MAX_RANGE_DAYS:
        raise Invalid(f"The last day is on or after the first, at most {MAX_RANGE_DAYS} days on.",
                      f"结束日期应不早于开始日期，且最多 {MAX_RANGE_DAYS} 天。",
                      errors={"day_to": [f"From the first day, at most {MAX_RANGE_DAYS} days / "
                                         f"不早于开始日期，最多 {MAX_RANGE_DAYS} 天"]})
    days = [day_from + timedelta(days=n) for n in range((day_to - day_from).days + 1)]
    existing = set(session.scalars(sa.select(PickupSlot.day).where(
        PickupSlot.site_id == site.id, PickupSlot.starts == starts, PickupSlot.day.in_(days))))
    fresh = [day for day in days if day not in existing]
    try:
        with session.begin_nested():  # a refusal leaves the request's transaction usable (PostgreSQL)
            session.add_all([PickupSlot(site_id=site.id, day=day, starts=starts, ends=ends, capacity=capacity,
                                        taken=0) for day in fresh])
    except sa.exc.IntegrityError:  # another admin opened the same window a moment ago
        raise Conflict("Someone opened this window at the same time; reload the page.",
                       "有人同时开放了相同的时段，请刷新页面。") from None
    audit.record(session, actor=actor, action="courier.slot.open", target=f"site:{site.code}",
                 details={"days": f"{day_from.isoformat()}–{day_to.isoformat()}", "window": f"{starts}–{ends}",
                          "capacity": capacity, "created": len(fresh), "kept": len(existing)})
    return len(fresh), len(existing)


def set_capacity(session: Session, slot_id: int, capacity: int, *, actor: Actor | str,
                 site_ids: set[int] | None = None) -> PickupSlot:
    """Change a window's capacity, never below the places taken: one conditional UPDATE.

    Raises SlotNotFound, Invalid (not a whole number in 0..MAX_CAPACITY, or below the places
    taken at this moment — the message says how many)."""
    slot = get_slot(session, slot_id, site_ids)
    _check_capacity(capacity)
    old = slot.capacity
    changed = session.execute(sa.update(PickupSlot).where(PickupSlot.id == slot.id, PickupSlot.taken <= capacity)
                              .values(capacity=capacity).execution_options(synchronize_session=False)).rowcount
    session.refresh(slot)
    if not changed:
        raise Invalid(f"{slot.taken} places are taken already: the capacity cannot be lower.",
                      f"已有 {slot.taken} 个预约，容量不能低于该数。",
                      errors={"capacity": [f"At least {slot.taken} (taken) / 不能少于已约的 {slot.taken} 个"]})
    if old != capacity:
        audit.record(session, actor=actor, action="courier.slot.capacity", target=_target(session, slot),
                     details={"from": old, "to": capacity, "taken": slot.taken})
    return slot


def set_times(session: Session, slot_id: int, starts: str, ends: str, *, actor: Actor | str,
              site_ids: set[int] | None = None) -> PickupSlot:
    """Move a window nobody has booked yet (one conditional UPDATE ``WHERE taken = 0``).

    Raises SlotNotFound, Invalid (times), Conflict (places are taken: bookings were promised
    these times; or another window of the day starts then)."""
    slot = get_slot(session, slot_id, site_ids)
    _check_times(starts, ends)
    old = f"{slot.starts}–{slot.ends}"
    try:
        with session.begin_nested():
            changed = session.execute(sa.update(PickupSlot).where(PickupSlot.id == slot.id, PickupSlot.taken == 0)
                                      .values(starts=starts, ends=ends)
                                      .execution_options(synchronize_session=False)).rowcount
    except sa.exc.IntegrityError:
        raise Conflict("Another window of that day starts at that time.", "当天已有同一开始时间的时段。",
                       errors={"starts": ["Taken by another window / 与其他时段重复"]}) from None
    session.refresh(slot)
    if not changed:
        raise Conflict("Places in this window are booked: its times stay as promised.",
                       "该时段已有预约，起止时间不能再改。")
    audit.record(session, actor=actor, action="courier.slot.times", target=_target(session, slot),
                 details={"from": old, "to": f"{starts}–{ends}"})
    return slot


def _target(session: Session, slot: PickupSlot) -> str:
    code = session.scalar(sa.select(Site.code).where(Site.id == slot.site_id))
    return f"site:{code} {slot.day.isoformat()} {slot.starts}"
