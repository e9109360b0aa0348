"""Line breaking for mixed Chinese and Latin text (kinsoku included)."""

from __future__ import annotations

from collections.abc import Callable

from .fonts import TextMeasure, _is_wide

__all__ = ["wrap_text"]

# Kinsoku (避头尾): these may not begin a line...
_NO_LINE_START = frozenset(
    "，。、；：？！）」』》〉】〕〗〙〛｝］”’…‥·・々〜～ー%‰℃°,.;:?!)]}"
    "\uff0e\uff05"  # full-width full stop and percent sign
)
# ...and these may not end one.
_NO_LINE_END = frozenset("（「『《〈【〔〖〘〚｛［“‘([{")

_BREAKING_SPACE = " "


def _units(line: str) -> list[str]:
    """Split one hard line into the smallest pieces a line may break between.

    A piece is a run of spaces, a single wide (CJK) character, or a run of
    other characters (an English word, a number, a URL). Kinsoku punctuation
    is then glued to its neighbour so that no break can separate them.
    """
    raw: list[str] = []
    word_start: int | None = None
    for index, char in enumerate(line):
        is_space = char == _BREAKING_SPACE
        if is_space or _is_wide(char):
            if word_start is not None:
                raw.append(line[word_start:index])
                word_start = None
            if is_space and raw and raw[-1].startswith(_BREAKING_SPACE):
                raw[-1] += char
            else:
                raw.append(char)
        elif word_start is None:
            word_start = index
    if word_start is not None:
        raw.append(line[word_start:])

    units: list[str] = []
    for piece in raw:
        previous = units[-1] if units else None
        if previous is None or piece.startswith(_BREAKING_SPACE):
            units.append(piece)
        elif piece[0] in _NO_LINE_START:
            if not previous.startswith(_BREAKING_SPACE):
                units[-1] += piece
            elif len(units) > 1:
                # "中文 ，" must not break at the space either.
                units.pop()
                units[-1] += previous + piece
            else:
                units.append(piece)
        elif not previous.startswith(_BREAKING_SPACE) and previous[-1] in _NO_LINE_END:
            units[-1] += piece
        else:
            units.append(piece)
    return units


def _cut(unit: str, length: Callable[[str], float], room: float) -> tuple[str, str]:
    """Split ``unit`` so the head fits in ``room``; the head is never empty.

    The cut moves left rather than separate kinsoku punctuation from its
    neighbour ("010-12345678，" is cut before the "8", not before the "，").
    """
    width = 0.0
    for index, char in enumerate(unit):
        width += length(char)
        if width > room:
            while index > 1 and (unit[index] in _NO_LINE_START or unit[index - 1] in _NO_LINE_END):
                index -= 1
            index = max(index, 1)
            return unit[:index], unit[index:]
    return unit, ""


def wrap_text(
    text: str,
    font: TextMeasure,
    max_width: float,
    *,
    first_line_width: float | None = None,
) -> list[str]:
    """Break ``text`` into lines no wider than ``max_width`` pixels.

    Widths come from ``font.getlength``. Rules:

    * ``"\\n"`` forces a break. Each hard line gives at least one output
      line, so ``""`` gives ``[""]`` and ``"a\\n\\nb"`` keeps its blank line.
    * A line may break between any two CJK characters and at spaces. Spaces
      at a break are dropped.
    * A run of non-CJK, non-space characters (an English word, a number, a
      URL) is kept whole unless it alone is wider than a line; only then is
      it cut where it must be.
    * Kinsoku: closing punctuation such as ，。、；：）」》 never starts a line
      and opening punctuation such as （「《 never ends one; they move
      together with the neighbouring character. Even a run that has to be
      cut keeps to this, unless a line is too narrow for a single character
      and its punctuation.

    ``first_line_width``, if given, replaces ``max_width`` for the very
    first line (the room left beside a label). If the first word does not
    fit there but would fit on a full line, the first line is left empty.
    """
    if max_width <= 0 or (first_line_width is not None and first_line_width <= 0):
        raise ValueError("line width must be positive")
    widths: dict[str, float] = {}

    def length(piece: str) -> float:
        width = widths.get(piece)
        if width is None:
            width = widths[piece] = font.getlength(piece)
        return width

    text = text.replace("\r\n", "\n").replace("\r", "\n").replace("\t", _BREAKING_SPACE)
    lines: list[str] = []
    limit = max_width if first_line_width is None else first_line_width
    for hard_line in text.split("\n"):
        line, line_width, gap = "", 0.0, ""
        for unit in _units(hard_line):
            if unit.startswith(_BREAKING_SPACE):
                gap = unit if line else ""
                continue
            unit_width = length(unit)
            while True:
                gap_width = length(gap) if gap else 0.0
                if line_width + gap_width + unit_width <= limit:
                    line += gap + unit
                    line_width += gap_width + unit_width
                    gap = ""
                    break
                if line or (limit < max_width and unit_width <= max_width):
                    # Also when a narrow first line cannot take the first
                    # word: leaving it empty beats cutting the word.
                    lines.append(line)
                    limit = max_width
                    line, line_width, gap = "", 0.0, ""
                    continue
                head, unit = _cut(unit, length, limit)
                lines.append(head)
                limit = max_width
                if not unit:
                    break
                unit_width = length(unit)
        lines.append(line)
        limit = max_width
    return lines
