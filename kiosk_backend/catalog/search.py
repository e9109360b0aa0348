"""In-memory search over the catalog, the way residents type and talk.

Pure module: no Flask, no database. ``services`` builds a :class:`SearchIndex` from the
catalog tables and rebuilds it when the catalog revision changes. Keeping the index in
the process makes search behave the same on SQLite and PostgreSQL (``kiosk bench search``
prints its speed and memory at 1,500, 15,000 and 150,000 items).

The query is read word by word by :mod:`query` (normalise, strip padding, correct, segment
with jieba on the catalog's own words, read pinyin and homophones, expand synonyms). Items
are scored here, BM25-style over fields with weights — name > keywords > 一件事 bundle names >
conditions, materials and FAQ > department — precomputed per term and item into arrays
(``impact``), so a query is a few vector additions however common its words are:

- an item matches when any of the query's meaningful words match (OR); each word counts
  with its best reading (exact, synonym, pinyin, corrected ...) times that reading's weight;
- items matching every word come first, then by score × coverage;
- popularity is a bounded prior;
- only the page asked for is explained (which words matched and how).

Life events (一件事, :mod:`life_events`) described by the query are returned as groups.
"""
from __future__ import annotations

import json
import math
import re
import threading
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field

import numpy as np

from .pinyin import normalize
from .query import WEAK_WORDS, ParsedQuery, Vocabulary, fold

# Field weights (BM25F-style): where a word is found says how much it is about the item.
PRIMARY = frozenset({"name", "alias", "keywords", "bundle", "char"})
# "alias" is a keyword as a whole (迁户口 written for 户口迁移（迁入）): as good as the name.
FIELDS = ("name", "alias", "keywords", "bundle", "text", "department", "char")
WEIGHTS = {"name": 5.0, "alias": 5.0, "keywords": 3.0, "bundle": 2.0, "text": 0.4, "department": 0.5, "char": 2.0}
K1 = 1.2
# Length normalisation per field: short names are not much better names.
B = {"name": 0.0, "alias": 0.0, "keywords": 0.0, "bundle": 0.5, "text": 0.75, "department": 0.3, "char": 0.0}
# Popularity: at most PRIOR_CAP is added to an item that matched (a 100,000-use item gets
# ≈ 6, a 1,000-use one ≈ 3.6; one exact name word is worth 20–40).
PRIOR, PRIOR_CAP = 1.2, 6.0
# The kiosks' own usage (items opened from search results) adds at most this much more.
USAGE, USAGE_CAP = 0.6, 2.0
# A Latin query also matches item names by their own pinyin (sfz, shenfenzh...).
LATIN_WEIGHT = 30.0
_CJK = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\U00020000-\U0003134f]")
_CHUNKS = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\U00020000-\U0003134f]+")


@dataclass(slots=True, eq=False)
class Entry:
    """What the index keeps of one item. ``summary`` is decoded from compact JSON on demand."""

    id: int
    task_code: str
    name: str           # normalized task name
    aux: str            # normalized keywords (aliases)
    pinyin: str
    initials: str
    popularity: int
    summary_json: bytes  # UTF-8 JSON of the summary's other fields (compact: 150,000 items)
    themes: frozenset = frozenset()
    bundles: frozenset = frozenset()
    department: str = ""
    for_natural: bool = True
    for_legal: bool = False
    handle_area: str | None = None
    is_online: bool = False
    is_express: bool = False
    is_service_terminals: bool = False
    text: str = ""      # conditions, materials, FAQ (folded); dropped once indexed
    raw_name: str = ""

    @property
    def summary(self) -> dict:
        summary = {"task_code": self.task_code, "task_name": self.raw_name or self.name, "dept_name": self.department,
                   **json.loads(self.summary_json)}
        for key in _HELD:  # fields the entry holds itself (not repeated in summary_json)
            summary.setdefault(key, getattr(self, key))
        return summary


