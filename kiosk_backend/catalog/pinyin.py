"""Pinyin keys and query normalisation for Chinese search (pure, no database)."""
from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

from opencc import OpenCC
from pypinyin import Style, lazy_pinyin

_t2s = OpenCC("t2s")
# CJK unified ideographs with extension A and B–G: OpenCC maps some extension-A characters to
# extension C (㑮 → U+2B748), and rare characters of names and places live there too.
_KEEP = re.compile(r"[0-9a-z\u3400-\u4dbf\u4e00-\u9fff\U00020000-\U0003134f]+")
_CJK = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\U00020000-\U0003134f]")
_ALNUM = re.compile(r"[^0-9a-z]")


def pinyin_keys(text: str) -> tuple[str, str]:
    """(full pinyin, initials) of ``text``'s Chinese characters, lower-case, no separators.

    ``居民身份证申领`` → ``("jumingshenfenzhengshenling", "jmsfzsl")``. Digits and Latin
    letters are kept as they are; punctuation is dropped.
    """
    # One conversion: initials are the first letters of the syllables (non-Chinese text
    # arrives one character per element, so it is kept as it is).
    syllables = [s for s in lazy_pinyin(text, style=Style.NORMAL, errors=lambda s: list(s)) if s]
    full = "".join(syllables)
    initials = "".join(s[0] for s in syllables)
    return (_ALNUM.sub("", full.lower()), _ALNUM.sub("", initials.lower()))


@lru_cache(maxsize=4096)
def normalize(text: str) -> str:
    """What searching compares: NFKC (full-width → half-width), lower case, traditional →
    simplified, whitespace and punctuation removed."""
    text = unicodedata.normalize("NFKC", text).lower()
    if _CJK.search(text):
        text = _t2s.convert(text)
    return "".join(_KEEP.findall(text))


