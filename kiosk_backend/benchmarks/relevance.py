"""Relevance benchmark for catalog search (run by ``kiosk bench relevance``; issue 11, section 4).

The queries live in two hand-written files next to this module, written before any tuning as
residents talk (see their header comments):

- ``relevance_queries.tsv``: the tuning part;
- ``relevance_heldout.tsv``: the held-out third, never looked at while tuning. The runner
  reports its figures but never prints its misses.

Each configuration ranks every query against the demo catalog in a scratch database:

- ``full``: ``services.build_index(session)``, dictionaries (synonyms, corrections, dialect
  map, life events) on;
- ``no-dictionary``: ``services.build_index(session, dictionaries=False)``: the pipeline
  alone (skipped with a message while ``build_index`` has no such keyword);
- ``names-only``: like ``full``, but the index is built while the catalog holds item names
  and departments only (keywords, conditions, materials, FAQ, themes, bundles and popularity
  blanked inside a savepoint that is rolled back after the build): the case of an imported
  catalog that has names and nothing else;
- ``plain-bm25``: the baseline the issue compares against, written here: the query and item
  names normalised (:func:`kiosk_backend.catalog.pinyin.normalize`), segmented with jieba's
  default dictionary (``cut_for_search``), BM25 (k1=1.2, b=0.75) over item names only; an
  all-Latin query is matched as a substring of the names' pinyin initials or full pinyin.

Metrics per kind and overall, per part: recall@1 and recall@5 (an acceptable item among the
first 1 / 5), MRR@10 (1/rank of the first acceptable item within 10, else 0), ``empty`` (the
screen would show nothing found: no item and no life-event group) and ``0-items`` (no
ordinary item; a life-event group may still be shown). For queries of kind ``life_event``
the ranking is the life-event groups' items first (in order), then the ordinary results,
without repeats: that is what the kiosk shows first.
"""
from __future__ import annotations

import inspect
import json
import logging
import math
import re
import time
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
QUERY_FILES = {"tuning": HERE / "relevance_queries.tsv", "heldout": HERE / "relevance_heldout.tsv"}
PARTS = ("tuning", "heldout")
KINDS = ("question", "life_event", "colloquial", "homophone_typo", "pinyin_typo", "mixed_script", "traditional",
         "padding", "numbers", "pinyin_initials", "full_pinyin", "two_char")
CONFIGS = ("full", "no-dictionary", "names-only", "plain-bm25")
CUTOFF = 10

_HEADER = ["kind", "query", "acceptable", "note"]


# ------------------------------------------------------------------ query files

@dataclass(frozen=True)
class Query:
    part: str
    kind: str
    text: str
    acceptable: frozenset[str]
    note: str = ""
    line: int = 0


def load_queries(path: Path, part: str) -> list[Query]:
    """The queries of one file: ``kind<TAB>query<TAB>code|code…<TAB>note`` after one header
    line; lines starting with ``#`` and blank lines are skipped.

    Raises ValueError naming the file and line of a malformed row (missing header, too few
    columns, unknown kind, empty query or no acceptable code)."""
    queries: list[Query] = []
    header_seen = False
    with open(path, encoding="utf-8") as fh:
        for number, raw in enumerate(fh, start=1):
            line = raw.rstrip("\r\n")
            if not line.strip() or line.startswith("#"):
                continue
            cols = line.split("\t")
            if not header_seen:
                if cols[:3] != _HEADER[:3]:
                    raise ValueError(f"{path.name}:{number}: expected the header line {'<TAB>'.join(_HEADER)}")
                header_seen = True
                continue
            if len(cols) < 3:
                raise ValueError(f"{path.name}:{number}: expected kind<TAB>query<TAB>codes[<TAB>note]")
            kind, text, codes = cols[0].strip(), cols[1].strip(), cols[2].strip()
            acceptable = frozenset(c.strip() for c in codes.split("|") if c.strip())
            if kind not in KINDS:
                raise ValueError(f"{path.name}:{number}: unknown kind {kind!r} (one of {', '.join(KINDS)})")
            if not text or not acceptable:
                raise ValueError(f"{path.name}:{number}: empty query or no acceptable task_code")
            queries.append(Query(part, kind, text, acceptable, cols[3].strip() if len(cols) > 3 else "", number))
    if not header_seen:
        raise ValueError(f"{path.name}: no header line")
    return queries


