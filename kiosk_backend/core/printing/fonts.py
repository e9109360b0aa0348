"""The bundled fonts and :class:`Typeface`, which combines them at one pixel size.

The font files live in ``kiosk_backend/core/fonts/`` (see its ``README.md``).
CJK comes from Droid Sans Fallback and everything else from DejaVu Sans,
because Droid Sans Fallback has no ASCII letters or digits.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterator
from functools import cache, lru_cache
from pathlib import Path
from typing import Protocol

from PIL import ImageDraw, ImageFont

from .paper import BLACK

__all__ = ["CJK_FONT_PATH", "FONT_DIR", "LATIN_FONT_PATH", "TextMeasure", "Typeface", "typeface"]

# kiosk_backend/core/fonts/, next to this package; the wheel carries it as
# package data (pyproject.toml), see fonts/README.md.
FONT_DIR = Path(__file__).resolve().parent.parent / "fonts"
CJK_FONT_PATH = FONT_DIR / "DroidSansFallbackFull.ttf"
LATIN_FONT_PATH = FONT_DIR / "DejaVuSans.ttf"


class TextMeasure(Protocol):
    """Anything that can measure the advance width of a string in pixels.

    Both ``PIL.ImageFont.FreeTypeFont`` and :class:`Typeface` qualify.
    """

    def getlength(self, text: str) -> float: ...


@cache
def _font(path: Path, size: int) -> ImageFont.FreeTypeFont:
    # BASIC layout: CJK and Latin need no shaping, and it keeps the widths we
    # measure identical to the widths we draw whether or not libraqm exists.
    # Sharing one instance between request threads is fine: Pillow
    # serialises rendering per font object.
    return ImageFont.truetype(str(path), size, layout_engine=ImageFont.Layout.BASIC)


# Codepoint in Supplementary Private Use Area-B; no bundled font maps it, so
# it renders as the font's .notdef glyph.
_UNMAPPED = "\U0010fffd"


@lru_cache(maxsize=8192)
def _latin_font_has(char: str) -> bool:
    # Pillow exposes no cmap lookup, so compare against the .notdef glyph.
    probe = _font(LATIN_FONT_PATH, 32)

    def fingerprint(text: str) -> tuple[object, ...]:
        mask = probe.getmask(text)
        return probe.getlength(text), mask.size, bytes(mask)

    return fingerprint(char) != fingerprint(_UNMAPPED)


def _is_wide(char: str) -> bool:
    return unicodedata.east_asian_width(char) in ("W", "F")


class Typeface:
    """The bundled CJK and Latin fonts combined, at one pixel size.

    Wide (CJK) characters come from Droid Sans Fallback. Everything else
    comes from DejaVu Sans if it has the glyph, otherwise from Droid Sans
    Fallback. Get instances from :func:`typeface`, which caches them.
    """

    def __init__(self, size: int) -> None:
        self.size = size
        self.cjk = _font(CJK_FONT_PATH, size)
        self.latin = _font(LATIN_FONT_PATH, size)
        ascents, descents = zip(self.cjk.getmetrics(), self.latin.getmetrics())
        self.ascent = max(ascents)
        self.descent = max(descents)
        # 1.5 lines is the usual leading for Chinese body text; anything
        # tighter makes dense ideographs hard to read on a receipt.
        self.line_height = max(round(size * 1.5), self.ascent + self.descent)
        # Offset from the baseline to the middle of an ideograph, used to
        # centre bullets and checkboxes on the first line of text.
        _, top, _, bottom = self.cjk.getbbox("中", anchor="ls")
        self.ideograph_middle = (top + bottom) / 2
        # Droid Sans Fallback comes in one weight, so bold is faked by
        # overstriking; this is how many pixels wider and taller it gets.
        self.bold_px = max(1, round(size / 24))
        self._lengths: dict[str, float] = {}

    def __repr__(self) -> str:
        return f"Typeface(size={self.size})"

    def runs(self, text: str) -> Iterator[tuple[ImageFont.FreeTypeFont, str]]:
        """Split ``text`` into maximal runs that use the same font."""
        start = 0
        current: ImageFont.FreeTypeFont | None = None
        for index, char in enumerate(text):
            font = self.cjk if _is_wide(char) or not _latin_font_has(char) else self.latin
            if font is not current:
                if current is not None:
                    yield current, text[start:index]
                current, start = font, index
        if current is not None:
            yield current, text[start:]

    def getlength(self, text: str) -> float:
        """Advance width of ``text`` in pixels, as drawn by :meth:`draw`."""
        length = self._lengths.get(text)
        if length is None:
            length = sum(font.getlength(run) for font, run in self.runs(text))
            # Wrapping asks about the same words and ideographs over and over;
            # bound the cache so arbitrary input cannot grow it forever.
            if len(self._lengths) < 65536:
                self._lengths[text] = length
        return length

    def draw(
        self,
        draw: ImageDraw.ImageDraw,
        x: float,
        baseline: float,
        text: str,
        *,
        bold: bool = False,
    ) -> None:
        """Draw ``text`` in black with its left edge at ``x`` on ``baseline``.

        Bold ink extends ``bold_px`` further right and down than regular.
        """
        # Not stroke_width: FreeType's stroker anti-aliases even when the draw
        # handle is in 1-bit font mode, and grey edges dither badly on a
        # thermal head. Overstriking shifted copies keeps every pixel black
        # or white and keeps the counters of dense ideographs open.
        weight = self.bold_px if bold else 0
        offsets = [(dx, dy) for dx in range(weight + 1) for dy in range(weight + 1)]
        for font, run in self.runs(text):
            for dx, dy in offsets:
                draw.text((x + dx, baseline + dy), run, font=font, fill=BLACK, anchor="ls")
            x += font.getlength(run)


@cache
def typeface(size: int) -> Typeface:
    """The shared :class:`Typeface` for ``size`` pixels."""
    return Typeface(size)
