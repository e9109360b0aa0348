"""Understanding a resident's query, word by word (pure: no Flask, no database).

A query goes through these stages, each its own function with its own tests
(tests/catalog/test_query.py):

1. :func:`fold` — normalise (full-width → half-width, case, traditional → simplified,
   punctuation and spaces dropped: :func:`pinyin.normalize`) and write numbers the same way
   the catalog does (七十周岁 → 70岁, 满十六周岁 → 满16岁). The raw query is kept for display.
2. :meth:`Vocabulary.strip_padding` — conversational padding anywhere in the query
   (你好, 麻烦问下, 应该怎么操作, 去哪个窗口 ...), from ``data/padding.txt``.
3. corrections (身分证 → 身份证) and the spoken/dialect map (伢崽 → 孩子) on the text.
4. :meth:`Vocabulary.segment` — jieba, with a user dictionary built from the catalog itself
   (item names, keywords, department names, dictionary terms), so catalog words stay whole.
   Runs of Latin letters are cut out first (gjj提取 → ``gjj`` + 提取).
5. each Latin run is read as pinyin initials or full pinyin **against the catalog's own
   vocabulary** (gjj → 公积金, zhuanyi → 转移, gongjijing → 公积金 by tone-less, near-homophone
   syllables); each run of characters the catalog does not know is read by its pinyin the
   same way (公积金题取 → 提取, 节婚证 → 结婚证, 异地就医被案 → 备案).
6. each word is expanded through the synonym dictionary, word → word (驾照 → 驾驶证).

The result, :class:`ParsedQuery`, is a list of :class:`Word` s, each with its alternatives
(terms, weight, how it was found); :mod:`search` scores them.
"""
from __future__ import annotations

import re
import threading
import unicodedata
from collections import ChainMap
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import lru_cache

from .pinyin import normalize

# How much an alternative counts against the word as typed.
EXACT, DIALECT, PINYIN, SYNONYM, CORRECTED, NEAR = 1.0, 0.95, 0.9, 0.85, 0.8, 0.7
# Generic verbs and nouns of service language: they stay in the query (a little weight) but
# an item need not match them to count as matching every word.
WEAK_WORDS = frozenset("办 办理 申请 申办 手续 业务 服务 事项 相关 一下 需要 要 想 去 能 可以 哪里 哪儿 怎么 如何 什么 的 了".split())

_LATIN_RUN = re.compile(r"[a-z]+|[0-9]+|[^a-z0-9]+")
_CJK = re.compile(r"^[\u3400-\u4dbf\u4e00-\u9fff\U00020000-\U0003134f]+$")
_CN_DIGITS = {"零": 0, "〇": 0, "一": 1, "二": 2, "两": 2, "三": 3, "四": 4, "五": 5, "六": 6, "七": 7, "八": 8, "九": 9}
_CN_NUMBER = re.compile(r"[零〇一二两三四五六七八九十百千]+(?=周岁|岁|个月|个工作日|工作日|日|天|年|周|小时|元|万元|孩|胎)")


# ---------------------------------------------------------------------------- 1. folding

def chinese_number(text: str) -> int | None:
    """The value of a Chinese numeral (十六 → 16, 七十 → 70, 一百零五 → 105, 二零二五 → 2025),
    or None when ``text`` is not one."""
    if not text:
        return None
    if not any(ch in "十百千" for ch in text):
        digits = [_CN_DIGITS.get(ch) for ch in text]
        return None if None in digits else int("".join(map(str, digits)))
    total, current = 0, 0
    for ch in text:
        if ch in _CN_DIGITS:
            current = _CN_DIGITS[ch]
        elif ch in "十百千":
            total += (current or 1) * {"十": 10, "百": 100, "千": 1000}[ch]
            current = 0
        else:
            return None
    return total + current


def fold(text: str) -> str:
    """Normalised text with numbers written as the catalog's numbers are, so that 70岁以上,
    七十周岁以上 and 满16周岁 meet: Chinese numerals before a unit become digits, 周岁 becomes 岁."""
    text = normalize(text)
    if not text:
        return text
    text = _CN_NUMBER.sub(lambda m: str(v) if (v := chinese_number(m.group())) is not None else m.group(), text)
    return text.replace("周岁", "岁")


