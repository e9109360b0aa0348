"""Catalog services: import, search, guides, browsing, synonyms.

Services flush; the surface (or the CLI) commits once.
"""
from __future__ import annotations

import csv
import logging
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import sqlalchemy as sa
from sqlalchemy.orm import Session, selectinload

from ..core import actors, audit, signals
from ..core.actors import Actor
from ..core.errors import Conflict, NotFound
from .importer import MAX_PROBLEMS, Checked, check_source
from .models import Bundle, BundleItem, CatalogRevision, Department, Item, ItemUse, Synonym, Theme, item_theme
from .pinyin import pinyin_keys
from .schemas import TASK_CODE_RE, TASK_TYPES
from .search import Dictionary, SearchIndex, SearchOutcome, make_entry, make_filter

log = logging.getLogger(__name__)

DATA_DIR = Path(__file__).resolve().parent / "data"
SHIPPED_SYNONYMS = DATA_DIR / "synonyms.tsv"
DEMO_ITEMS = DATA_DIR / "demo_items.json"
PADDING = DATA_DIR / "padding.txt"
DIALECT = DATA_DIR / "dialect.tsv"

# Columns copied from a validated import row onto catalog_item as they are.
_ITEM_COLUMNS = (
    "task_name", "catalog_code", "task_type", "task_version", "task_state", "entrust_dept",
    "accept_condition", "by_law", "anticipate_day", "anticipate_type", "promise_day", "promise_type",
    "project_type", "handle_flow", "special_procedure", "limit_scene_num", "limit_scene_explain",
    "is_fee", "fees", "transact_addr", "transact_time", "link_way", "supervise_way", "is_online",
    "online_handle_depth", "is_express", "is_schedule", "is_service_terminals", "handle_area",
    "materials", "faq", "keywords", "popularity",
)
_CHUNK = 500


# ===================================================================== revision

def bump_revision(session: Session) -> str:
    """Mark the catalog changed so every process rebuilds its search index (this one at
    once, the others at their next revision check)."""
    token = uuid.uuid4().hex
    updated = session.execute(
        sa.update(CatalogRevision).where(CatalogRevision.id == 1)
        .values(token=token, revision=CatalogRevision.revision + 1)
    ).rowcount
    if not updated:
        session.add(CatalogRevision(id=1, token=token, revision=1))
    session.flush()
    forget_search_index()
    return token


# ===================================================================== import

@dataclass
class ImportResult:
    checked: Checked
    created: int = 0
    updated: int = 0
    dry_run: bool = False
    written: bool = False

    def report(self) -> dict:
        c = self.checked
        return {
            "rows": c.rows, "valid": len(c.valid), "created": self.created, "updated": self.updated,
            "skipped": c.rows - len(c.valid) if self.written else 0,
            "dry_run": self.dry_run, "written": self.written,
            "problems": [p.as_dict() for p in c.problems],
            "problems_total": c.total_problems,
        }


def check_file(data: bytes | IO[bytes], *, filename: str | None = None, fmt: str | None = None,
               progress: Callable[[int], None] | None = None, max_rows: int | None = None,
               max_problems: int = MAX_PROBLEMS) -> Checked:
    """Parse and validate a catalog file (bytes or a binary stream, read as a stream)
    without touching the database; see ``importer.check_source`` for the bounds.

    Raises ``Invalid`` when the file as a whole cannot be read or has over ``max_rows`` rows.
    """
    return check_source(data, filename=filename, fmt=fmt, progress=progress, max_rows=max_rows,
                        max_problems=max_problems)


