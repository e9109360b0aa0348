"""In-memory search over the catalog, the way residents type and talk.

Pure module: no Flask, no database. ``services`` builds a :class:`SearchIndex` from the
catalog tables and rebuilds it when the catalog revision changes. Keeping the index in
the process makes search behave the same on SQLite and PostgreSQL and keeps p95 latency
in single-digit milliseconds at 15,000 items (see ``kiosk bench search``).

What a query goes through, in order:

1. ``normalize``: full-width → half-width, lower case, traditional → simplified,
   punctuation and spaces dropped (``戶口遷移`` → ``户口迁移``).
2. corrections from the dictionary (``身分证`` → ``身份证``).
3. synonyms: every dictionary term found in the query adds a variant with the term
   replaced by its expansion (``社保`` → ``社会保险``, ``迁户口`` → ``户口迁移``).
4. filler words (我想, 怎么, 办理流程 ...) are dropped from each variant.
5. each variant is matched against item names (character bigrams), keywords and the
   department; Latin-letter queries also against pinyin initials (``sfz``) and full pinyin
   (``shenfenzheng``).
6. score = how well the best variant matched + a bounded popularity bonus.
"""
from __future__ import annotations

import math
import threading
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from fractions import Fraction

from .pinyin import normalize, pinyin_keys

# Phrases that carry no meaning for matching; longest first so 怎么办理 goes before 怎么.
FILLERS = sorted(
    ["我想", "我要", "想要", "请问", "帮我", "怎么办理", "如何办理", "怎么办", "怎么", "怎样", "如何",
     "在哪里", "在哪儿", "在哪", "哪里", "需要什么", "要什么", "什么", "材料", "流程", "一下", "吗", "呢",
     "去哪", "能不能", "可以"],
    key=len, reverse=True,
)
SYNONYM_WEIGHT = 0.88
MIN_PARTIAL_RATIO = Fraction(1, 2)


@dataclass(slots=True)
class Entry:
    """What the index knows of one item. ``summary`` is returned to callers as it is."""

    id: int
    task_code: str
    name: str           # normalized task name
    aux: str            # normalized keywords (aliases)
    pinyin: str
    initials: str
    popularity: int
    summary: dict
    themes: frozenset = frozenset()
    bundles: frozenset = frozenset()
    department: str = ""
    for_natural: bool = True
    for_legal: bool = False
    handle_area: str | None = None
    is_online: bool = False
    is_express: bool = False
    is_service_terminals: bool = False
    boost: float = field(init=False, default=0.0)

    def __post_init__(self):
        # Popularity orders the items that match equally well and lifts everyday items
        # over rare ones that merely start with the query, but it never lifts a partial
        # match over an item containing the whole query (contains ≥ 70 vs. partial ≤ 50).
        self.boost = min(20.0, 4.0 * math.log10(self.popularity + 1))


@dataclass
class Dictionary:
    """Synonyms and corrections; the shipped TSV plus admin additions."""

    synonyms: list[tuple[str, str]] = field(default_factory=list)
    corrections: list[tuple[str, str]] = field(default_factory=list)
    # Pinyin initials of the dictionary's words (sb → 社保, jsz → 驾驶证), the way a
    # Chinese input method reads initials typed on the kiosk keyboard.
    by_initials: dict[str, list[str]] = field(default_factory=dict)
    by_pinyin: dict[str, list[str]] = field(default_factory=dict)

    @classmethod
    def from_rows(cls, rows: Iterable[tuple[str, str, str]]) -> Dictionary:
        syn, corr = set(), set()
        for term, expansion, kind in rows:
            term_n, exp_n = normalize(term), normalize(expansion)
            if not term_n or not exp_n or term_n == exp_n:
                continue
            (corr if kind == "correction" else syn).add((term_n, exp_n))
        by_len = lambda pair: (-len(pair[0]), pair)  # noqa: E731 - longest term first
        by_initials: dict[str, list[str]] = {}
        by_pinyin: dict[str, list[str]] = {}
        for word in sorted({w for pair in syn for w in pair} | {right for _, right in corr}):
            if 2 <= len(word) <= 6 and word.isalpha() and not word.isascii():
                full, initials = pinyin_keys(word)
                by_initials.setdefault(initials, []).append(word)
                by_pinyin.setdefault(full, []).append(word)
        return cls(sorted(syn, key=by_len), sorted(corr, key=by_len), by_initials, by_pinyin)

    def correct(self, q: str) -> tuple[str, list[str]]:
        notes = []
        for wrong, right in self.corrections:
            if wrong in q:
                q = q.replace(wrong, right)
                notes.append(f"{wrong}→{right}")
        return q, notes

    def variants(self, q: str) -> list[tuple[str, float, str | None]]:
        """(variant, weight, note) for the query, the words its pinyin initials spell, and
        each synonym it contains."""
        out: list[tuple[str, float, str | None]] = [(q, 1.0, None)]
        if q.isascii() and q.isalpha():
            for word in dict.fromkeys([*self.by_pinyin.get(q, ()), *self.by_initials.get(q, ())]):
                out += [(variant, weight, note or f"{q}→{word}") for variant, weight, note in self.variants(word)]
            return out
        seen = {q}
        for term, expansion in self.synonyms:
            if term in q:
                for variant in (q.replace(term, expansion), expansion):
                    if variant not in seen:
                        seen.add(variant)
                        out.append((variant, SYNONYM_WEIGHT if variant != expansion or q == term else SYNONYM_WEIGHT * 0.9,
                                    f"{term}→{expansion}"))
        return out


