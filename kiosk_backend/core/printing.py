"""Render printouts (receipts, queue tickets, guides, checklists) to PNG and PDF.

This module knows nothing about government services. A caller describes a
printout as an ordered sequence of :class:`Block` objects and picks a
:class:`Paper`; this module handles fonts, line breaking, pagination and
rasterising.

Output contract, for every paper:

* Images are mode ``"L"`` and contain only pure black (0) and pure white
  (255) pixels. Text is drawn without anti-aliasing, so a thermal head or a
  1-bit printer driver prints exactly what we drew, with no grey fringe to
  dither. The only exception is the grey gap between stacked pages in
  :func:`render_png`; that is a preview aid and is never sent to a printer
  as a page.
* Roll paper (``page_height_px is None``) gives one image, exactly as tall
  as the content plus the top and bottom margin.
* Paged paper gives one image per page, each ``page_height_px`` tall, with
  a "第 N 页 / 共 M 页" footer.

Fonts are bundled in ``fonts/`` next to this file (see ``fonts/README.md``).
CJK comes from Droid Sans Fallback and everything else from DejaVu Sans,
because Droid Sans Fallback has no ASCII letters or digits.
"""

from __future__ import annotations

import io
import math
import unicodedata
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from functools import lru_cache, partial
from pathlib import Path
from typing import Protocol

import qrcode
import qrcode.constants
from PIL import Image, ImageDraw, ImageFont

__all__ = [
    "A4",
    "BLOCK_KINDS",
    "PAPERS",
    "THERMAL_80MM",
    "Block",
    "Paper",
    "TextMeasure",
    "Typeface",
    "qr_image",
    "render_pages",
    "render_pdf",
    "render_png",
    "typeface",
    "wrap_text",
]

FONT_DIR = Path(__file__).resolve().with_name("fonts")
CJK_FONT_PATH = FONT_DIR / "DroidSansFallbackFull.ttf"
LATIN_FONT_PATH = FONT_DIR / "DejaVuSans.ttf"

BLACK = 0
WHITE = 255
# Between stacked pages in a multi-page PNG preview; visibly not paper.
PAGE_GAP_GREY = 160
PAGE_GAP_PX = 24

QR_QUIET_ZONE_MODULES = 4
# Phone cameras struggle below ~0.33 mm per module on thermal paper, so a
# payload too long for the nominal QR width gets a larger code, not a finer one.
MIN_QR_MODULE_MM = 0.33


# --------------------------------------------------------------------------
# Paper and blocks
# --------------------------------------------------------------------------


@dataclass(frozen=True)
class Paper:
    """A print medium, measured in device pixels.

    ``width_px`` is the full image width; content is inset by ``margin_px``
    on all four sides. ``page_height_px`` is ``None`` for a continuous roll.
    ``qr_width_ratio`` is the nominal QR code width as a fraction of
    ``width_px``.
    """

    name: str
    width_px: int
    dpi: int
    margin_px: int
    page_height_px: int | None
    base_font_px: int
    qr_width_ratio: float = 0.4

    @property
    def is_paged(self) -> bool:
        return self.page_height_px is not None

    @property
    def content_width_px(self) -> int:
        return self.width_px - 2 * self.margin_px


# The head of an 80 mm printer covers 72 mm: 576 dots at 203 dpi. The whole
# image is the printable area, so the margin only keeps ink off the edge dots.
THERMAL_80MM = Paper(
    name="thermal80",
    width_px=576,
    dpi=203,
    margin_px=12,
    page_height_px=None,
    base_font_px=26,
    qr_width_ratio=0.40,
)

# 210 x 297 mm at 200 dpi. The 15 mm margin is outside the unprintable edge
# of every office laser printer we have seen.
A4 = Paper(
    name="a4",
    width_px=1654,
    dpi=200,
    margin_px=118,
    page_height_px=2339,
    base_font_px=34,
    qr_width_ratio=0.25,
)

PAPERS: dict[str, Paper] = {paper.name: paper for paper in (THERMAL_80MM, A4)}

BLOCK_KINDS = frozenset(
    {"title", "heading", "text", "bullet", "check", "kv", "qr", "rule", "small"}
)