def import_items(session: Session, checked: Checked, *, actor: Actor, source: str | None = None,
                 dry_run: bool = False, skip_invalid: bool = False,
                 progress: Callable[[int], None] | None = None) -> ImportResult:
    """Upsert the valid rows of ``checked`` by task_code.

    Nothing is written when there are problems unless ``skip_invalid``; nothing at all
    when ``dry_run``. All writes happen in the caller's transaction, with an audit entry
    ``catalog.import`` (``source``: the file name) when anything was written.
    """
    result = ImportResult(checked, dry_run=dry_run)
    if dry_run or (checked.problems and not skip_invalid) or not checked.valid:
        return result
    rows = checked.valid
    dept_ids = _upsert_departments(session, rows)
    existing = _existing_item_ids(session, [r["task_code"] for r in rows])

    inserts, updates = [], []
    for row in rows:
        values = {col: row.get(col) for col in _ITEM_COLUMNS}
        values["department_id"] = dept_ids[row["dept_name"]]
        values["for_natural"] = "自然人" in row["server_type"]
        values["for_legal"] = "法人" in row["server_type"]
        pinyin, values["name_initials"] = pinyin_keys(row["task_name"])
        values["name_pinyin"] = pinyin[:800]  # VARCHAR(800): up to 6 letters a character, 200 characters
        item_id = existing.get(row["task_code"])
        if item_id is None:
            inserts.append({"task_code": row["task_code"], **values})
        else:
            updates.append({"id": item_id, **values})
        if progress:
            progress(1)
    for start in range(0, len(inserts), _CHUNK):
        session.execute(sa.insert(Item), inserts[start:start + _CHUNK])
    for start in range(0, len(updates), _CHUNK):
        session.execute(sa.update(Item), updates[start:start + _CHUNK])
    ids = _existing_item_ids(session, [r["task_code"] for r in rows])
    _replace_themes(session, rows, ids)
    _replace_bundles(session, rows, ids)
    revision = bump_revision(session)
    result.created, result.updated, result.written = len(inserts), len(updates), True
    audit.record(session, actor=actor, action="catalog.import", target=source,
                 details={"rows": checked.rows, "created": result.created, "updated": result.updated,
                          "skipped": checked.rows - len(checked.valid)})
    signals.catalog_changed.send(revision, session=session, actor=actor, reason="import")
    log.info("catalog import: %d created, %d updated, %d problems", result.created, result.updated,
             checked.total_problems)
    return result


def _existing_item_ids(session: Session, codes: list[str]) -> dict[str, int]:
    if len(codes) > 4 * _CHUNK:
        # Large imports: one pass over the table beats hundreds of IN-list queries.
        wanted = set(codes)
        return {code: id_ for code, id_ in session.execute(sa.select(Item.task_code, Item.id)) if code in wanted}
    found: dict[str, int] = {}
    for start in range(0, len(codes), _CHUNK):
        chunk = codes[start:start + _CHUNK]
        found.update(session.execute(sa.select(Item.task_code, Item.id).where(Item.task_code.in_(chunk))).all())
    return found


def _upsert_departments(session: Session, rows: list[dict]) -> dict[str, int]:
    wanted: dict[str, str | None] = {}
    for row in rows:
        code = row.get("dept_code")
        if row["dept_name"] not in wanted or code:
            wanted[row["dept_name"]] = code or wanted.get(row["dept_name"])
    existing = {d.name: d for d in session.scalars(sa.select(Department).where(Department.name.in_(list(wanted))))}
    for name, code in wanted.items():
        dept = existing.get(name)
        if dept is None:
            existing[name] = Department(name=name, code=code)
            session.add(existing[name])
        elif code and dept.code != code:
            dept.code = code
    session.flush()
    return {name: dept.id for name, dept in existing.items()}


def _replace_themes(session: Session, rows: list[dict], ids: dict[str, int]) -> None:
    wanted = {("natural", t) for r in rows for t in r["theme_natural"]} | {("legal", t) for r in rows for t in r["theme_legal"]}
    themes = {(t.audience, t.name): t.id for t in session.scalars(sa.select(Theme))}
    missing = [{"audience": a, "name": n} for a, n in sorted(wanted - themes.keys())]
    if missing:
        session.execute(sa.insert(Theme), missing)
        themes = {(t.audience, t.name): t.id for t in session.scalars(sa.select(Theme))}
    item_ids = [ids[r["task_code"]] for r in rows]
    for start in range(0, len(item_ids), _CHUNK):
        session.execute(sa.delete(item_theme).where(item_theme.c.item_id.in_(item_ids[start:start + _CHUNK])))
    links = [
        {"item_id": ids[r["task_code"]], "theme_id": themes[(audience, name)]}
        for r in rows
        for audience, key in (("natural", "theme_natural"), ("legal", "theme_legal"))
        for name in dict.fromkeys(r[key])
    ]
    for start in range(0, len(links), _CHUNK):
        session.execute(sa.insert(item_theme), links[start:start + _CHUNK])