@dataclass
class Dictionary:
    """The data the query stages use beyond the catalog: synonyms (word → word), corrections,
    the spoken/dialect map, padding phrases and life events. Shipped files plus admin rows."""

    synonyms: list[tuple[str, str]] = field(default_factory=list)
    corrections: list[tuple[str, str]] = field(default_factory=list)
    dialect: list[tuple[str, str]] = field(default_factory=list)
    padding: list[tuple[str, bool]] = field(default_factory=list)
    life_events: list = field(default_factory=list)

    @classmethod
    def from_rows(cls, rows: Iterable[tuple[str, str, str]], **extra) -> Dictionary:
        syn, corr = set(), set()
        for term, expansion, kind in rows:
            term_n, exp_n = normalize(term), normalize(expansion)
            if not term_n or not exp_n or term_n == exp_n:
                continue
            (corr if kind == "correction" else syn).add((term_n, exp_n))
        by_len = lambda pair: (-len(pair[0]), pair)  # noqa: E731 - longest term first
        return cls(sorted(syn, key=by_len), sorted(corr, key=by_len), **extra)


def is_meaningful(query: str | None) -> bool:
    """Whether ``query`` has anything to search for once normalized: letters, digits or
    characters; not only punctuation, symbols and spaces."""
    return bool(query) and bool(normalize(query))


@dataclass
class Match:
    """How one result matched: per query word, what it matched, how and where."""

    words: list[dict]
    highlight: list[str]

    def as_dict(self) -> dict:
        return {"words": self.words, "highlight": self.highlight}


@dataclass
class SearchOutcome:
    total: int
    entries: list[Entry]
    understood_as: list[str]
    did_you_mean: str | None = None
    matches: list[Match] = field(default_factory=list)
    life_events: list[tuple[object, list[Entry]]] = field(default_factory=list)
    nearest_words: list[str] = field(default_factory=list)
    nearest_life_events: list = field(default_factory=list)


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


def _grams(text: str, n: int) -> set[str]:
    return {text[i:i + n] for i in range(len(text) - n + 1)}


