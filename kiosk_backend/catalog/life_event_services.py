"""Life events (一件事) added by admins, and the events the search index is built from.

The shipped events are ``data/life_events.json`` (``life_events.load_shipped``). Admins add
rows over the API like synonyms. A row whose key is a shipped event's key **extends** that
event: its triggers and patterns are added after the shipped ones (repeats dropped) and its
name replaces the shipped name (the local wording); the shipped source and batch stay.
Any other key is a new event whose source names the admin. Deleting the row gives the
shipped event back as shipped.

Every change bumps the catalog revision (every process rebuilds its search index), is
audited and sends ``signals.catalog_changed`` like ``services.add_synonym``. Services flush;
the surface (or the CLI) commits once.
"""
from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

import sqlalchemy as sa
from sqlalchemy.orm import Session

from ..core import audit, signals
from ..core.actors import Actor
from ..core.errors import Conflict, Invalid, NotFound
from .life_events import LifeEvent, load_shipped, pattern_parts, trigger_runs
from .models import LifeEventRow

KEY_RE = re.compile(r"^[a-z][a-z0-9_]{1,39}$")
MAX_TEXT = 50      # characters of a name, a trigger or a pattern
MAX_ENTRIES = 50   # triggers, and patterns, of one event
ADMIN_BATCH = "管理员添加"


def _bump_revision(session: Session) -> str:
    # services imports this module for build_index: imported here, not at the top.
    from .services import bump_revision

    return bump_revision(session)


def list_life_events(session: Session) -> list[LifeEventRow]:
    """Life events added by admins, by key (the shipped ones are not listed)."""
    return list(session.scalars(sa.select(LifeEventRow).order_by(LifeEventRow.key)))


def _check(key: str, name: str, triggers: Sequence[str], patterns: Sequence[str]) -> None:
    """Raises Invalid naming each bad field (in English and Chinese)."""
    problems: list[tuple[str, str, str]] = []
    if not KEY_RE.match(key):
        problems.append(("key", "2-40 lower-case ASCII letters, digits or _, starting with a letter",
                         "应为 2-40 位小写英文字母、数字或下划线，以字母开头"))
    if not name or len(name) > MAX_TEXT:
        problems.append(("name", f"Required, at most {MAX_TEXT} characters", f"必填，最多 {MAX_TEXT} 个字"))
    for field, values, usable, zh_usable in (
        ("triggers", triggers, trigger_runs, "去掉标点后不能为空"),
        ("patterns", patterns, pattern_parts, "去掉标点后不能为空，A+B 的每一部分都要有字"),
    ):
        if not values or len(values) > MAX_ENTRIES:
            problems.append((field, f"1 to {MAX_ENTRIES} entries", f"应有 1 到 {MAX_ENTRIES} 条"))
        elif any(not isinstance(v, str) or not v or len(v) > MAX_TEXT for v in values):
            problems.append((field, f"Each entry is text of 1 to {MAX_TEXT} characters",
                             f"每条应为 1 到 {MAX_TEXT} 个字"))
        elif not all(usable(v) for v in values):
            problems.append((field, "An entry is empty once punctuation is removed", zh_usable))
    if problems:
        raise Invalid("; ".join(f"{f}: {en}" for f, en, _ in problems), "；".join(f"{f}：{zh}" for f, _, zh in problems),
                      errors={f: [f"{en} / {zh}"] for f, en, zh in problems})


def _unique(values: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(v.strip() for v in values if v.strip()))


def add_life_event(session: Session, *, key: str, name: str, triggers: Sequence[str], patterns: Sequence[str],
                   actor: Actor) -> LifeEventRow:
    """Add an admin life event, or extend the shipped event with the same key (audited).

    Raises Invalid for a bad key, name, trigger or pattern, Conflict if an admin row with
    this key exists (delete it first to change it).
    """
    key, name = key.strip(), name.strip()
    triggers, patterns = _unique(triggers), _unique(patterns)
    _check(key, name, triggers, patterns)
    if session.scalar(sa.select(LifeEventRow.id).where(LifeEventRow.key == key)):
        raise Conflict("An admin life event with this key exists.", "该一件事已由管理员添加过。")
    row = LifeEventRow(key=key, name=name, triggers=triggers, patterns=patterns, created_by=str(actor)[:64])
    session.add(row)
    session.flush()
    revision = _bump_revision(session)
    extends = key in {event.key for event in load_shipped()}
    audit.record(session, actor=actor, action="life_event.add", target=f"life_event:{row.id}",
                 details={"key": key, "name": name, "triggers": triggers, "patterns": patterns,
                          "extends_shipped": extends})
    signals.catalog_changed.send(revision, session=session, actor=actor, reason="life_event")
    return row


def delete_life_event(session: Session, row_id: int, *, actor: Actor) -> None:
    """Remove an admin life event (a shipped event it extended is as shipped again; audited).
    Raises NotFound."""
    row = session.get(LifeEventRow, row_id)
    if row is None:
        raise NotFound("No such life event.", "没有找到该一件事。")
    session.delete(row)
    session.flush()
    revision = _bump_revision(session)
    audit.record(session, actor=actor, action="life_event.delete", target=f"life_event:{row_id}",
                 details={"key": row.key, "name": row.name})
    signals.catalog_changed.send(revision, session=session, actor=actor, reason="life_event")


def merged(shipped: Sequence[LifeEvent], rows: Iterable[LifeEventRow]) -> list[LifeEvent]:
    """The shipped events (in file order) with admin rows applied, then the admins' new events
    (by key). Pure apart from reading the rows' attributes."""
    events = {event.key: event for event in shipped}
    added: list[LifeEvent] = []
    for row in sorted(rows, key=lambda r: r.key):
        base = events.get(row.key)
        if base is not None:
            events[row.key] = LifeEvent(key=base.key, name=row.name,
                                        triggers=tuple(_unique([*base.triggers, *row.triggers])),
                                        patterns=tuple(_unique([*base.patterns, *row.patterns])),
                                        source=base.source, batch=base.batch)
        else:
            added.append(LifeEvent(key=row.key, name=row.name, triggers=tuple(row.triggers),
                                   patterns=tuple(row.patterns), source=f"管理员添加（{row.created_by or '未知'}）",
                                   batch=ADMIN_BATCH))
    return [*events.values(), *added]


def rows_for_index(session: Session) -> list[LifeEvent]:
    """The life events the search index uses: shipped ones merged with the admins' rows."""
    return merged(load_shipped(), session.scalars(sa.select(LifeEventRow)))