def _replace_bundles(session: Session, rows: list[dict], ids: dict[str, int]) -> None:
    names = list(dict.fromkeys(b for r in rows for b in r["bundles"]))
    bundles = {b.name: b for b in session.scalars(sa.select(Bundle))}
    for name in names:
        if name not in bundles:
            bundles[name] = Bundle(name=name)
            session.add(bundles[name])
    session.flush()
    item_ids = [ids[r["task_code"]] for r in rows]
    for start in range(0, len(item_ids), _CHUNK):
        session.execute(sa.delete(BundleItem).where(BundleItem.item_id.in_(item_ids[start:start + _CHUNK])))
    next_position: dict[int, int] = dict(
        session.execute(sa.select(BundleItem.bundle_id, sa.func.max(BundleItem.position)).group_by(BundleItem.bundle_id)).all()
    )
    links = []
    for r in rows:
        for name in dict.fromkeys(r["bundles"]):
            bundle_id = bundles[name].id
            position = next_position.get(bundle_id, -1) + 1
            next_position[bundle_id] = position
            links.append({"bundle_id": bundle_id, "item_id": ids[r["task_code"]], "position": position})
    if links:
        session.execute(sa.insert(BundleItem), links)


def load_demo_catalog(session: Session) -> ImportResult:
    """Import the demo catalog shipped in ``data/demo_items.json`` (idempotent upsert)."""
    checked = check_file(DEMO_ITEMS.read_bytes(), filename=DEMO_ITEMS.name)
    return import_items(session, checked, actor=actors.SYSTEM, source="demo_items.json")


# ===================================================================== search index

def shipped_dictionary_rows(path: Path = SHIPPED_SYNONYMS) -> list[tuple[str, str, str]]:
    rows = []
    with open(path, encoding="utf-8") as fh:
        for record in csv.reader(fh, delimiter="\t"):
            if not record or record[0].startswith("#") or len(record) < 2:
                continue
            kind = record[2].strip() if len(record) > 2 and record[2].strip() else "synonym"
            rows.append((record[0].strip(), record[1].strip(), kind))
    return rows


# How often a process asks the database whether the catalog changed. Writes made in this
# process are seen at once; writes made by another app server within this many seconds.
REVISION_CHECK_SECONDS = 1.0


# How often a process reloads the kiosks' usage (items opened from search) into its index.
USAGE_REFRESH_SECONDS = 300.0


class _IndexCache:
    """The process-wide search index, rebuilt when the catalog revision token changes."""

    def __init__(self):
        self._lock = threading.Lock()
        self._token: str | None = None
        self._index: SearchIndex | None = None
        self._checked_at = 0.0
        self._usage_at = 0.0

    def forget(self) -> None:
        self._index, self._token, self._checked_at, self._usage_at = None, None, 0.0, 0.0

    def get(self, session: Session) -> SearchIndex:
        index = self._index
        now = time.monotonic()
        if index is not None and now - self._usage_at >= USAGE_REFRESH_SECONDS:
            self._usage_at = now
            index.set_usage(item_usage(session))
        if index is not None and now - self._checked_at < REVISION_CHECK_SECONDS:
            return index
        token = session.scalar(sa.select(CatalogRevision.token).where(CatalogRevision.id == 1))
        if index is not None and token is not None and token == self._token:
            self._checked_at = now
            return index
        with self._lock:
            if self._index is None or token is None or token != self._token:
                started = time.perf_counter()
                self._index = build_index(session)
                self._index.set_usage(item_usage(session))
                self._token = token
                self._checked_at = self._usage_at = time.monotonic()
                log.info("search index built: %d items in %.0f ms", len(self._index), (time.perf_counter() - started) * 1000)
            return self._index


_cache = _IndexCache()


def summary_of(item_row: Mapping[str, Any], dept_name: str) -> dict:
    return {
        "task_code": item_row["task_code"], "task_name": item_row["task_name"], "dept_name": dept_name,
        "task_type": item_row["task_type"], "task_type_name": TASK_TYPES.get(item_row["task_type"], ""),
        "handle_area": item_row["handle_area"], "is_online": item_row["is_online"],
        "is_express": item_row["is_express"], "is_service_terminals": item_row["is_service_terminals"],
        "promise_day": item_row["promise_day"], "promise_type": item_row["promise_type"],
        "popularity": item_row["popularity"],
    }