class SearchIndex:
    """Immutable once built; safe to share between threads."""

    MEMO_SIZE = 4096

    def __init__(self, entries: list[Entry], dictionary: Dictionary | None = None, *, use_dictionary: bool = True):
        self._memo: dict[str, tuple[np.ndarray, ParsedQuery, np.ndarray]] = {}
        self._memo_lock = threading.Lock()
        self.entries = entries
        self.dictionary = dictionary or Dictionary()
        self.use_dictionary = use_dictionary
        n = len(entries)
        self._popularity = np.array([e.popularity for e in entries], dtype=np.float64)
        self._by_popularity = np.lexsort((np.array([e.task_code for e in entries], dtype=object).astype(str) if n else
                                          np.array([], dtype=str),
                                          np.array([len(e.name) for e in entries], dtype=np.int32),
                                          -self._popularity)).astype(np.int32)
        # A tiny, unique tie-break so that equal scores always come in the same order
        # (popular, short names first) and pages never overlap.
        tiebreak = np.empty(n, dtype=np.float64)
        tiebreak[self._by_popularity] = (n - np.arange(n)) / max(n, 1) * 1e-6
        self._tiebreak = tiebreak
        self._base_prior = np.minimum(PRIOR_CAP, PRIOR * np.log10(self._popularity + 1))
        self._prior = self._base_prior
        self._by_code = {e.task_code: pos for pos, e in enumerate(entries)}  # the codes' own strings
        self._by_id: dict[int, int] | None = None
        self._build_terms(entries)
        self._build_latin(entries)
        for e in entries:
            e.text = ""  # indexed; not kept
        self._life = None
        if use_dictionary and self.dictionary.life_events:
            from .life_events import LifeEventIndex

            self._life = LifeEventIndex(list(self.dictionary.life_events), [e.name for e in entries])

    def __len__(self) -> int:
        return len(self.entries)

    # ------------------------------------------------------------- building

    def _build_terms(self, entries: list[Entry]) -> None:
        d = self.dictionary if self.use_dictionary else Dictionary(padding=self.dictionary.padding)
        user_words: set[str] = set()
        for e in entries:
            for chunk in _CHUNKS.findall(e.raw_name or e.name):
                user_words.add(fold(chunk))
            for word in e.aux.split(" "):
                if word:
                    user_words.add(word)
        user_words.update(fold(b) for e in entries for b in e.bundles)
        bootstrap = Vocabulary.build(known=(), doc_freq={}, pinyin_words=(), user_words=user_words,
                                     synonyms=d.synonyms, corrections=d.corrections, dialect=d.dialect)
        tokenizer = bootstrap.tokenizer
        freq = tokenizer.FREQ
        cache: dict[str, tuple[str, ...]] = {}

        def terms_of(text: str) -> tuple[str, ...]:
            hit = cache.get(text)
            if hit is not None:
                return hit
            out: list[str] = []
            for chunk in _CHUNKS.findall(text):
                for token in tokenizer.cut(chunk, HMM=False):
                    out.append(token)
                    size = len(token)
                    if size > 2:  # every dictionary word inside a compound, too
                        for i in range(size):
                            for j in range(i + 2, min(size, i + 12) + (0 if i == 0 else 1)):
                                if j - i < size and freq.get(token[i:j]):
                                    out.append(token[i:j])
            for run in re.findall(r"[a-z0-9]+", text):
                out.append(run)
            result = tuple(out)
            if len(cache) < 500_000:
                cache[text] = result
            return result

        postings: dict[str, tuple[list[int], list[float]]] = {}
        lengths = {f: np.zeros(len(entries), dtype=np.float32) for f in FIELDS}
        per_doc: list[list[tuple[str, Counter]]] = []
        pinyin_words: set[str] = set()
        for pos, e in enumerate(entries):
            fields = [
                ("name", Counter(terms_of(fold(e.raw_name or e.name)))),
                # Words of the keywords count once however many aliases repeat them.
                ("alias", Counter({fold(kw): 1 for kw in e.aux.split(" ") if kw})),
                ("keywords", Counter(dict.fromkeys((t for kw in e.aux.split(" ") if kw for t in terms_of(fold(kw))), 1))),
                ("bundle", Counter(t for b in e.bundles for t in terms_of(fold(b)))),
                ("text", Counter(terms_of(e.text)) if e.text else Counter()),
                ("department", Counter(terms_of(fold(e.department)))),
                ("char", Counter("#" + ch for ch in dict.fromkeys(_CJK.findall(e.name)))),
            ]
            for fname, counts in fields:
                lengths[fname][pos] = sum(counts.values())
                if fname in ("name", "alias", "keywords", "bundle"):
                    pinyin_words.update(t for t in counts if 2 <= len(t) <= 8)
            per_doc.append(fields)
        primary_df: dict[str, int] = {}  # items naming the term (not merely mentioning it)
        averages = {f: float(lengths[f].mean()) if len(entries) else 1.0 for f in FIELDS}
        for pos, fields in enumerate(per_doc):
            for fname, counts in fields:
                if not counts:
                    continue
                weight = WEIGHTS[fname]
                norm = K1 * (1 - B[fname] + B[fname] * float(lengths[fname][pos]) / max(averages[fname], 1e-9))
                primary = fname in PRIMARY
                for term, tf in counts.items():
                    if primary:
                        primary_df[term] = primary_df.get(term, 0) + 1
                    part = weight * tf * (K1 + 1) / (tf + norm)
                    slot = postings.get(term)
                    if slot is None:
                        postings[term] = slot = ([pos], [0.0], [0.0], [0.0])
                    elif slot[0][-1] != pos:
                        for column in slot[1:]:
                            column.append(0.0)
                        slot[0].append(pos)
                    if primary:
                        slot[1][-1] = max(slot[1][-1], part)
                        slot[2][-1] += part
                    else:
                        slot[3][-1] += part
        n = max(len(entries), 1)
        self._docs: dict[str, np.ndarray] = {}
        self._impact: dict[str, np.ndarray] = {}
        self._idf: dict[str, float] = {}
        self._mentioned: dict[str, np.ndarray | None] = {}
        doc_freq: dict[str, int] = {}
        for term, (docs, best, named, mentioned) in postings.items():
            # Where an item names the term, its best field counts and the others a little
            # (a keyword repeating the name adds 20 %); how often its conditions or FAQ
            # repeat it says nothing more. Elsewhere the mention is all there is.
            parts = [m + 0.2 * (a - m) if m > 0 else b for m, a, b in zip(best, named, mentioned)]
            # Items that merely mention the term are marked (negative impacts are never
            # stored): a word they match counts only half towards "matches every word".
            self._mentioned[term] = np.array([m <= 0 for m in best], dtype=np.bool_) if any(m <= 0 for m in best) else None
            # How rare a term is among the items it names: 社会保障 in every 人力资源和社会保障局
            # item's department does not make it a common word of names.
            df = len(docs)
            rare = min(df, primary_df.get(term, df))
            idf = math.log(1 + (n - rare + 0.5) / (rare + 0.5))
            self._docs[term] = np.array(docs, dtype=np.int32)
            self._impact[term] = np.array(parts, dtype=np.float32)  # times the word's idf at query time
            self._idf[term] = idf
            doc_freq[term] = df
        # Single characters are in the index (jieba leaves unknown text in characters) but
        # are not words the catalog "knows": 正 in 户籍正明 is still read by its sound.
        known = [t for t in postings if not t.startswith("#") and len(t) >= 2]
        self.vocabulary = Vocabulary.build(
            known=known, doc_freq=doc_freq, pinyin_words=pinyin_words, user_words=user_words,
            synonyms=d.synonyms, corrections=d.corrections, dialect=d.dialect, padding=d.padding)
        self._char_words: dict[str, list[str]] | None = None

    def _build_latin(self, entries: list[Entry]) -> None:
        """Item names by their own pinyin initials and full pinyin (bigrams / trigrams)."""
        ini2: dict[str, list[int]] = {}
        first: dict[str, list[int]] = {}
        for pos, e in enumerate(entries):
            for g in _grams(e.initials, 2):
                ini2.setdefault(g, []).append(pos)
            if e.initials:
                first.setdefault(e.initials[0], []).append(pos)
            e.pinyin = ""  # full pinyin is read against the vocabulary; not kept per item
        pack = lambda d: {k: np.array(v, dtype=np.int32) for k, v in d.items()}  # noqa: E731
        self._ini2, self._ini_first = pack(ini2), pack(first)

    # ------------------------------------------------------------- public

    def parse(self, query: str) -> ParsedQuery:
        return self.vocabulary.parse(query, use_dictionary=self.use_dictionary)

    def search(self, query: str, *, where: Filter | None = None, offset: int = 0, limit: int = 20,
               explain: bool = True) -> SearchOutcome:
        """Best-first entries for ``query``; an empty query lists every entry (filtered) by
        popularity. A query of punctuation only ("??", "。", "%") matches nothing: it is
        not an empty query asking to browse, and not a wildcard."""
        q = normalize(query)
        if not q and query and query.strip():
            return SearchOutcome(0, [], [])
        if not q:
            ranked = [self.entries[p] for p in self._by_popularity.tolist()]
            if where:
                ranked = [e for e in ranked if where(e)]
            return SearchOutcome(len(ranked), ranked[offset:offset + limit], [])
        order, pq, _ = self._ranked(query)
        if where is not None:
            kept = [int(p) for p in order if where(self.entries[p])]
            total, page = len(kept), kept[offset:offset + limit]
        else:
            total, page = len(order), [int(p) for p in order[offset:offset + limit]]
        entries = [self.entries[p] for p in page]
        outcome = SearchOutcome(total, entries, list(pq.notes), did_you_mean=pq.did_you_mean)
        if explain:
            outcome.matches = [self.explain(pq, p) for p in page]
        if offset == 0:
            outcome.life_events = self.life_events(pq)
        if total == 0 and not outcome.life_events:
            outcome.nearest_words = self.nearest_words(pq)
            outcome.nearest_life_events = self._life.nearest(pq.normalized, pq.tokens) if self._life else []
        return outcome

    def life_events(self, query: str | ParsedQuery) -> list[tuple[object, list[Entry]]]:
        """The life events (一件事) the query describes, each with its items, best first."""
        if self._life is None:
            return []
        pq = self.parse(query) if isinstance(query, str) else query
        found = self._life.match(pq.normalized, [t for w in pq.words for t in (w.text, w.alternatives[0].shown)])
        return [(event, [self.entries[p] for p in positions]) for event, positions, _ in found]

    def set_usage(self, opened: Mapping[int, int]) -> None:
        """The kiosks' own usage: how often each item (by id) was opened from search results.
        It adds at most USAGE_CAP to the prior (1,000 openings ≈ 1.8), so it orders items that
        match alike and never lifts a worse match over a better one. Replaces the prior in one
        assignment (readers see the old or the new array) and forgets memoized rankings."""
        if not opened:
            prior = self._base_prior
        else:
            if self._by_id is None:
                self._by_id = {e.id: pos for pos, e in enumerate(self.entries)}
            counts = np.zeros(len(self.entries), dtype=np.float64)
            for item_id, n in opened.items():
                pos = self._by_id.get(item_id)
                if pos is not None and n > 0:
                    counts[pos] = n
            prior = self._base_prior + np.minimum(USAGE_CAP, USAGE * np.log10(counts + 1))
        self._prior = prior
        self.clear_memo()

    def clear_memo(self) -> None:
        """Forget memoized rankings (benchmarks use it to measure cold queries)."""
        self._memo.clear()

    def popular(self, limit: int = 8, where: Filter | None = None) -> list[Entry]:
        out = []
        for pos in self._by_popularity.tolist():
            entry = self.entries[pos]
            if where is None or where(entry):
                out.append(entry)
                if len(out) == limit:
                    break
        return out

    # ------------------------------------------------------------- scoring

    def _ranked(self, query: str) -> tuple[np.ndarray, ParsedQuery, np.ndarray]:
        """Positions best first for a query, its reading, and its scores; memoized (the index
        never changes once built, and kiosks see the same few hundred queries all day)."""
        hit = self._memo.get(query)
        if hit is not None:
            return hit
        pq = self.parse(query)
        scores = self._score(pq)
        candidates = np.flatnonzero(scores > 0)
        self._prefer_names_starting_with_the_query(pq, scores, candidates)
        order = candidates[np.argsort(-scores[candidates], kind="stable")].astype(np.int32)
        result = (order, pq, None)  # not the scores: an array as long as the catalog
        with self._memo_lock:
            if len(self._memo) >= self.MEMO_SIZE:
                self._memo.pop(next(iter(self._memo)), None)  # oldest first
            self._memo[query] = result
        return result

    RERANK = 50

    def _prefer_names_starting_with_the_query(self, pq: ParsedQuery, scores: np.ndarray, candidates: np.ndarray) -> None:
        """Among the best few, a name that starts with the query's first word (户口迁移 →
        户口迁移（迁入）, 社保 → 社会保障卡申领) is the more direct answer; a name that is the
        query itself, the most direct."""
        first = next((w for w in pq.words if not w.weak), None)
        if first is None or not len(candidates):
            return
        starts = {alt.shown for alt in first.alternatives if len(alt.shown) >= 2 and alt.how in ("exact", "synonym")}
        whole = "".join(w.alternatives[0].shown for w in pq.words if not w.weak)
        if len(candidates) > self.RERANK:
            top = candidates[np.argpartition(-scores[candidates], self.RERANK)[:self.RERANK]]
        else:
            top = candidates
        for pos in top.tolist():
            name = self.entries[pos].name
            if name == whole:
                scores[pos] += 6.0
            elif any(name.startswith(s) for s in starts):
                scores[pos] += 3.0

    def _named(self, terms: tuple[str, ...]) -> np.ndarray:
        """1.0 where an item names one of ``terms`` (name, alias, keywords, bundle), else 0."""
        out = np.zeros(len(self.entries), dtype=np.float32)
        for t in terms:
            docs = self._docs.get(t)
            if docs is None:
                continue
            mentioned = self._mentioned.get(t)
            out[docs if mentioned is None else docs[~mentioned]] = 1.0
        return out

    def _alt_scores(self, terms: tuple[str, ...]) -> np.ndarray | None:
        found = [t for t in terms if t in self._docs]
        if not found:
            return None
        out = np.zeros(len(self.entries), dtype=np.float32)
        for t in found:
            if t.startswith("#"):
                out[self._docs[t]] += self._impact[t] * np.float32(self._idf[t])  # characters: their own idf
            else:
                out[self._docs[t]] += self._impact[t]
        if len(terms) > 1 and not terms[0].startswith("#"):
            out /= len(terms)  # a phrase's words share its weight; characters add up
        return out

    def _score(self, pq: ParsedQuery) -> np.ndarray:
        n = len(self.entries)
        total = np.zeros(n, dtype=np.float64)
        covered = np.zeros(n, dtype=np.float64)
        bonus = np.zeros(n, dtype=np.float64)
        counted = 0
        for word in pq.words:
            best = None
            agree = None
            named = None
            chars = None
            single = len(pq.words) == 1 and len(word.text) == 1
            for alt in word.alternatives:
                s = self._alt_scores(alt.terms)
                if s is None:
                    continue
                s = s * np.float32(alt.weight)
                if alt.terms[0].startswith("#") and not single:
                    chars = s if chars is None else np.maximum(chars, s)
                    continue
                best = s if best is None else np.maximum(best, s)
                agree = s.astype(np.float64) if agree is None else agree + s
                named = self._named(alt.terms) if named is None else np.maximum(named, self._named(alt.terms))
                if alt.how != "exact":
                    note = f"{word.text}→{alt.shown}"
                    if note not in pq.notes and word.text != alt.shown:
                        pq.notes.append(note)
            if best is not None and not single:
                # One idf for the word, from the items any of its readings found: a synonym
                # of a rare term is not worth more than the common word the resident typed.
                found = int(np.count_nonzero(best))
                best = best * np.float32(math.log(1 + (n - found + 0.5) / (found + 0.5)))
                agree = agree * math.log(1 + (n - found + 0.5) / (found + 0.5))
            elif best is not None and not word.alternatives[0].terms[0].startswith("#"):
                best = best * np.float32(self._idf.get(word.alternatives[0].terms[0], 1.0))
                agree = best
            if best is None:
                # Known to the catalog only by its characters: it may tell apart items other
                # words found (身份证补办 → 补领), never find one by itself (移民 ≠ 居民).
                if chars is not None:
                    bonus += chars
                continue  # a word nothing in the catalog has does not count against anyone
            # Readings that agree (社保 in the keywords, 社会保障 in the name) count a little more.
            best = best + 0.3 * (agree - best)
            if word.weak:
                total += 0.3 * best
                continue
            total += best
            covered += np.where(best > 0, 0.5 + 0.5 * named, 0.0)
            counted += 1
        total += np.where(total > 0, bonus, 0.0)
        if pq.latin and (not pq.latin_read or len(pq.latin) == 1):
            # Item names by their own initials, for what the vocabulary could not read
            # (jmsfzsl, a name's initials typed whole).
            latin = self._latin_scores(pq.latin)
            if latin is not None:
                total = np.maximum(total, latin) if counted else total + latin
                if not counted:
                    covered = (latin > 0).astype(np.float64)
                    counted = 1
                else:
                    covered = np.maximum(covered, (latin > 0) * counted)
        raw = pq.raw.strip()
        code = self._by_code.get(raw, self._by_code.get(raw.upper(), self._by_code.get(raw.lower())))
        if code is not None:
            total[code] = max(total[code], 1000.0)
            covered[code] = max(counted, 1)
        matched = total > 0
        coverage = covered / max(counted, 1)
        score = total * (0.4 + 0.6 * coverage)
        score += np.where(matched, self._prior + self._tiebreak, 0.0)
        score += np.where(matched & (coverage >= 0.999), 1e4, 0.0)  # every word matched: first
        return np.where(matched, score, 0.0)

    def _latin_scores(self, q: str) -> np.ndarray | None:
        """Names whose own pinyin initials contain a Latin query (jmsfz → 居民身份证申领)."""
        entries = self.entries
        out = np.zeros(len(entries), dtype=np.float64)
        found = False
        if len(q) == 1:
            docs = self._ini_first.get(q)
            if docs is not None:
                out[docs] = LATIN_WEIGHT * 0.6
                found = True
            return out if found else None
        if len(q) > 12:
            return None  # longer runs are full pinyin, read against the vocabulary
        for pos in self._candidates(self._ini2, _grams(q, 2)):
            initials = entries[pos].initials
            if q in initials:
                out[pos] = max(out[pos], LATIN_WEIGHT * ((1.0 if initials.startswith(q) else 0.9) + 0.1 * len(q) / len(initials)))
                found = True
        return out if found else None

    @staticmethod
    def _candidates(postings: dict[str, np.ndarray], grams: set[str]) -> set[int]:
        lists = sorted((postings.get(g) for g in grams), key=lambda a: 0 if a is None else len(a))
        if not lists or lists[0] is None:
            return set()
        result = lists[0]
        for other in lists[1:]:
            result = np.intersect1d(result, other, assume_unique=True)
            if not len(result):
                break
        return set(result.tolist())

    # ------------------------------------------------------------- explaining

    def _impact_at(self, term: str, pos: int) -> float:
        docs = self._docs.get(term)
        if docs is None:
            return 0.0
        i = int(np.searchsorted(docs, pos))
        return float(self._impact[term][i]) if i < len(docs) and docs[i] == pos else 0.0

    def _field_of(self, entry: Entry, term: str) -> str:
        if term.startswith("#"):
            return "name"
        if term in entry.name or term in fold(entry.name):  # 70 in 七十周岁以上…
            return "name"
        if term in entry.aux:
            return "keywords"  # alias or a word of one
        if any(term in fold(b) for b in entry.bundles):
            return "bundle"
        if term in fold(entry.department):
            return "department"
        return "text"

    def explain(self, pq: ParsedQuery, pos: int) -> Match:
        """Which of the query's words matched item ``pos``, what they matched, how and where."""
        entry = self.entries[pos]
        words, highlight = [], []
        display = entry.raw_name or entry.name
        for word in pq.words:
            best, best_value = None, 0.0
            for alt in word.alternatives:
                value = sum(self._impact_at(t, pos) for t in alt.terms) * alt.weight
                if value > best_value:
                    best, best_value = alt, value
            if best is None:
                continue
            matched_terms = [t for t in best.terms if self._impact_at(t, pos) > 0]
            fields = [self._field_of(entry, t) for t in matched_terms]
            field_ = "name" if "name" in fields else (fields[0] if fields else "text")
            words.append({"word": word.text, "matched": best.shown, "how": best.how, "field": field_})
            for t in matched_terms:
                t = t.lstrip("#")
                if t in display and t not in highlight and t not in WEAK_WORDS:
                    highlight.append(t)
        if pq.latin and not words and entry.name:
            words.append({"word": pq.latin, "matched": display, "how": "pinyin", "field": "name"})
        # Longer words first, and none inside another: the kiosk marks each once.
        highlight.sort(key=len, reverse=True)
        kept = [h for i, h in enumerate(highlight) if not any(h in other for other in highlight[:i])]
        return Match(words, kept)

    # ------------------------------------------------------------- nothing found

    def nearest_words(self, pq: ParsedQuery, limit: int = 5) -> list[str]:
        """Catalog words nearest to what was typed, for "您是不是要找" when nothing matched:
        words sharing the most characters, then sounds, the catalog's most used first."""
        vocab = self.vocabulary
        if self._char_words is None:
            table: dict[str, list[str]] = {}
            for words in vocab.by_pinyin.values():
                for word in words:
                    for ch in set(word):
                        table.setdefault(ch, []).append(word)
            self._char_words = table
        scores: Counter[str] = Counter()
        text = "".join(w.text for w in pq.words) or pq.normalized
        for ch in set(text):
            for word in self._char_words.get(ch, ())[:2000]:
                scores[word] += 1
        if pq.latin:
            prefix = vocab._pinyin_prefix(pq.latin)
            if prefix:
                scores[prefix] += 3
        ranked = sorted(scores, key=lambda w: (-scores[w], -vocab.doc_freq.get(w, 0), len(w), w))
        return [w for w in ranked if scores[w] >= 1][:limit]