@dataclass(frozen=True)
class Block:
    """One piece of a printout; a printout is a sequence of these, in order.

    ``kind`` is one of:

    * ``"title"``: large, bold, centred.
    * ``"heading"``: bold, with a rule underneath; kept on the same page as
      the start of whatever follows it.
    * ``"text"``: a paragraph. ``"\\n"`` in ``text`` forces a line break.
    * ``"bullet"``: a paragraph with a bullet and a hanging indent.
    * ``"check"``: like bullet but with an empty square to tick by hand
      (materials checklists).
    * ``"kv"``: ``label：text``, label bold. The value wraps under itself.
    * ``"qr"``: a QR code of ``payload`` centred, with ``text`` as an
      optional caption underneath.
    * ``"rule"``: a horizontal line.
    * ``"small"``: fine print, e.g. footers and disclaimers.

    Raises ``ValueError`` for an unknown kind, a ``kv`` without a label or a
    ``qr`` without a payload, and ``TypeError`` if a field is not a string
    (a ``None`` from a missing database column fails here, not mid-render).
    """

    kind: str
    text: str = ""
    label: str = ""
    payload: str = ""

    def __post_init__(self) -> None:
        for field in ("text", "label", "payload"):
            value = getattr(self, field)
            if not isinstance(value, str):
                raise TypeError(f"Block.{field} must be a str, not {type(value).__name__}")
        if self.kind not in BLOCK_KINDS:
            raise ValueError(
                f"unknown block kind {self.kind!r}; expected one of {sorted(BLOCK_KINDS)}"
            )
        if self.kind == "kv" and not self.label:
            raise ValueError("a 'kv' block needs a label")
        if self.kind == "qr" and not self.payload:
            raise ValueError("a 'qr' block needs a payload")


# --------------------------------------------------------------------------
# Fonts
# --------------------------------------------------------------------------


class TextMeasure(Protocol):
    """Anything that can measure the advance width of a string in pixels.

    Both ``PIL.ImageFont.FreeTypeFont`` and :class:`Typeface` qualify.
    """

    def getlength(self, text: str) -> float: ...


@lru_cache(maxsize=None)
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


@lru_cache(maxsize=None)
def typeface(size: int) -> Typeface:
    """The shared :class:`Typeface` for ``size`` pixels."""
    return Typeface(size)


# --------------------------------------------------------------------------
# Line breaking
# --------------------------------------------------------------------------

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


# --------------------------------------------------------------------------
# QR codes
# --------------------------------------------------------------------------


@lru_cache(maxsize=64)
def _qr_modules(payload: str) -> tuple[tuple[bool, ...], ...]:
    """The module matrix for ``payload``, quiet zone included, dark = True."""
    code = qrcode.QRCode(
        error_correction=qrcode.constants.ERROR_CORRECT_M,
        border=QR_QUIET_ZONE_MODULES,
    )
    code.add_data(payload)
    code.make(fit=True)
    return tuple(tuple(row) for row in code.get_matrix())


def qr_image(payload: str, size: int) -> Image.Image:
    """A ``size`` x ``size`` mode ``"L"`` QR code of ``payload``.

    Error correction level M, at least a 4-module quiet zone. Every module is
    a whole number of pixels (scaling by fractions blurs module edges), so if
    ``size`` is not a multiple of the module count the code is centred and
    the quiet zone grows by the remainder. Raises ``ValueError`` if ``size``
    is too small for one pixel per module.
    """
    modules = _qr_modules(payload)
    count = len(modules)
    scale = size // count
    if scale < 1:
        raise ValueError(f"a QR code of this payload needs at least {count} px, got {size}")
    code = Image.new("L", (count, count))
    code.putdata([BLACK if dark else WHITE for row in modules for dark in row])
    code = code.resize((count * scale, count * scale), Image.Resampling.NEAREST)
    canvas = Image.new("L", (size, size), WHITE)
    offset = (size - count * scale) // 2
    canvas.paste(code, (offset, offset))
    return canvas


# --------------------------------------------------------------------------
# Layout: blocks -> strips
# --------------------------------------------------------------------------

_Paint = Callable[[Image.Image, ImageDraw.ImageDraw, int], None]
"""Draws a strip onto a page given the page's image, draw handle and the
strip's top edge in page coordinates."""


@dataclass(frozen=True)
class _Strip:
    """A full-width horizontal slice of output that never splits across pages.

    ``space_before`` is dropped when the strip lands at the top of a page.
    ``keep_with_next`` asks the paginator to put this strip on the same page
    as the one after it (headings with their first line, a QR code with its
    caption).
    """

    height: int
    paint: _Paint
    space_before: int = 0
    keep_with_next: bool = False