def _item_text(accept_condition: str | None, materials: list | None, faq: list | None) -> str:
    """What an item says about itself beyond its name: conditions, material names, FAQ."""
    parts = [accept_condition or ""]
    parts += [m.get("name", "") for m in materials or () if isinstance(m, dict)]
    parts += [f"{q.get('question', '')} {q.get('answer', '')}" for q in faq or () if isinstance(q, dict)]
    return " ".join(p for p in parts if p)[:4000]


def shipped_lines(path: Path, columns: int) -> list[list[str]]:
    """Rows of a shipped tab-separated data file (comments and blank lines skipped)."""
    if not path.exists():
        return []
    rows = []
    with open(path, encoding="utf-8") as fh:
        for record in csv.reader(fh, delimiter="\t"):
            if not record or not record[0].strip() or record[0].startswith("#"):
                continue
            rows.append([c.strip() for c in record] + [""] * max(0, columns - len(record)))
    return rows


def shipped_padding() -> list[tuple[str, bool]]:
    """Padding phrases and whether each may be removed anywhere (``data/padding.txt``)."""
    return [(row[0], row[1].lower() not in ("word", "whole", "no", "false", "0"))
            for row in shipped_lines(PADDING, 2)]


def shipped_dialect() -> list[tuple[str, str]]:
    return [(row[0], row[1]) for row in shipped_lines(DIALECT, 2) if row[1]]


def build_index(session: Session, *, dictionaries: bool = True) -> SearchIndex:
    """Read the whole catalog (summary columns and searchable text) into a new SearchIndex.

    ``dictionaries=False`` leaves out the synonym, correction, dialect and life-event data
    (the benchmark's generalisation run); normalisation, padding, jieba, pinyin and
    homophone reading stay: they are the pipeline."""
    depts = dict(session.execute(sa.select(Department.id, Department.name)).all())
    themes = dict(session.execute(sa.select(Theme.id, Theme.name)).all())
    item_themes: dict[int, set[str]] = {}
    for item_id, theme_id in session.execute(sa.select(item_theme.c.item_id, item_theme.c.theme_id)):
        item_themes.setdefault(item_id, set()).add(themes[theme_id])
    bundle_names = dict(session.execute(sa.select(Bundle.id, Bundle.name)).all())
    item_bundles: dict[int, set[str]] = {}
    for bundle_id, item_id in session.execute(sa.select(BundleItem.bundle_id, BundleItem.item_id)):
        item_bundles.setdefault(item_id, set()).add(bundle_names[bundle_id])
    cols = [Item.id, Item.task_code, Item.task_name, Item.task_type, Item.department_id, Item.keywords,
            Item.name_pinyin, Item.name_initials, Item.popularity, Item.for_natural, Item.for_legal,
            Item.handle_area, Item.is_online, Item.is_express, Item.is_service_terminals,
            Item.promise_day, Item.promise_type, Item.accept_condition, Item.materials, Item.faq]
    entries = []
    for row in session.execute(sa.select(*cols).where(Item.task_state == "在用").order_by(Item.id)).mappings():
        dept = depts[row["department_id"]]
        entries.append(make_entry(
            id=row["id"], task_code=row["task_code"], task_name=row["task_name"], keywords=row["keywords"] or (),
            department=dept, pinyin=row["name_pinyin"], initials=row["name_initials"],
            popularity=row["popularity"], summary=summary_of(row, dept),
            text=_item_text(row["accept_condition"], row["materials"], row["faq"]),
            themes=frozenset(item_themes.get(row["id"], ())), bundles=frozenset(item_bundles.get(row["id"], ())),
            for_natural=row["for_natural"], for_legal=row["for_legal"], handle_area=row["handle_area"],
            is_online=row["is_online"], is_express=row["is_express"], is_service_terminals=row["is_service_terminals"],
        ))
    extra: dict[str, Any] = {"padding": shipped_padding(), "dialect": shipped_dialect()}
    try:
        from .life_event_services import rows_for_index
    except ImportError:  # pragma: no cover - only while the life-event store is being added
        from .life_events import load_shipped as _shipped

        def rows_for_index(_session):
            return _shipped()
    extra["life_events"] = rows_for_index(session)
    dictionary = Dictionary.from_rows(
        [*shipped_dictionary_rows(), *session.execute(sa.select(Synonym.term, Synonym.expansion, Synonym.kind)).all()],
        **extra,
    )
    return SearchIndex(entries, dictionary, use_dictionary=dictionaries)


