"""Life events (一件事): situations residents describe, and the catalog items they bring up.

Pure: no Flask, no database. The shipped events are ``data/life_events.json`` (the State
Council's 「高效办成一件事」 key items that could be verified, each with its source, and
events residents commonly describe); admins add more through ``life_event_services``.

An event has *triggers* (how residents say it: 添了宝宝, 准备买车, 老人去世) and *patterns*
(substrings of item NAMES, ``A+B`` meaning the name holds both), so it works on any
imported catalog, not on our task codes. A trigger with spaces (``自己 交社保``) matches
when each of its runs occurs in the query, in any order.

:class:`LifeEventIndex` resolves every pattern once, when the search index is built: one
regular-expression scan per distinct pattern (its first part; the others are checked in the
names it found) over the distinct names joined by a separator (see ``LifeEventIndex``). Matching a query is then a handful of
substring checks per event.
"""
from __future__ import annotations

import json
import re
from bisect import bisect_right
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from itertools import repeat
from pathlib import Path

from .pinyin import normalize

SHIPPED_LIFE_EVENTS = Path(__file__).resolve().parent / "data" / "life_events.json"

MAX_MATCHES = 2
# Joins the names for scanning; normalize() keeps only [0-9a-z] and CJK, so it never
# occurs inside a name and a pattern can never match across two names.
_SEP = "\n"
# Characters too common in questions to say that a query is close to an event.
_COMMON_CHARS = frozenset("的了吗呢啊吧我你他她要想去在是有和与及办理怎么么样什哪里个一这那请问下")


@dataclass(frozen=True)
class LifeEvent:
    key: str
    name: str
    triggers: tuple[str, ...]
    patterns: tuple[str, ...]
    source: str
    batch: str = ""


def _as_event(record: dict, where: str) -> LifeEvent:
    """One event of the JSON file; raises ValueError naming ``where`` if malformed."""
    try:
        key, name, source = record["key"], record["name"], record["source"]
        triggers, patterns = record["triggers"], record["patterns"]
    except (KeyError, TypeError) as exc:
        raise ValueError(f"{where}: missing field {exc}") from None
    batch = record.get("batch", "")
    texts = [key, name, source, batch, *triggers, *patterns] if isinstance(triggers, list) and isinstance(patterns, list) else []
    if not texts or not all(isinstance(t, str) for t in texts):
        raise ValueError(f"{where}: key, name, source, batch are text; triggers and patterns lists of text")
    if not (key.isascii() and key.strip() and name.strip() and triggers and patterns):
        raise ValueError(f"{where}: needs an ASCII key, a name and at least one trigger and one pattern")
    if not all(trigger_runs(t) for t in triggers) or not all(pattern_parts(p) for p in patterns):
        raise ValueError(f"{where}: a trigger or pattern is empty once normalised")
    return LifeEvent(key=key, name=name, triggers=tuple(triggers), patterns=tuple(patterns), source=source, batch=batch)


def load_shipped(path: Path | str | None = None) -> list[LifeEvent]:
    """The life events of ``data/life_events.json`` (or ``path``), in file order.

    Raises ValueError if the file is malformed or two events share a key.
    """
    with open(path or SHIPPED_LIFE_EVENTS, encoding="utf-8") as fh:
        document = json.load(fh)
    records = document.get("events") if isinstance(document, dict) else None
    if not isinstance(records, list):
        raise ValueError("life events file: expected {\"events\": [...]}")
    events = [_as_event(record, f"event {i}") for i, record in enumerate(records)]
    keys = [e.key for e in events]
    if len(set(keys)) != len(keys):
        raise ValueError("life events file: duplicate keys")
    return events


def trigger_runs(trigger: str) -> tuple[str, ...]:
    """The runs of a trigger, folded as queries are (numbers too: 生二胎 → 生2胎):
    ``"自己 交社保"`` → ``("自己", "交社保")``."""
    from .query import fold

    return tuple(run for run in (fold(part) for part in trigger.split()) if run)


def pattern_parts(pattern: str) -> tuple[str, ...]:
    """The normalised parts of a pattern: ``"出生医学证明+签发"`` → ``("出生医学证明", "签发")``.
    Empty if any part is empty once normalised."""
    parts = tuple(normalize(part) for part in pattern.split("+"))
    return parts if all(parts) else ()


def _bigrams(text: str) -> set[str]:
    """Two-character sequences of ``text``, none across a separator."""
    return {gram for gram in (text[i:i + 2] for i in range(len(text) - 1)) if _SEP not in gram}