class _Composer:
    """Turns blocks into strips for one paper."""

    def __init__(self, paper: Paper) -> None:
        self.paper = paper
        self.left = paper.margin_px
        self.width = paper.content_width_px
        base = paper.base_font_px
        self.body = typeface(base)
        self.title_face = typeface(round(base * 1.5))
        self.heading_face = typeface(round(base * 1.2))
        self.small_face = typeface(round(base * 0.8))
        # ~0.25 mm: the thinnest line a thermal head prints as solid.
        self.rule_px = max(2, round(paper.dpi / 100))

    def strips(self, blocks: Sequence[Block]) -> list[_Strip]:
        layout: dict[str, Callable[[Block], list[_Strip]]] = {
            "title": self._title,
            "heading": self._heading,
            "text": self._text,
            "bullet": self._bullet,
            "check": self._check,
            "kv": self._kv,
            "qr": self._qr,
            "rule": self._rule,
            "small": self._small,
        }
        strips: list[_Strip] = []
        for block in blocks:
            strips.extend(layout[block.kind](block))
        return strips

    # -- building blocks ----------------------------------------------------

    def _lines(
        self,
        text: str,
        face: Typeface,
        *,
        indent: int = 0,
        first_indent: int | None = None,
        bold: bool = False,
        centred: bool = False,
        space_before: int = 0,
        keep_together: bool = False,
        first_line_extra: _Paint | None = None,
    ) -> list[_Strip]:
        """One strip per wrapped line of ``text``.

        Lines after the first start ``indent`` px into the content area, the
        first line ``first_indent`` px (default: ``indent``).
        ``first_line_extra`` paints additional marks on the first line
        (bullet, checkbox, label).
        """
        if first_indent is None:
            first_indent = indent
        # Bold ink reaches past the measured advance on the right.
        slack = face.bold_px if bold else 0
        lines = wrap_text(
            text,
            face,
            self.width - indent - slack,
            first_line_width=self.width - first_indent - slack,
        )
        strips = []
        for number, line in enumerate(lines):
            x = self.left + (first_indent if number == 0 else indent)
            if centred:
                x = self.left + (self.width - face.getlength(line)) / 2
            paint = partial(self._paint_line, face, x, line, bold)
            if number == 0 and first_line_extra is not None:
                paint = _painting(first_line_extra, paint)
            strips.append(
                _Strip(
                    height=face.line_height,
                    paint=paint,
                    space_before=space_before if number == 0 else 0,
                    keep_with_next=keep_together,
                )
            )
        return strips

    @staticmethod
    def _baseline(face: Typeface, top: int) -> int:
        return top + (face.line_height - face.ascent - face.descent) // 2 + face.ascent

    def _paint_line(
        self,
        face: Typeface,
        x: float,
        line: str,
        bold: bool,
        image: Image.Image,
        draw: ImageDraw.ImageDraw,
        top: int,
    ) -> None:
        face.draw(draw, x, self._baseline(face, top), line, bold=bold)

    def _rule_strip(self, padding: int, *, keep_with_next: bool = False) -> _Strip:
        def paint(image: Image.Image, draw: ImageDraw.ImageDraw, top: int) -> None:
            y = top + padding
            draw.rectangle(
                (self.left, y, self.left + self.width - 1, y + self.rule_px - 1), fill=BLACK
            )

        return _Strip(
            height=2 * padding + self.rule_px, paint=paint, keep_with_next=keep_with_next
        )

    # -- one method per block kind -------------------------------------------

    def _title(self, block: Block) -> list[_Strip]:
        return self._lines(
            block.text,
            self.title_face,
            bold=True,
            centred=True,
            space_before=self.body.size,
            keep_together=True,
        )

    def _heading(self, block: Block) -> list[_Strip]:
        lines = self._lines(
            block.text,
            self.heading_face,
            bold=True,
            space_before=round(self.body.size * 0.9),
            keep_together=True,
        )
        return [*lines, self._rule_strip(round(self.body.size * 0.15), keep_with_next=True)]

    def _text(self, block: Block) -> list[_Strip]:
        return self._lines(block.text, self.body, space_before=round(self.body.size * 0.4))

    def _small(self, block: Block) -> list[_Strip]:
        return self._lines(
            block.text, self.small_face, space_before=round(self.body.size * 0.3)
        )

    def _bullet(self, block: Block) -> list[_Strip]:
        face = self.body
        indent = round(face.size * 1.2)
        radius = max(2, round(face.size * 0.13))

        def dot(image: Image.Image, draw: ImageDraw.ImageDraw, top: int) -> None:
            cx = self.left + indent * 0.4
            cy = self._baseline(face, top) + face.ideograph_middle
            draw.ellipse((cx - radius, cy - radius, cx + radius, cy + radius), fill=BLACK)

        return self._lines(
            block.text,
            face,
            indent=indent,
            space_before=round(face.size * 0.2),
            first_line_extra=dot,
        )

    def _check(self, block: Block) -> list[_Strip]:
        # Drawn rather than using ☐: neither bundled font has that glyph, and a
        # drawn box has a predictable size for a pen tick.
        face = self.body
        side = round(face.size * 0.8)
        outline = max(2, face.size // 13)
        indent = side + round(face.size * 0.5)

        def box(image: Image.Image, draw: ImageDraw.ImageDraw, top: int) -> None:
            y = round(self._baseline(face, top) + face.ideograph_middle - side / 2)
            draw.rectangle(
                (self.left, y, self.left + side - 1, y + side - 1), outline=BLACK, width=outline
            )

        return self._lines(
            block.text,
            face,
            indent=indent,
            space_before=round(face.size * 0.3),
            first_line_extra=box,
        )

    def _kv(self, block: Block) -> list[_Strip]:
        face = self.body
        label = block.label.rstrip(":：") + "："
        label_width = math.ceil(face.getlength(label)) + face.bold_px
        space_before = round(face.size * 0.2)
        if label_width > self.width * 0.6:
            # A label that long leaves no room for the value beside it: give
            # the label its own line(s) and indent the value underneath.
            label_lines = self._lines(
                label, face, bold=True, space_before=space_before, keep_together=True
            )
            if not block.text:
                return label_lines
            return [*label_lines, *self._lines(block.text, face, indent=face.size)]

        def paint_label(image: Image.Image, draw: ImageDraw.ImageDraw, top: int) -> None:
            face.draw(draw, self.left, self._baseline(face, top), label, bold=True)

        # Continuation lines hang under the value, unless the label is so
        # wide that the value column would be uncomfortably narrow.
        indent = label_width if label_width <= self.width * 0.4 else 2 * face.size
        return self._lines(
            block.text,
            face,
            indent=indent,
            first_indent=label_width,
            space_before=space_before,
            first_line_extra=paint_label,
        )

    def _qr(self, block: Block) -> list[_Strip]:
        paper = self.paper
        count = len(_qr_modules(block.payload))
        min_module_px = math.ceil(MIN_QR_MODULE_MM / 25.4 * paper.dpi)
        size = max(round(paper.width_px * paper.qr_width_ratio), count * min_module_px)
        size = min(size, self.width)
        # Whole pixels per module, and no padding beyond the 4-module quiet
        # zone, which already separates the code from neighbouring blocks.
        size = max(size // count, 1) * count
        image = qr_image(block.payload, size)

        def paint(page: Image.Image, draw: ImageDraw.ImageDraw, top: int) -> None:
            page.paste(image, (self.left + (self.width - size) // 2, top))

        caption = self._lines(block.text, self.body, centred=True) if block.text else []
        code = _Strip(
            height=size,
            paint=paint,
            space_before=round(self.body.size * 0.3),
            keep_with_next=bool(caption),
        )
        return [code, *caption]

    def _rule(self, block: Block) -> list[_Strip]:
        return [self._rule_strip(round(self.body.size * 0.5))]


def _painting(*paints: _Paint) -> _Paint:
    def paint(image: Image.Image, draw: ImageDraw.ImageDraw, top: int) -> None:
        for each in paints:
            each(image, draw, top)

    return paint


# --------------------------------------------------------------------------
# Pagination and rasterising
# --------------------------------------------------------------------------

_Placed = tuple[int, _Strip]  # (top within the content area, strip)


def _stack(strips: Sequence[_Strip]) -> tuple[list[_Placed], int]:
    """Place strips one under another; return placements and total height."""
    placed: list[_Placed] = []
    y = 0
    for strip in strips:
        if placed:
            y += strip.space_before
        placed.append((y, strip))
        y += strip.height
    return placed, y


def _extent(group: Sequence[_Strip], *, at_top: bool) -> int:
    height = sum(strip.height + strip.space_before for strip in group)
    return height - group[0].space_before if at_top else height


def _paginate(strips: Sequence[_Strip], page_height: int) -> list[list[_Placed]]:
    """Distribute strips over pages of ``page_height`` content pixels.

    Strips linked by ``keep_with_next`` move to a new page together when
    they do not fit in what is left of the current one. A group taller
    than a whole page is broken between strips instead; a single strip
    taller than a page overflows its page (it is clipped).
    """
    pages: list[list[_Placed]] = [[]]
    y = 0
    start = 0
    while start < len(strips):
        end = start
        while end + 1 < len(strips) and strips[end].keep_with_next:
            end += 1
        group = strips[start : end + 1]
        if (
            pages[-1]
            and y + _extent(group, at_top=False) > page_height
            and _extent(group, at_top=True) <= page_height
        ):
            pages.append([])
            y = 0
        for strip in group:
            gap = strip.space_before if pages[-1] else 0
            if pages[-1] and y + gap + strip.height > page_height:
                pages.append([])
                y, gap = 0, 0
            pages[-1].append((y + gap, strip))
            y += gap + strip.height
        start = end + 1
    return pages


def _canvas(width: int, height: int) -> tuple[Image.Image, ImageDraw.ImageDraw]:
    image = Image.new("L", (width, height), WHITE)
    draw = ImageDraw.Draw(image)
    # No anti-aliasing: see the module docstring.
    draw.fontmode = "1"
    return image, draw


def render_pages(blocks: Sequence[Block], paper: Paper = THERMAL_80MM) -> list[Image.Image]:
    """Lay out ``blocks`` on ``paper`` and rasterise them.

    Roll paper: a single image ``paper.width_px`` wide and exactly as tall as
    the content plus top and bottom margins. Paged paper: one image per
    page, each ``paper.width_px`` x ``paper.page_height_px``, with a
    "第 N 页 / 共 M 页" footer. No blocks still gives one (blank) page.
    All images are mode ``"L"``, pure black on white.
    """
    composer = _Composer(paper)
    strips = composer.strips(blocks)
    margin = paper.margin_px

    if paper.page_height_px is None:
        placed, height = _stack(strips)
        image, draw = _canvas(paper.width_px, height + 2 * margin)
        for top, strip in placed:
            strip.paint(image, draw, margin + top)
        return [image]

    footer_face = composer.small_face
    footer_band = footer_face.line_height + composer.body.size // 2
    content_height = paper.page_height_px - 2 * margin - footer_band
    pages = _paginate(strips, content_height)
    images = []
    for number, placed in enumerate(pages, start=1):
        image, draw = _canvas(paper.width_px, paper.page_height_px)
        for top, strip in placed:
            strip.paint(image, draw, margin + top)
        footer = f"第 {number} 页 / 共 {len(pages)} 页"
        footer_top = paper.page_height_px - margin - footer_face.line_height
        x = (paper.width_px - footer_face.getlength(footer)) / 2
        footer_face.draw(draw, x, composer._baseline(footer_face, footer_top), footer)
        images.append(image)
    return images


def render_png(blocks: Sequence[Block], paper: Paper = THERMAL_80MM) -> bytes:
    """Render ``blocks`` to a single PNG.

    Roll paper gives the one long image. Paged paper gives the page itself if
    everything fits on one page; otherwise all pages stacked top to bottom
    with a ``PAGE_GAP_PX`` grey gap between them, which is meant for on-screen
    preview. Use :func:`render_pdf` to print paged output.
    """
    pages = render_pages(blocks, paper)
    if len(pages) == 1:
        image = pages[0]
    else:
        step = pages[0].height + PAGE_GAP_PX
        image = Image.new("L", (paper.width_px, step * len(pages) - PAGE_GAP_PX), PAGE_GAP_GREY)
        for index, page in enumerate(pages):
            image.paste(page, (0, index * step))
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", dpi=(paper.dpi, paper.dpi))
    return buffer.getvalue()


def render_pdf(blocks: Sequence[Block], paper: Paper = A4) -> bytes:
    """Render ``blocks`` to a PDF with one page per rendered page.

    Pages are bitmaps at ``paper.dpi``, so the PDF prints at the physical
    paper size. Roll paper gives a single page as long as the content.
    """
    # Mode "1" makes Pillow store the page losslessly (CCITT G4 when libtiff
    # is available); mode "L" would be stored as JPEG and smear the text. The
    # pages are already pure black and white, so thresholding loses nothing.
    pages = [
        page.convert("1", dither=Image.Dither.NONE) for page in render_pages(blocks, paper)
    ]
    buffer = io.BytesIO()
    pages[0].save(
        buffer,
        format="PDF",
        save_all=True,
        append_images=pages[1:],
        resolution=float(paper.dpi),
    )
    return buffer.getvalue()