def is_meaningful(query: str | None) -> bool:
    """Whether ``query`` has anything to search for once normalized: letters, digits or
    characters; not only punctuation, symbols and spaces."""
    return bool(query) and bool(normalize(query))


def strip_fillers(q: str) -> str:
    """Drop filler words; a query made only of fillers is kept as it is."""
    stripped = q
    for word in FILLERS:
        stripped = stripped.replace(word, "")
    return stripped or q


def _grams(text: str, n: int) -> set[str]:
    return {text[i:i + n] for i in range(len(text) - n + 1)}


def _postings(texts: list[str], n: int) -> dict[str, list[int]]:
    index: dict[str, list[int]] = {}
    for pos, text in enumerate(texts):
        for gram in _grams(text, n):
            index.setdefault(gram, []).append(pos)
    return index


@dataclass
class SearchOutcome:
    total: int
    entries: list[Entry]
    understood_as: list[str]


Filter = Callable[[Entry], bool]


def make_filter(criteria: Mapping[str, object]) -> Filter | None:
    """A predicate for the API's filters; None when there is nothing to filter."""
    checks: list[Filter] = []
    if theme := criteria.get("theme"):
        checks.append(lambda e: theme in e.themes)
    if dept := criteria.get("department"):
        checks.append(lambda e: e.department == dept)
    if bundle := criteria.get("bundle"):
        checks.append(lambda e: bundle in e.bundles)
    if server_type := criteria.get("server_type"):
        checks.append((lambda e: e.for_natural) if server_type == "自然人" else (lambda e: e.for_legal))
    if area := criteria.get("handle_area"):
        checks.append(lambda e: e.handle_area == area)
    for flag in ("is_online", "is_express", "is_service_terminals"):
        if criteria.get(flag) is not None:
            wanted = bool(criteria[flag])
            checks.append(lambda e, flag=flag, wanted=wanted: getattr(e, flag) is wanted)
    if not checks:
        return None
    return lambda e: all(check(e) for check in checks)


