"""Layout: blocks -> strips, the full-width slices that pages are built from."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial

from PIL import Image, ImageDraw

from .blocks import Block
from .code128 import CODE128_QUIET_ZONE_MODULES, code128_image, code128_modules
from .fonts import Typeface, typeface
from .paper import BLACK, Paper
from .qr import MIN_QR_MODULE_MM, _qr_modules, qr_image
from .wrap import wrap_text

# Code 128 modules of 0.33 mm (the nearest whole pixel above) where the symbol fits: hand
# scanners read that from thermal paper at arm's length. A 12-character number fits the
# 80 mm roll at 2 dots (0.25 mm), still well inside what they read.
PREFERRED_BARCODE_MODULE_MM = 0.33
BARCODE_HEIGHT_MM = 12

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
            "barcode": self._barcode,
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

    def _barcode(self, block: Block) -> list[_Strip]:
        paper = self.paper
        count = len(code128_modules(block.payload)) + 2 * CODE128_QUIET_ZONE_MODULES
        preferred = math.ceil(PREFERRED_BARCODE_MODULE_MM / 25.4 * paper.dpi)
        # The widest whole-pixel module that fits, preferred size at most. A symbol too
        # long for the minimum still prints narrower (the caption carries the number in
        # clear); one too long for one pixel a module cannot print at all.
        module_px = min(preferred, self.width // count)
        if module_px < 1:
            raise ValueError(f"a barcode of this payload needs at least {count} px, the paper has {self.width}")
        height = round(BARCODE_HEIGHT_MM / 25.4 * paper.dpi)
        image = code128_image(block.payload, module_px=module_px, height_px=height)

        def paint(page: Image.Image, draw: ImageDraw.ImageDraw, top: int) -> None:
            page.paste(image, (self.left + (self.width - image.width) // 2, top))

        caption = self._lines(block.text, self.body, centred=True) if block.text else []
        code = _Strip(
            height=height,
            paint=paint,
            space_before=round(self.body.size * 0.4),
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