def load_all(files: dict[str, Path] | None = None) -> list[Query]:
    """Both parts, tuning first. Raises ValueError as :func:`load_queries`."""
    files = files or QUERY_FILES
    return [q for part in PARTS if part in files for q in load_queries(files[part], part)]


# ------------------------------------------------------------------ metrics

def recall_at(ranking: Sequence[str], acceptable: Iterable[str], k: int) -> float:
    """1.0 when an acceptable code is among the first ``k`` of ``ranking``, else 0.0."""
    ok = set(acceptable)
    return 1.0 if any(code in ok for code in ranking[:k]) else 0.0


def reciprocal_rank(ranking: Sequence[str], acceptable: Iterable[str], k: int = CUTOFF) -> float:
    """1/rank of the first acceptable code within the first ``k`` (ranks from 1), else 0.0."""
    ok = set(acceptable)
    for rank, code in enumerate(ranking[:k], start=1):
        if code in ok:
            return 1.0 / rank
    return 0.0


def groups_first(group_codes: Iterable[str], ordinary: Iterable[str]) -> list[str]:
    """Life-event group items first (in order), then the ordinary results, without repeats."""
    return list(dict.fromkeys([*group_codes, *ordinary]))


@dataclass
class Ranked:
    """What one configuration answered for one query."""
    codes: list[str]          # ranking the metrics read (cut at CUTOFF)
    items: int                # ordinary results returned
    groups: int = 0           # life-event groups returned
    error: str | None = None


@dataclass
class Outcome:
    query: Query
    ranked: Ranked
    r1: float = field(init=False)
    r5: float = field(init=False)
    rr: float = field(init=False)

    def __post_init__(self):
        self.r1 = recall_at(self.ranked.codes, self.query.acceptable, 1)
        self.r5 = recall_at(self.ranked.codes, self.query.acceptable, 5)
        self.rr = reciprocal_rank(self.ranked.codes, self.query.acceptable, CUTOFF)

    @property
    def empty(self) -> bool:
        return self.ranked.items == 0 and self.ranked.groups == 0

    @property
    def no_items(self) -> bool:
        return self.ranked.items == 0


def summarise(outcomes: Sequence[Outcome]) -> dict:
    """{"n", "r1", "r5", "mrr", "empty", "no_items", "errors"} over ``outcomes`` (rates are
    fractions 0..1; zeros when there is none)."""
    n = len(outcomes)
    if not n:
        return {"n": 0, "r1": 0.0, "r5": 0.0, "mrr": 0.0, "empty": 0, "no_items": 0, "errors": 0}
    return {"n": n, "r1": sum(o.r1 for o in outcomes) / n, "r5": sum(o.r5 for o in outcomes) / n,
            "mrr": sum(o.rr for o in outcomes) / n, "empty": sum(o.empty for o in outcomes),
            "no_items": sum(o.no_items for o in outcomes), "errors": sum(o.ranked.error is not None for o in outcomes)}


def by_part_and_kind(outcomes: Sequence[Outcome]) -> dict:
    """{part: {"kinds": {kind: summary}, "overall": summary}} for the parts present."""
    result = {}
    for part in PARTS:
        mine = [o for o in outcomes if o.query.part == part]
        if not mine:
            continue
        kinds = {kind: summarise([o for o in mine if o.query.kind == kind]) for kind in KINDS}
        result[part] = {"kinds": {k: v for k, v in kinds.items() if v["n"]}, "overall": summarise(mine)}
    return result


# ------------------------------------------------------------------ plain BM25 baseline

_LATIN = re.compile(r"[0-9a-z]*[a-z][0-9a-z]*")


def _quiet_tokenizer():
    """A private jieba tokenizer on jieba's default dictionary only: words other code adds to
    jieba's global tokenizer (the search's catalog dictionary) never reach the baseline."""
    import jieba

    jieba.setLogLevel(logging.WARNING)
    tokenizer = jieba.Tokenizer()
    tokenizer.initialize()
    return tokenizer