class LifeEventIndex:
    """Life events resolved against one catalog's item names.

    ``names[i]`` is the normalised name of entry position ``i``. Events none of whose
    patterns match any name are dropped (``events`` holds the others, in the given order).
    """

    def __init__(self, events: Sequence[LifeEvent], names: Sequence[str]):
        # Scan each distinct name once (large catalogs repeat names across districts).
        where: dict[str, list[int]] = {}
        for position, name in enumerate(names):
            where.setdefault(name, []).append(position)
        unique = list(where)
        starts: list[int] = []
        offset = 0
        for name in unique:
            starts.append(offset)
            offset += len(name) + 1
        joined = _SEP.join(unique)
        found: dict[str, list[int]] = {}

        def names_with(part: str) -> list[int]:
            """Indexes into ``unique`` of the names holding ``part``, ascending."""
            if part not in found:
                offsets = [m.start() for m in re.finditer(re.escape(part), joined)]
                found[part] = sorted({i - 1 for i in map(bisect_right, repeat(starts, len(offsets)), offsets)})
            return found[part]

        def positions(parts: tuple[str, ...]) -> set[int]:
            # The first part by scanning, the others checked in the few names it found.
            hits = [u for u in names_with(parts[0]) if all(p in unique[u] for p in parts[1:])]
            return {position for u in hits for position in where[unique[u]]}

        self.events: list[LifeEvent] = []
        self._items: dict[str, list[int]] = {}
        self._triggers: dict[str, list[tuple[str, ...]]] = {}
        self._words: dict[str, tuple[set[str], set[str]]] = {}
        for event in events:
            items: list[int] = []
            seen: set[int] = set()
            for pattern in event.patterns:
                parts = pattern_parts(pattern)
                if not parts:
                    continue
                hits = positions(parts)
                for position in sorted(hits - seen):
                    items.append(position)
                    seen.add(position)
            if not items:
                continue
            self.events.append(event)
            self._items[event.key] = items
            runs = [trigger_runs(t) for t in (event.name, *event.triggers)]
            self._triggers[event.key] = [r for r in runs if r]
            vocabulary = _SEP.join([*(run for r in runs for run in r),
                                    *(part for p in event.patterns for part in pattern_parts(p))])
            self._words[event.key] = (_bigrams(vocabulary), set(vocabulary) - _COMMON_CHARS - {_SEP})

    def items_of(self, key: str) -> list[int]:
        """Entry positions of event ``key``'s items (pattern order, then position); [] if unknown."""
        return list(self._items.get(key, ()))

    def match(self, normalized_query: str, tokens: Iterable[str]) -> list[tuple[LifeEvent, list[int], float]]:
        """Events a trigger (or the event's name) of which occurs in the query, best first, at most 2.

        A trigger occurs when it is a substring of ``normalized_query`` or of the tokens
        joined (tokens may hold standard words mapped from dialect); a trigger of several
        runs when each run does. The score is the length of the longest trigger found
        (the most specific), plus a tenth for each further trigger found.
        """
        tokens = [t for t in tokens if t]
        texts = (normalized_query, "".join(tokens))
        found: list[tuple[float, int, LifeEvent]] = []
        for order, event in enumerate(self.events):
            lengths = [sum(map(len, runs)) for runs in self._triggers[event.key]
                       if all(any(run in text for text in texts) for run in runs)]
            if lengths:
                found.append((max(lengths) + 0.1 * (len(lengths) - 1), order, event))
        found.sort(key=lambda f: (-f[0], f[1]))
        return [(event, self.items_of(event.key), score) for score, _, event in found[:MAX_MATCHES]]

    def nearest(self, normalized_query: str, tokens: Iterable[str], limit: int = 3) -> list[LifeEvent]:
        """Events closest to a query that matched nothing, for the empty screen (may be []).

        Closeness: two-character sequences of the query (and of its tokens) found in the
        event's name, triggers and patterns count 1 each; other shared characters, common
        question characters aside, a quarter each. An event needs at least one shared
        two-character sequence or four shared characters.
        """
        text = normalized_query + _SEP + _SEP.join(t for t in tokens if t)
        grams, chars = _bigrams(text), set(text) - _COMMON_CHARS - {_SEP}
        scored: list[tuple[float, int, LifeEvent]] = []
        for order, event in enumerate(self.events):
            event_grams, event_chars = self._words[event.key]
            score = len(grams & event_grams) + 0.25 * len(chars & event_chars)
            if score >= 1:
                scored.append((score, order, event))
        scored.sort(key=lambda s: (-s[0], s[1]))
        return [event for _, _, event in scored[:limit]]