# ---------------------------------------------------------------------------- pinyin helpers

_TONE_MARKS = str.maketrans({"ü": "v"})


@lru_cache(maxsize=1)
def _syllable_of_char() -> dict[str, str]:
    """Tone-less most common reading of every character pypinyin knows."""
    from pypinyin.pinyin_dict import pinyin_dict

    out = {}
    for code, readings in pinyin_dict.items():
        first = readings.split(",")[0]
        plain = "".join(c for c in unicodedata.normalize("NFD", first) if not unicodedata.combining(c))
        out[chr(code)] = plain.translate(_TONE_MARKS).lower()
    return out


def syllables(text: str) -> list[str]:
    """Tone-less syllables of ``text`` (one per character; a character without a reading
    stands for itself). Uses pypinyin's phrase-aware reading for multi-character words."""
    from pypinyin import Style, lazy_pinyin

    return [s.replace("ü", "v").lower() for s in lazy_pinyin(text, style=Style.NORMAL, errors=lambda s: list(s))]


def fuzzy(pinyin: str) -> str:
    """Near-homophones read alike: zh/z, ch/c, sh/s, -ng/-n, l/n, f/h — the confusions of
    southern speakers and of pinyin typed in a hurry."""
    out = pinyin.replace("zh", "z").replace("ch", "c").replace("sh", "s").replace("ng", "n").replace("l", "n")
    return out.replace("f", "h")  # 护照 typed fuzhao: f/h as in Gan and Xiang speech


# ---------------------------------------------------------------------------- query objects

@dataclass(frozen=True, slots=True)
class Alternative:
    """One way to read a word: index ``terms`` (all of them count), a ``weight`` against
    the word as typed, ``how`` it was found, and ``shown``, the text to show for it."""

    terms: tuple[str, ...]
    weight: float
    how: str
    shown: str


@dataclass(slots=True)
class Word:
    text: str
    alternatives: list[Alternative]
    weak: bool = False


@dataclass
class ParsedQuery:
    raw: str
    normalized: str
    words: list[Word] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    latin: str | None = None  # the whole query when it is Latin letters only (sfz, shenfenzheng)
    rewritten: dict[str, str] = field(default_factory=dict)  # word put in by a correction/dialect → how
    latin_read: bool = False  # a Latin run was read as catalog words

    @property
    def did_you_mean(self) -> str | None:
        """The query in catalog words when any word was read differently from how it was
        typed (corrected, from pinyin or dialect); None otherwise."""
        changed, parts = False, []
        for word in self.words:
            best = word.alternatives[0] if word.alternatives else None
            if best is None:
                continue
            if best.how in ("corrected", "pinyin", "dialect"):
                changed = True
            if not word.weak:
                parts.append(best.shown)
        return "".join(parts) if changed and parts else None

    @property
    def tokens(self) -> list[str]:
        return [w.text for w in self.words]


# ---------------------------------------------------------------------------- vocabulary

_BASE_LOCK = threading.Lock()
_BASE = None


def _base_tokenizer():
    """jieba's tokenizer with its default dictionary, loaded once per process and shared:
    every index adds its catalog words on top through a ChainMap, never into the base."""
    global _BASE
    with _BASE_LOCK:
        if _BASE is None:
            import logging

            import jieba

            jieba.setLogLevel(logging.WARNING)
            tokenizer = jieba.Tokenizer()
            tokenizer.initialize()
            _BASE = tokenizer
        return _BASE


def catalog_tokenizer(words: Iterable[str]):
    """A jieba tokenizer that keeps every catalog word in ``words`` whole."""
    import jieba

    base = _base_tokenizer()
    tokenizer = jieba.Tokenizer()
    tokenizer.FREQ = ChainMap({}, base.FREQ)
    tokenizer.total = base.total
    tokenizer.initialized = True
    for word in words:
        if 2 <= len(word) <= 12 and _CJK.match(word):
            tokenizer.add_word(word, freq=max(base.FREQ.get(word, 0), 3000 * len(word)))
    return tokenizer