class PlainBM25:
    """BM25 (k1, b) over item names segmented by jieba's ``cut_for_search`` after
    :func:`~kiosk_backend.catalog.pinyin.normalize`; an all-Latin query (letters and digits
    only, after normalising) is matched as a substring of each name's pinyin initials or full
    pinyin instead. Ties keep the order the items were given in."""

    def __init__(self, items: Sequence[tuple[str, str]], *, k1: float = 1.2, b: float = 0.75, tokenizer=None):
        from ..catalog.pinyin import normalize, pinyin_keys

        self._normalize = normalize
        self.k1, self.b = k1, b
        self._tok = tokenizer or _quiet_tokenizer()
        self.codes = [code for code, _ in items]
        self.names = [normalize(name) for _, name in items]
        self._keys = [pinyin_keys(name) for name in self.names]
        self._tf: list[Counter] = []
        df: Counter = Counter()
        for name in self.names:
            tf = Counter(self.tokens(name))
            self._tf.append(tf)
            df.update(tf.keys())
        self._len = [sum(tf.values()) for tf in self._tf]
        self._avg = (sum(self._len) / len(self._len)) if self._len else 0.0
        n = len(self.names)
        self._idf = {t: math.log(1 + (n - d + 0.5) / (d + 0.5)) for t, d in df.items()}
        self._postings: dict[str, list[int]] = {}
        for pos, tf in enumerate(self._tf):
            for term in tf:
                self._postings.setdefault(term, []).append(pos)

    def tokens(self, normalized: str) -> list[str]:
        return [t for t in self._tok.cut_for_search(normalized, HMM=True) if t.strip()]

    def search(self, query: str, *, limit: int = CUTOFF) -> list[str]:
        """Task codes best first (at most ``limit``); [] when nothing matches."""
        q = self._normalize(query)
        if not q:
            return []
        if _LATIN.fullmatch(q):
            hits = [pos for pos, (full, initials) in enumerate(self._keys) if q in initials or q in full]
            # Names that start with the query first, then shorter names (closer to the query).
            hits.sort(key=lambda p: (not (self._keys[p][1].startswith(q) or self._keys[p][0].startswith(q)),
                                     len(self.names[p]), p))
            return [self.codes[p] for p in hits[:limit]]
        scores: dict[int, float] = {}
        for term in dict.fromkeys(self.tokens(q)):
            idf = self._idf.get(term)
            if idf is None:
                continue
            for pos in self._postings[term]:
                tf = self._tf[pos][term]
                norm = self.k1 * (1 - self.b + self.b * self._len[pos] / self._avg)
                scores[pos] = scores.get(pos, 0.0) + idf * tf * (self.k1 + 1) / (tf + norm)
        ranked = sorted(scores, key=lambda p: (-scores[p], p))
        return [self.codes[p] for p in ranked[:limit]]


# ------------------------------------------------------------------ configurations

def index_ranker(index) -> Callable[[Query], Ranked]:
    """Ranks with a search index as the contract gives it: ``index.search(q, limit=10).entries``
    and, when the index has them, ``index.life_events(q)`` groups of (event, [entries])."""
    life_events = getattr(index, "life_events", None)

    def rank(query: Query) -> Ranked:
        try:
            entries = index.search(query.text, limit=CUTOFF).entries
            groups = life_events(query.text) if life_events is not None else []
        except Exception as exc:  # a failing query counts as a miss and is reported, never hidden
            return Ranked([], 0, 0, error=f"{type(exc).__name__}: {exc}")
        ordinary = [e.task_code for e in entries]
        codes = ordinary
        if query.kind == "life_event" and groups:
            codes = groups_first([e.task_code for _, members in groups for e in members], ordinary)
        return Ranked(codes[:CUTOFF], len(entries), len(groups))

    return rank


def bm25_ranker(baseline: PlainBM25) -> Callable[[Query], Ranked]:
    def rank(query: Query) -> Ranked:
        codes = baseline.search(query.text, limit=CUTOFF)
        return Ranked(codes, len(codes))

    return rank


