"""Render printouts (receipts, queue tickets, guides, checklists) to PNG and PDF.

This package knows nothing about government services. A caller describes a
printout as an ordered sequence of :class:`Block` objects and picks a
:class:`Paper`; this package handles fonts, line breaking, pagination and
rasterising. Everything a caller needs is importable from here.

Modules, lower first:

* ``paper``: :class:`Paper`, the papers we print on, and the two pixel values.
* ``blocks``: :class:`Block`, what a printout is made of.
* ``fonts``: the bundled fonts and :class:`Typeface`.
* ``wrap``: :func:`wrap_text`, line breaking with kinsoku.
* ``qr``: :func:`qr_image`.
* ``layout``: blocks -> strips (private).
* ``render``: pagination and rasterising: :func:`render_pages`,
  :func:`render_png`, :func:`render_pdf`.

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

Fonts are bundled in ``kiosk_backend/core/fonts/`` (see its ``README.md``).
CJK comes from Droid Sans Fallback and everything else from DejaVu Sans,
because Droid Sans Fallback has no ASCII letters or digits.
"""

from __future__ import annotations

from .blocks import BLOCK_KINDS, Block
from .fonts import CJK_FONT_PATH, FONT_DIR, LATIN_FONT_PATH, TextMeasure, Typeface, typeface
from .paper import A4, BLACK, PAPERS, THERMAL_80MM, WHITE, Paper
from .qr import MIN_QR_MODULE_MM, QR_QUIET_ZONE_MODULES, qr_image
from .render import PAGE_GAP_GREY, PAGE_GAP_PX, render_pages, render_pdf, render_png
from .wrap import wrap_text

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
    # constants the single module used to offer
    "BLACK",
    "WHITE",
    "CJK_FONT_PATH",
    "FONT_DIR",
    "LATIN_FONT_PATH",
    "MIN_QR_MODULE_MM",
    "QR_QUIET_ZONE_MODULES",
    "PAGE_GAP_GREY",
    "PAGE_GAP_PX",
]