def item_usage(session: Session) -> dict[int, int]:
    """How often each item was opened from the kiosk's search results, by item id."""
    return dict(session.execute(sa.select(ItemUse.item_id, ItemUse.opened_from_search)).all())


def record_search_open(session: Session, task_code: str) -> None:
    """Count one opening of an item from search results (one atomic upsert, so parallel
    kiosks never lose a count); an unknown code is ignored. Flushes nothing else."""
    item_id = session.scalar(sa.select(Item.id).where(Item.task_code == task_code))
    if item_id is None:
        return
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    statement = insert(ItemUse).values(item_id=item_id, opened_from_search=1)
    statement = statement.on_conflict_do_update(
        index_elements=[ItemUse.item_id],
        set_={"opened_from_search": ItemUse.__table__.c.opened_from_search + 1})
    session.execute(statement)


def search_index(session: Session) -> SearchIndex:
    return _cache.get(session)


def forget_search_index() -> None:
    """Drop this process's index; the next search rebuilds it from the database."""
    _cache.forget()


# ===================================================================== reading

HELP = {
    "message": "Nothing matched. Try fewer words, a popular item below, or press 'Call a helper' / ask at the counter.",
    "message_zh": "没有找到相关事项。可以少输几个字、点下面的常办事项，或呼叫帮办员、到服务台咨询。",
}


def _summary(entry, match=None) -> dict:
    summary = entry.summary
    if match is not None:
        summary["match"] = match.as_dict()
    return summary


def search(session: Session, *, q: str = "", page: int = 1, page_size: int = 20, **filters) -> dict:
    """Best-first search with filters, each result saying which words matched and how; the
    life events (一件事) the query describes as groups; and when nothing matched, never a bare
    "no results": the nearest catalog words, the closest life events, popular items, help."""
    index = search_index(session)
    where = make_filter(filters)
    outcome: SearchOutcome = index.search(q, where=where, offset=(page - 1) * page_size, limit=page_size)
    matches = outcome.matches or [None] * len(outcome.entries)
    result = {
        "query": q, "understood_as": outcome.understood_as, "did_you_mean": outcome.did_you_mean,
        "total": outcome.total, "page": page, "page_size": page_size,
        "items": [_summary(e, m) for e, m in zip(outcome.entries, matches)],
        "life_events": [
            {"key": event.key, "name": event.name, "source": event.source,
             "items": [e.summary for e in entries[:10] if where is None or where(e)]}
            for event, entries in outcome.life_events
        ],
        "popular": [], "help": None, "nearest_words": [], "nearest_life_events": [],
    }
    if outcome.total == 0:
        result["popular"] = [e.summary for e in index.popular(8)]
        result["help"] = HELP
        result["nearest_words"] = outcome.nearest_words
        result["nearest_life_events"] = [{"key": e.key, "name": e.name} for e in outcome.nearest_life_events]
    return result


def suggest(session: Session, *, q: str, limit: int = 8) -> list[dict]:
    outcome = search_index(session).search(q, limit=limit, explain=False)
    return [{"task_code": e.summary["task_code"], "task_name": e.summary["task_name"]} for e in outcome.entries]


def popular_items(session: Session, limit: int = 8) -> list[dict]:
    return [e.summary for e in search_index(session).popular(limit)]


def get_item(session: Session, task_code: str) -> Item:
    """The item with its guide. Raises NotFound."""
    if not TASK_CODE_RE.match(task_code):  # cannot exist; and PostgreSQL refuses NUL bytes in queries
        raise NotFound(f"No service item with code {task_code}.", "没有找到该事项。")
    item = session.scalar(sa.select(Item).where(Item.task_code == task_code))
    if item is None:
        raise NotFound(f"No service item with code {task_code}.", "没有找到该事项。")
    return item