def _build(config: str, session) -> tuple[Callable[[Query], Ranked] | None, str]:
    """(ranker or None when unavailable, a line saying what was built)."""
    import sqlalchemy as sa

    from ..catalog import services
    from ..catalog.models import Item

    started = time.perf_counter()
    if config == "plain-bm25":
        rows = session.execute(sa.select(Item.task_code, Item.task_name)
                               .where(Item.task_state == "在用").order_by(Item.id)).all()
        baseline = PlainBM25([(code, name) for code, name in rows])
        return bm25_ranker(baseline), (f"plain BM25 over {len(rows)} item names (jieba default dictionary), "
                                       f"built in {(time.perf_counter() - started) * 1000:.0f} ms")
    if config == "names-only":
        from ..catalog.models import BundleItem, item_theme

        savepoint = session.begin_nested()
        try:
            session.execute(sa.update(Item).values(keywords=[], accept_condition=None, materials=[], faq=[],
                                                   popularity=0).execution_options(synchronize_session=False))
            session.execute(sa.delete(BundleItem).execution_options(synchronize_session=False))
            session.execute(sa.delete(item_theme))
            index = services.build_index(session)
        finally:
            savepoint.rollback()
        return index_ranker(index), ("services.build_index() over item names and departments only "
                                     "(keywords, text, themes, bundles and popularity blanked), "
                                     f"built in {(time.perf_counter() - started) * 1000:.0f} ms")
    if config == "no-dictionary":
        if "dictionaries" not in inspect.signature(services.build_index).parameters:
            return None, ("services.build_index(session, dictionaries=False) does not exist yet: "
                          "the no-dictionary run is skipped")
        index = services.build_index(session, dictionaries=False)
    else:
        index = services.build_index(session)
    groups = ("index.life_events(q) asked too" if getattr(index, "life_events", None) is not None
              else "the index has no life_events() yet")
    return index_ranker(index), (f"services.build_index({'dictionaries=False' if config == 'no-dictionary' else ''}), "
                                 f"{groups}; built in {(time.perf_counter() - started) * 1000:.0f} ms")


# ------------------------------------------------------------------ report

def _pct(x: float) -> str:
    return f"{x * 100:5.1f}%"


def format_table(config: str, parts: dict) -> list[str]:
    """One block: rows per kind, both parts side by side, then the overall line."""
    shown = [p for p in PARTS if p in parts]
    cell = "{:>4} {:>6} {:>6} {:>6} {:>5} {:>7}"
    head = " | ".join(cell.format("n", "R@1", "R@5", "MRR10", "empty", "0-items") for _ in shown)
    lines = [f"== {config} ==", f"{'':16} | " + " | ".join(f"{p:^41}" for p in shown), f"{'kind':16} | {head}"]

    def row(label: str, stats: list[dict | None]) -> str:
        cells = []
        for s in stats:
            if not s or not s["n"]:
                cells.append(cell.format("-", "", "", "", "", ""))
            else:
                cells.append(cell.format(s["n"], _pct(s["r1"]), _pct(s["r5"]), f"{s['mrr']:.3f}", s["empty"],
                                         s["no_items"]))
        return f"{label:16} | " + " | ".join(cells)

    for kind in KINDS:
        stats = [parts[p]["kinds"].get(kind) for p in shown]
        if any(stats):
            lines.append(row(kind, stats))
    lines.append("-" * len(lines[-1]))
    lines.append(row("overall", [parts[p]["overall"] for p in shown]))
    errors = sum(parts[p]["overall"]["errors"] for p in shown)
    if errors:
        lines.append(f"  ({errors} queries raised an error and count as misses)")
    return lines


def _miss_line(outcome: Outcome, names: dict[str, str]) -> str:
    q, got = outcome.query, outcome.ranked.codes[:5]
    want = "；".join(names.get(c, c) for c in sorted(q.acceptable, key=lambda c: names.get(c, c)))
    shown = "；".join(f"{i}.{names.get(c, c)}" for i, c in enumerate(got, start=1)) or "(nothing)"
    rank = f"first acceptable at {round(1 / outcome.rr)}" if outcome.rr else "no acceptable in top 10"
    extra = f" [error {outcome.ranked.error}]" if outcome.ranked.error else ""
    return f"  [{q.kind}] {q.text}  want: {want}  got: {shown}  ({rank}){extra}"