class SearchIndex:
    """Immutable once built; safe to share between threads."""

    MEMO_SIZE = 4096

    def __init__(self, entries: list[Entry], dictionary: Dictionary | None = None):
        self._memo: dict[str, tuple[list[int], tuple[str, ...]]] = {}
        self._memo_lock = threading.Lock()
        self.entries = entries
        self.dictionary = dictionary or Dictionary()
        names = [e.name for e in entries]
        self._name2 = _postings(names, 2)
        self._name1 = _postings(names, 1)
        self._aux2 = _postings([e.aux for e in entries], 2)
        self._ini2 = _postings([e.initials for e in entries], 2)
        self._ini_first: dict[str, list[int]] = {}
        for pos, e in enumerate(entries):
            if e.initials:
                self._ini_first.setdefault(e.initials[0], []).append(pos)
        self._py3 = _postings([e.pinyin for e in entries], 3)
        self._by_code = {e.task_code.lower(): pos for pos, e in enumerate(entries)}
        self._by_popularity = sorted(range(len(entries)), key=lambda p: (-entries[p].popularity, entries[p].name))

    def __len__(self) -> int:
        return len(self.entries)

    # ------------------------------------------------------------- public

    def search(self, query: str, *, where: Filter | None = None, offset: int = 0, limit: int = 20) -> SearchOutcome:
        """Best-first entries for ``query``; an empty query lists every entry (filtered) by
        popularity. A query of punctuation only ("??", "。", "%") matches nothing: it is
        not an empty query asking to browse, and not a wildcard."""
        q = normalize(query)
        if not q and query and query.strip():
            return SearchOutcome(0, [], [])
        if not q:
            ranked = [self.entries[p] for p in self._by_popularity]
            if where:
                ranked = [e for e in ranked if where(e)]
            return SearchOutcome(len(ranked), ranked[offset:offset + limit], [])
        ranked, notes = self._ranked(q)
        if where is not None:
            ranked = [pos for pos in ranked if where(self.entries[pos])]
        return SearchOutcome(len(ranked), [self.entries[pos] for pos in ranked[offset:offset + limit]], list(notes))

    def _ranked(self, q: str) -> tuple[list[int], tuple[str, ...]]:
        """Entry positions best first for a normalized query, memoized.

        The index never changes once built, so a query's ranking can be kept: kiosks
        see the same few hundred queries all day (社保, 身份证 ...). The memo is bounded
        and goes away with the index when the catalog changes.
        """
        hit = self._memo.get(q)
        if hit is not None:
            return hit
        scores, notes = self._score(q)
        entries = self.entries
        ranked = sorted(scores, key=lambda pos: (-scores[pos], -entries[pos].popularity, len(entries[pos].name), entries[pos].task_code))
        result = (ranked, tuple(notes))
        with self._memo_lock:
            if len(self._memo) >= self.MEMO_SIZE:
                self._memo.pop(next(iter(self._memo)))  # oldest first: dicts keep insertion order
            self._memo[q] = result
        return result

    def clear_memo(self) -> None:
        """Forget memoized rankings (benchmarks use it to measure cold queries)."""
        self._memo.clear()

    def popular(self, limit: int = 8, where: Filter | None = None) -> list[Entry]:
        out = []
        for pos in self._by_popularity:
            entry = self.entries[pos]
            if where is None or where(entry):
                out.append(entry)
                if len(out) == limit:
                    break
        return out

    # ------------------------------------------------------------- scoring

    def _score(self, q: str) -> tuple[dict[int, float], list[str]]:
        scores: dict[int, float] = {}
        q, notes = self.dictionary.correct(q)
        for variant, weight, note in self.dictionary.variants(q):
            core = strip_fillers(variant)
            found = self._match_text(core, weight, scores)
            if note and found and note not in notes:
                notes.append(note)
        if q.isascii():
            self._match_code(q, scores)
            if q.isalpha():
                self._match_pinyin(q, scores)
        for pos in scores:
            scores[pos] += self.entries[pos].boost
        return scores, notes

    def _raise(self, scores: dict[int, float], pos: int, score: float) -> None:
        if score > scores.get(pos, 0.0):
            scores[pos] = score

    def _match_text(self, v: str, weight: float, scores: dict[int, float]) -> bool:
        if not v:
            return False
        found = False
        entries = self.entries
        if len(v) == 1:
            for pos in self._name1.get(v, ()):
                name = entries[pos].name
                self._raise(scores, pos, weight * (85 if name.startswith(v) else 60) + 10 / len(name))
                found = True
            return found
        grams = _grams(v, 2)
        need = len(grams)
        raise_to = self._raise
        # Items holding every bigram of the query: set intersection runs in C, and only
        # these can contain the query as a whole.
        for pos in self._candidates(self._name2, grams):
            name = entries[pos].name
            if v == name:
                score = 100.0
            elif v in name:
                score = (75.0 if name.startswith(v) else 70.0) + 5.0 * len(v) / len(name)
            else:
                score = 45.0 + 5.0 * need / max(1, len(name) - 1)
            raise_to(scores, pos, weight * score)
            found = True
        if need >= 2:
            # Items holding at least half of the bigrams ("身份证补办" → 居民身份证补领).
            # Counting runs in C; the filter touches each candidate once.
            counts: Counter[int] = Counter()
            for gram in grams:
                counts.update(self._name2.get(gram, ()))
            least = max(1, -(-need * MIN_PARTIAL_RATIO.numerator // MIN_PARTIAL_RATIO.denominator))
            for pos, hit in [(p, h) for p, h in counts.items() if least <= h < need]:
                name = entries[pos].name
                raise_to(scores, pos, weight * (45.0 * hit / need + 5.0 * hit / max(1, len(name) - 1)))
                found = True
        for pos in self._candidates(self._aux2, grams):
            if v in entries[pos].aux:
                raise_to(scores, pos, weight * 55.0)
                found = True
        return found

    def _match_code(self, q: str, scores: dict[int, float]) -> None:
        pos = self._by_code.get(q)
        if pos is not None:
            self._raise(scores, pos, 100.0)

    def _match_pinyin(self, q: str, scores: dict[int, float]) -> None:
        entries = self.entries
        if len(q) == 1:
            for pos in self._ini_first.get(q, ()):
                self._raise(scores, pos, 40.0)
            return
        for pos in self._candidates(self._ini2, _grams(q, 2)):
            initials = entries[pos].initials
            if q in initials:
                base = 70.0 if initials.startswith(q) else 64.0
                self._raise(scores, pos, base + 5.0 * len(q) / len(initials))
        if len(q) >= 3:
            for pos in self._candidates(self._py3, _grams(q, 3)):
                pinyin = entries[pos].pinyin
                if q in pinyin:
                    base = 72.0 if pinyin.startswith(q) else 66.0
                    self._raise(scores, pos, base + 5.0 * len(q) / len(pinyin))

    @staticmethod
    def _candidates(postings: dict[str, list[int]], grams: set[str]) -> set[int]:
        lists = sorted((postings.get(g, ()) for g in grams), key=len)
        if not lists or not lists[0]:
            return set()
        result = set(lists[0])
        for other in lists[1:]:
            result.intersection_update(other)
            if not result:
                break
        return result


def make_entry(*, id: int, task_code: str, task_name: str, keywords: Iterable[str], department: str,
               pinyin: str, initials: str, popularity: int, summary: dict, **attrs) -> Entry:
    # Keywords are aliases written for this item; the department name is left out because
    # "社会保障" in "人力资源和社会保障局" would match every item of that department.
    aux = normalize(" ".join(keywords))
    return Entry(id=id, task_code=task_code, name=normalize(task_name), aux=aux, pinyin=pinyin,
                 initials=initials, popularity=popularity, summary=summary, department=department, **attrs)