def make_entry(*, id: int, task_code: str, task_name: str, keywords: Iterable[str], department: str,
               pinyin: str, initials: str, popularity: int, summary: dict, text: str = "", **attrs) -> Entry:
    # Keywords are aliases written for this item; the department is its own, light field.
    aux = " ".join(k for k in (normalize(k) for k in keywords) if k)
    rest = {k: v for k, v in summary.items() if k not in ("task_code", "task_name", "dept_name")}
    held = {"popularity": popularity, **{k: attrs.get(k, _DEFAULTS[k]) for k in _HELD if k != "popularity"}}
    for key in _HELD:  # kept once, on the entry, when the summary says the same
        if key in rest and rest[key] == held[key]:
            del rest[key]
    department = summary.get("dept_name", department) if department is None else department
    for key in ("themes", "bundles"):  # one object per distinct set, not one per item
        if key in attrs:
            attrs[key] = _SETS.setdefault(attrs[key], attrs[key])
    packed = json.dumps(rest, ensure_ascii=False, separators=(",", ":")).encode()
    name = normalize(task_name)
    return Entry(id=id, task_code=task_code, name=name, aux=aux, pinyin=pinyin,
                 initials=initials, popularity=popularity,
                 summary_json=_SUMMARIES.setdefault(packed, packed),  # few distinct ones once those go
                 department=department, text=fold(text) if text else "",
                 raw_name=task_name if task_name != name else "", **attrs)


# Shared among all entries of a process: sets of themes and bundles, and the packed rest of
# summaries (task type, promise days and type), of which a catalog has few distinct ones.
_SETS: dict[frozenset, frozenset] = {}
_SUMMARIES: dict[bytes, bytes] = {}
_HELD = ("popularity", "handle_area", "is_online", "is_express", "is_service_terminals")
_DEFAULTS = {"handle_area": None, "is_online": False, "is_express": False, "is_service_terminals": False}