@dataclass
class Vocabulary:
    """What the query stages know of the catalog: its words, their pinyin, the dictionaries.

    ``known`` are the index's terms; ``pinyin_words`` those a pinyin or a homophone may stand
    for (words of names, keywords, bundles and the dictionary, 2–8 characters)."""

    known: frozenset[str]
    tokenizer: object
    doc_freq: dict[str, int]
    synonyms: dict[str, tuple[str, ...]] = field(default_factory=dict)
    corrections: list[tuple[str, str]] = field(default_factory=list)
    dialect: list[tuple[str, str]] = field(default_factory=list)
    padding_anywhere: tuple[str, ...] = ()
    padding_words: frozenset[str] = frozenset()
    by_pinyin: dict[str, list[str]] = field(default_factory=dict)
    by_fuzzy: dict[str, list[str]] = field(default_factory=dict)
    by_edit: dict[str, list[str]] = field(default_factory=dict)
    by_initials: dict[str, list[str]] = field(default_factory=dict)
    fuzzy_sorted: list[tuple[str, str]] = field(default_factory=list)

    @classmethod
    def build(cls, *, known: Iterable[str], doc_freq: dict[str, int], pinyin_words: Iterable[str],
              user_words: Iterable[str], synonyms: Iterable[tuple[str, str]] = (),
              corrections: Iterable[tuple[str, str]] = (), dialect: Iterable[tuple[str, str]] = (),
              padding: Iterable[tuple[str, bool]] = ()) -> Vocabulary:
        syn: dict[str, list[str]] = {}
        for term, expansion in synonyms:
            term, expansion = fold(term), fold(expansion)
            if term and expansion and term != expansion:
                syn.setdefault(term, [])
                if expansion not in syn[term]:
                    syn[term].append(expansion)
        corr = sorted({(fold(a), fold(b)) for a, b in corrections if fold(a) and fold(b) and fold(a) != fold(b)},
                      key=lambda p: (-len(p[0]), p))
        dia = sorted({(fold(a), fold(b)) for a, b in dialect if fold(a) and fold(b) and fold(a) != fold(b)},
                     key=lambda p: (-len(p[0]), p))
        anywhere, whole = [], set()
        for phrase, is_anywhere in padding:
            phrase = fold(phrase)
            if phrase:
                (anywhere.append(phrase) if is_anywhere and len(phrase) >= 2 else whole.add(phrase))
        words = set(pinyin_words) | set(syn) | {e for exps in syn.values() for e in exps} | {b for _, b in corr}
        by_pinyin: dict[str, list[str]] = {}
        by_fuzzy: dict[str, list[str]] = {}
        by_edit: dict[str, list[str]] = {}
        by_initials: dict[str, list[str]] = {}
        for word in sorted(words):
            if not (2 <= len(word) <= 8 and _CJK.match(word)):
                continue
            sy = syllables(word)
            full = "".join(sy)
            by_pinyin.setdefault(full, []).append(word)
            by_fuzzy.setdefault(fuzzy(full), []).append(word)
            by_initials.setdefault("".join(s[0] for s in sy), []).append(word)
            if len(sy) >= 4:  # one syllable off in three is another word (户籍证 ≠ 残疾证)
                fz = [fuzzy(s) for s in sy]
                for i in range(len(fz)):
                    by_edit.setdefault("'".join(fz[:i] + ["*"] + fz[i + 1:]), []).append(word)
        vocab = cls(known=frozenset(known), tokenizer=None, doc_freq=doc_freq,
                    synonyms={k: tuple(v) for k, v in syn.items()}, corrections=corr, dialect=dia,
                    padding_anywhere=tuple(sorted(set(anywhere), key=len, reverse=True)),
                    padding_words=frozenset(whole), by_pinyin=by_pinyin, by_fuzzy=by_fuzzy, by_edit=by_edit,
                    by_initials=by_initials, fuzzy_sorted=sorted((k, v[0]) for k, v in by_fuzzy.items()))
        vocab.tokenizer = catalog_tokenizer([*user_words, *syn, *(e for v in syn.values() for e in v),
                                             *(b for _, b in corr), *(b for _, b in dia)])
        return vocab

    # -------------------------------------------------------------- stages

    def strip_padding(self, text: str) -> str:
        """Drop padding phrases anywhere; the text is kept when nothing would be left."""
        stripped = text
        for phrase in self.padding_anywhere:
            if phrase in stripped:
                stripped = stripped.replace(phrase, " ")
        return stripped if stripped.strip() else text

    def apply_corrections(self, text: str, notes: list[str], rewritten: dict[str, str] | None = None) -> str:
        for wrong, right in self.corrections:
            if wrong in text and right not in text:
                text = text.replace(wrong, f" {right} ")
                notes.append(f"{wrong}→{right}")
                if rewritten is not None:
                    rewritten[right] = "corrected"
        return text

    def segment(self, text: str, *, split: bool = True) -> list[str]:
        """Words of ``text``: Latin runs and digit runs whole, the rest by jieba (with
        ``split``, a general word the catalog does not know is split into known words)."""
        out: list[str] = []
        for chunk in text.split(" "):
            for run in _LATIN_RUN.findall(chunk):
                if run[0].isascii():
                    out.append(run)
                else:
                    for w in self.tokenizer.cut(run, HMM=False):
                        if w.strip():
                            out.extend(self.split_compound(w) if split else (w,))
        # A number and the character after it that the dictionary knows together
        # (二胎 folds to 2胎, a synonym of 生育) are one word again.
        i = 0
        while i + 1 < len(out):
            if out[i].isdigit() and _CJK.match(out[i + 1]) and (out[i] + out[i + 1][0]) in self.synonyms:
                rest = out[i + 1][1:]
                out[i:i + 2] = [out[i] + out[i + 1][0], *([rest] if rest else [])]
            i += 1
        return out

    def split_compound(self, token: str) -> list[str]:
        """A word of jieba's general dictionary that the catalog does not know (交通违章),
        split into the catalog's or the dictionary's words inside it (交通 + 违章) by forward
        maximum matching; the token itself when nothing of two characters or more is found."""
        if len(token) < 3 or token in self.known or token in self.synonyms or not _CJK.match(token):
            return [token]
        pieces: list[str] = []
        i, found = 0, False
        while i < len(token):
            for j in range(min(len(token), i + 8), i + 1, -1):
                piece = token[i:j]
                if piece in self.known or piece in self.synonyms:
                    pieces.append(piece)
                    found = True
                    i = j
                    break
            else:
                pieces.append(token[i])
                i += 1
        if not found:
            return [token]
        # Characters left between the words stay together (they are read by their sound).
        merged: list[str] = []
        for piece in pieces:
            if len(piece) == 1 and merged and len(merged[-1]) >= 1 and merged[-1] not in self.known \
                    and merged[-1] not in self.synonyms:
                merged[-1] += piece
            else:
                merged.append(piece)
        return merged

    def best_words(self, words: list[str], limit: int = 3) -> list[str]:
        """Dictionary words first, then the catalog's most used."""
        return sorted(dict.fromkeys(words), key=lambda w: (w not in self.synonyms, -self.doc_freq.get(w, 0), w))[:limit]

    # -------------------------------------------------------------- pinyin

    def read_latin(self, run: str, *, at_end: bool) -> list[list[str]] | None:
        """Catalog words spelt by a Latin run, left to right, each as its candidates (the
        catalog's most used first): full pinyin
        (exact or near), pinyin initials (gjj), or — at the end of a query being typed —
        the start of a word's pinyin. None when the run spells nothing the catalog has."""
        n = len(run)
        if n < 2:
            return None
        # best[i] = (score, words) covering run[:i]; a letter left over costs 1.
        best: list[tuple[float, list[list[str]]] | None] = [None] * (n + 1)
        best[0] = (0.0, [])
        for i in range(n):
            if best[i] is None:
                continue
            score, words = best[i]
            skip = (score - 1.0, words)
            if best[i + 1] is None or best[i + 1][0] < skip[0]:
                best[i + 1] = skip
            for j in range(i + 2, min(n, i + 36) + 1):
                piece = run[i:j]
                found = None
                if piece in self.by_pinyin:
                    found = (self.best_words(self.by_pinyin[piece]), 1.0 * len(piece))
                elif (fz := fuzzy(piece)) in self.by_fuzzy:
                    found = (self.best_words(self.by_fuzzy[fz]), 0.9 * len(piece))
                elif j - i <= 8 and piece in self.by_initials:
                    found = (self.best_words(self.by_initials[piece]), 0.8 * len(piece))
                if found is None:
                    continue
                cand = (score + found[1], words + [found[0]])
                if best[j] is None or best[j][0] < cand[0]:
                    best[j] = cand
        score, words = best[n]
        if at_end and (not words or score < 0.6 * n) and n >= 3:
            prefix = self._pinyin_prefix(run)
            if prefix:
                return [[prefix]]
        if not words or score < 0.5 * n:
            return None
        return words

    def _pinyin_prefix(self, run: str) -> str | None:
        import bisect

        key = fuzzy(run)
        i = bisect.bisect_left(self.fuzzy_sorted, (key, ""))
        candidates = []
        while i < len(self.fuzzy_sorted) and self.fuzzy_sorted[i][0].startswith(key) and len(candidates) < 50:
            candidates.append(self.fuzzy_sorted[i][1])
            i += 1
        return self.best_words(candidates, 1)[0] if candidates else None

    def read_homophones(self, text: str) -> list[tuple[str, str, int, int]]:
        """Catalog words that characters of ``text`` sound like: (word, how, start, end)
        for spans of 2–8 characters whose tone-less pinyin is that of a catalog word (or
        near it, or one syllable off for words of 3 or more), the word itself excluded."""
        sy = syllables(text)
        if len(sy) != len(text):
            return []
        out = []
        n = len(text)
        i = 0
        while i < n:
            found = None
            for j in range(min(n, i + 8), i + 1, -1):
                piece = text[i:j]
                if piece in self.known:
                    continue  # a word the catalog has was meant as typed
                full = "".join(sy[i:j])
                for table, key, how in ((self.by_pinyin, full, "corrected"), (self.by_fuzzy, fuzzy(full), "near")):
                    words = [w for w in table.get(key, ()) if w != piece]
                    if words:
                        found = (self.best_words(words, 1)[0], how, i, j)
                        break
                if found is None and j - i >= 4:
                    fz = [fuzzy(s) for s in sy[i:j]]
                    for k in range(len(fz)):
                        words = [w for w in self.by_edit.get("'".join(fz[:k] + ["*"] + fz[k + 1:]), ()) if w != piece]
                        if words:
                            found = (self.best_words(words, 1)[0], "near", i, j)
                            break
                if found:
                    break
            if found:
                out.append(found)
                i = found[3]
            else:
                i += 1
        return out

    # -------------------------------------------------------------- the whole pipeline

    def parse(self, raw: str, *, use_dictionary: bool = True) -> ParsedQuery:
        text = fold(raw)
        pq = ParsedQuery(raw=raw, normalized=text)
        if not text:
            return pq
        if text.isascii() and text.isalpha():
            pq.latin = text
        spaced = self.strip_padding(fold_keep_spaces(raw))
        if use_dictionary:
            spaced = self.apply_corrections(spaced, pq.notes, pq.rewritten)
            for spoken, standard in self.dialect:
                if spoken in spaced:
                    spaced = spaced.replace(spoken, f" {standard} ")
                    pq.notes.append(f"{spoken}→{standard}")
                    pq.rewritten[standard] = "dialect"
        tokens = self.segment(spaced)
        content = [t for t in tokens if t not in self.padding_words]
        tokens = content or tokens
        words = self._read(tokens, pq)
        if use_dictionary:
            for word in words:
                self._expand(word)
        pq.words = words
        return pq

    def _read(self, tokens: list[str], pq: ParsedQuery) -> list[Word]:
        """Words with their literal, pinyin and homophone readings."""
        words: list[Word] = []
        i = 0
        last = len(tokens) - 1
        while i < len(tokens):
            token = tokens[i]
            if token.isascii() and token.isalpha():
                j = i
                while j < len(tokens) and tokens[j].isascii() and tokens[j].isalpha():
                    j += 1
                run = "".join(tokens[i:j])  # yidijiuyi bei an: one run of pinyin
                read = self.read_latin(run, at_end=j > last)
                if read:
                    pq.latin_read = True
                    pq.notes.append(f"{run}→{''.join(c[0] for c in read)}")
                    for candidates in read:
                        alts = [Alternative((w,), PINYIN * (1.0 if k == 0 else 0.6), "pinyin", w)
                                for k, w in enumerate(candidates)]
                        words.append(Word(run, alts))
                else:
                    words.append(Word(run, [Alternative((run,), EXACT, "exact", run)]))
                i = j
                continue
            if token in self.known or token in self.synonyms or not _CJK.match(token):
                # A lone character among other words says little (快 in 快到期了): weak.
                weak = token in WEAK_WORDS or (len(token) == 1 and len(tokens) > 1 and token not in self.synonyms)
                how = pq.rewritten.get(token, "exact")
                weight = {"dialect": DIALECT, "corrected": CORRECTED}.get(how, EXACT)
                words.append(Word(token, [Alternative((token,), weight, how, token)], weak=weak))
                i += 1
                continue
            # A run of words the catalog does not know: read it by its sound, taking in a
            # known neighbour when the run is a single character (身份正 → 身份证).
            j = i
            while j < len(tokens) and tokens[j] not in self.known and tokens[j] not in self.synonyms \
                    and _CJK.match(tokens[j]):
                j += 1
            start = i
            if j - i == 1 and len(tokens[i]) == 1 and words and words[-1].text in self.known and not words[-1].weak \
                    and len(words[-1].alternatives) == 1:
                start = i - 1
                words.pop()
            span = "".join(tokens[start:j])
            found = self.read_homophones(span)
            pos = 0
            for word, how, a, b in found:
                if a > pos:
                    words.extend(self._unknown(span[pos:a]))
                original = span[a:b]
                weight = CORRECTED if how == "corrected" else NEAR
                alts = [Alternative((word,), weight, "corrected", word)]
                if original in self.known:
                    alts.insert(0, Alternative((original,), EXACT, "exact", original))
                else:
                    pq.notes.append(f"{original}→{word}")
                words.append(Word(original, alts))
                pos = b
            if pos < len(span):
                words.extend(self._unknown(span[pos:]))
            i = j
        return words

    def _unknown(self, text: str) -> list[Word]:
        """Words for text the catalog does not know: each jieba word, matched on its own
        characters in item names as a last resort (补办 still finds 补领 a little)."""
        out = []
        for token in self.tokenizer.cut(text, HMM=False):
            if token in self.padding_words:
                continue
            weak = token in WEAK_WORDS or (len(token) == 1 and len(text) > 1)
            alts = [Alternative((token,), EXACT, "exact", token)]
            chars = tuple(dict.fromkeys(ch for ch in token if _CJK.match(ch)))
            if chars and not weak:
                alts.append(Alternative(tuple("#" + ch for ch in chars), 0.5, "exact", token))
            out.append(Word(token, alts, weak=weak))
        return out

    def _expand(self, word: Word) -> None:
        """Add the dictionary's expansions of every reading of ``word``."""
        for alt in list(word.alternatives):
            if len(alt.terms) != 1:
                continue
            for expansion in self.synonyms.get(alt.terms[0], ()):
                terms = tuple(t for t in self.segment(expansion, split=False) if t not in WEAK_WORDS) or (expansion,)
                if expansion in self.known:
                    terms = (expansion,)
                word.alternatives.append(Alternative(terms, alt.weight * SYNONYM, "synonym", expansion))


def fold_keep_spaces(text: str) -> str:
    """:func:`fold` applied to each space-separated part, the parts kept apart by one space
    (so that ``yidijiuyi bei an`` stays three runs until pinyin is read)."""
    parts = [fold(p) for p in re.split(r"[\s\u3000]+", unicodedata.normalize("NFKC", text))]
    return " ".join(p for p in parts if p)