def run_relevance_benchmark(configs: Sequence[str] = CONFIGS, *, part: str = "both", show_misses: bool = False,
                            as_json: bool = False, echo: Callable[[str], None] = print,
                            database_url: str | None = None, queries: Sequence[Query] | None = None) -> dict:
    """Rank every query of ``part`` with each configuration on the demo catalog in a scratch
    database and print the tables (or one JSON document with ``as_json``). Returns
    {"configs": {name: {"available", "built", "parts": by_part_and_kind(...)}}, ...}.

    Misses are printed (``show_misses``) for the tuning part only, never for the held-out one.
    Raises ValueError for an unknown configuration or part, or a malformed query file."""
    import sqlalchemy as sa

    from ..catalog import services
    from ..catalog.models import Item
    from . import scratch_app

    unknown = [c for c in configs if c not in CONFIGS]
    if unknown:
        raise ValueError(f"unknown configuration {', '.join(unknown)} (one of {', '.join(CONFIGS)})")
    if part not in ("tuning", "heldout", "both"):
        raise ValueError("part must be tuning, heldout or both")
    chosen = list(queries) if queries is not None else load_all()
    if part != "both":
        chosen = [q for q in chosen if q.part == part]
    say = (lambda _line: None) if as_json else echo
    counts = Counter(q.part for q in chosen)
    notes = [
        "R@k: an acceptable item among the first k; MRR10: mean 1/rank of the first acceptable item within 10; "
        "empty: no item and no life-event group (the no-result screen); 0-items: no ordinary item.",
        "life_event queries rank the life-event groups' items first (in order), then the ordinary results, "
        "without repeats.",
    ]
    report: dict = {"queries": {p: counts[p] for p in PARTS if counts[p]}, "notes": notes, "configs": {}}
    say(f"relevance: {', '.join(f'{p} {n} queries' for p, n in report['queries'].items())}; demo catalog")
    for line in notes:
        say(line)
    with scratch_app(database_url) as (_app, db):
        loaded = services.load_demo_catalog(db.session)
        db.session.commit()
        report["catalog_items"] = loaded.created
        names = dict(db.session.execute(sa.select(Item.task_code, Item.task_name)).all()) if show_misses else {}
        for config in configs:
            ranker, built = _build(config, db.session)
            entry: dict = {"available": ranker is not None, "built": built}
            report["configs"][config] = entry
            say("")
            if ranker is None:
                say(f"== {config} ==")
                say(f"  {built}")
                continue
            started = time.perf_counter()
            outcomes = [Outcome(q, ranker(q)) for q in chosen]
            elapsed = time.perf_counter() - started
            entry["parts"] = by_part_and_kind(outcomes)
            entry["ms_per_query"] = elapsed * 1000 / max(1, len(chosen))
            for line in format_table(config, entry["parts"]):
                say(line)
            say(f"  {built}; {entry['ms_per_query']:.2f} ms per query")
            errors = [o for o in outcomes if o.ranked.error]
            for o in errors[:3]:
                say(f"  error on {o.query.text!r}: {o.ranked.error}")
            if show_misses:
                misses = [o for o in outcomes if o.query.part == "tuning" and not o.r1]
                entry["tuning_misses"] = [
                    {"kind": o.query.kind, "query": o.query.text, "acceptable": sorted(o.query.acceptable),
                     "got": o.ranked.codes[:5], "rr": o.rr} for o in misses]
                say(f"  tuning misses at rank 1 ({len(misses)}; held-out misses are never shown):")
                for o in misses:
                    say(_miss_line(o, names))
    if show_misses and part == "heldout":
        say("(--show-misses prints tuning misses only; the held-out part's misses are never shown)")
    if as_json:
        echo(json.dumps(report, ensure_ascii=False, indent=1))
    return report