def guide_of(session: Session, item: Item) -> dict:
    """Everything the guide shows, as plain data (for the API, the pages and printing)."""
    data = {col: getattr(item, col) for col in _ITEM_COLUMNS}
    bundles = session.scalars(
        sa.select(Bundle.name).join(BundleItem).where(BundleItem.item_id == item.id).order_by(Bundle.name)
    ).all()
    data.update(
        summary_of({**data, "task_code": item.task_code}, item.department.name),
        task_code=item.task_code, dept_code=item.department.code,
        server_type=[s for s, on in (("自然人", item.for_natural), ("法人", item.for_legal)) if on],
        theme_natural=sorted(t.name for t in item.themes if t.audience == "natural"),
        theme_legal=sorted(t.name for t in item.themes if t.audience == "legal"),
        bundles=list(bundles), updated_at=item.updated_at,
    )
    return data


def list_themes(session: Session, audience: str | None = None) -> list[dict]:
    query = (sa.select(Theme.audience, Theme.name, sa.func.count(item_theme.c.item_id))
             .join(item_theme, item_theme.c.theme_id == Theme.id)
             .group_by(Theme.id, Theme.audience, Theme.name)
             .order_by(sa.func.count(item_theme.c.item_id).desc(), Theme.name))
    if audience:
        query = query.where(Theme.audience == audience)
    return [{"audience": a, "name": n, "item_count": c} for a, n, c in session.execute(query)]


def list_departments(session: Session) -> list[dict]:
    query = (sa.select(Department.name, Department.code, sa.func.count(Item.id))
             .join(Item, Item.department_id == Department.id)
             .group_by(Department.id, Department.name, Department.code)
             .order_by(sa.func.count(Item.id).desc(), Department.name))
    return [{"name": n, "code": code, "item_count": c} for n, code, c in session.execute(query)]


def list_bundles(session: Session) -> list[Bundle]:
    """Bundles with their items and departments loaded in three queries, not one per item."""
    return list(session.scalars(
        sa.select(Bundle).order_by(Bundle.name)
        .options(selectinload(Bundle.items).joinedload(BundleItem.item))
    ))


def get_bundle(session: Session, bundle_id: int) -> dict:
    bundle = session.get(Bundle, bundle_id)
    if bundle is None:
        raise NotFound("No such life-event bundle.", "没有找到该“一件事”。")
    return bundle_view(bundle)


def bundle_view(bundle: Bundle) -> dict:
    return {
        "id": bundle.id, "name": bundle.name, "description": bundle.description,
        "items": [summary_of(_as_row(link.item), link.item.department.name) for link in bundle.items],
    }


def _as_row(item: Item) -> dict:
    return {col: getattr(item, col) for col in ("task_code", "task_name", "task_type", "handle_area", "is_online",
                                                 "is_express", "is_service_terminals", "promise_day",
                                                 "promise_type", "popularity")}


# ===================================================================== synonyms (admin)

def list_synonyms(session: Session) -> list[Synonym]:
    return list(session.scalars(sa.select(Synonym).order_by(Synonym.term)))


def add_synonym(session: Session, *, term: str, expansion: str, kind: str, actor: Actor) -> Synonym:
    """Add an admin synonym or correction (audited). Raises Conflict if it exists."""
    term, expansion = term.strip(), expansion.strip()
    exists = session.scalar(sa.select(Synonym.id).where(Synonym.term == term, Synonym.expansion == expansion))
    if exists:
        raise Conflict("This synonym already exists.", "该同义词已存在。")
    synonym = Synonym(term=term, expansion=expansion, kind=kind, created_by=str(actor)[:64])
    session.add(synonym)
    session.flush()
    revision = bump_revision(session)
    audit.record(session, actor=actor, action="synonym.add", target=f"synonym:{synonym.id}",
                 details={"term": term, "expansion": expansion, "kind": kind})
    signals.catalog_changed.send(revision, session=session, actor=actor, reason="synonym")
    return synonym


def delete_synonym(session: Session, synonym_id: int, *, actor: Actor) -> None:
    """Remove an admin synonym (audited). Raises NotFound."""
    synonym = session.get(Synonym, synonym_id)
    if synonym is None:
        raise NotFound("No such synonym.", "没有找到该同义词。")
    session.delete(synonym)
    session.flush()
    revision = bump_revision(session)
    audit.record(session, actor=actor, action="synonym.delete", target=f"synonym:{synonym_id}",
                 details={"term": synonym.term, "expansion": synonym.expansion, "kind": synonym.kind})
    signals.catalog_changed.send(revision, session=session, actor=actor, reason="synonym")

