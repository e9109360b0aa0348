"""What the kiosk's on-screen keyboard offers for typing a Chinese address or name (UX.md:
typing is the enemy; the system keyboard is off on a kiosk).

A resident taps the pinyin of one character (``xun``) and then the character among large
candidate buttons (浔, 寻, 巡 …); address words (路, 号, 栋, 单元 …) and digits are keys of
their own. :func:`pinyin_table` is the candidates per syllable, computed once per process
from pypinyin's readings of:

1. the characters of China's division names (sites.divisions: the place names people type
   in addresses), most frequent first, then
2. GB 2312's level-1 characters (the 3,755 in everyday use), in the standard's order.

A character's usual reading puts it first; its other readings (heteronyms) list it after
the characters that are usually read so. Not a full input method: one syllable at a time,
which is enough for a street or a village name, with nothing sent to the server while
typing (the table is loaded once and cached by the browser: it holds no one's data).
"""
from __future__ import annotations

from collections import Counter
from functools import lru_cache

from pypinyin import Style, pinyin

from ..sites import divisions

# Keys of their own on the address keyboard: the words addresses are made of.
ADDRESS_WORDS = ("省", "市", "区", "县", "镇", "乡", "街道", "村", "组", "社区", "路", "街", "巷", "弄", "大道",
                 "号", "栋", "幢", "座", "单元", "楼", "层", "室", "小区", "花园", "苑", "公寓", "大厦",
                 "东", "南", "西", "北", "中", "附")
MAX_CANDIDATES = 60  # per syllable: more is a list nobody reads on a kiosk


def _level1() -> list[str]:
    chars = []
    for high in range(0xB0, 0xD8):
        for low in range(0xA1, 0xFF):
            try:
                chars.append(bytes((high, low)).decode("gb2312"))
            except UnicodeDecodeError:
                continue
    return chars


def _place_characters() -> Counter:
    counts: Counter = Counter()
    stack: list[str | None] = [None]
    while stack:
        for code, name in divisions.children(stack.pop()):
            counts.update(ch for ch in name if "\u4e00" <= ch <= "\u9fff")
            if len(code) < 6:
                stack.append(code)
    return counts


@lru_cache(maxsize=1)
def pinyin_table() -> dict[str, str]:
    """``{"xun": "浔寻巡…", …}``: syllables without tones (ü as v) and their candidates, best first."""
    places = _place_characters()
    order = {ch: i for i, ch in enumerate(_level1())}
    pool = sorted(set(order) | set(places), key=lambda ch: (-places[ch], order.get(ch, len(order)), ch))
    usual: dict[str, list[str]] = {}
    other: dict[str, list[str]] = {}
    for ch in pool:
        readings = [r.replace("ü", "v") for r in pinyin(ch, style=Style.NORMAL, heteronym=True)[0]]
        if not readings or not readings[0].isascii() or not readings[0].isalpha():
            continue  # no reading known
        usual.setdefault(readings[0], []).append(ch)
        for reading in dict.fromkeys(readings[1:]):
            if reading != readings[0]:
                other.setdefault(reading, []).append(ch)
    table = {}
    for syllable in sorted(set(usual) | set(other)):
        merged = list(dict.fromkeys(usual.get(syllable, []) + other.get(syllable, [])))
        table[syllable] = "".join(merged[:MAX_CANDIDATES])
    return table
