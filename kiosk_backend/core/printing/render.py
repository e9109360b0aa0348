"""Pagination and rasterising: blocks on a paper -> page images, PNG and PDF."""

from __future__ import annotations

import io
from collections.abc import Sequence

from PIL import Image, ImageDraw

from .blocks import Block
from .layout import _Composer, _Strip
from .paper import A4, THERMAL_80MM, WHITE, Paper

__all__ = ["PAGE_GAP_GREY", "PAGE_GAP_PX", "render_pages", "render_pdf", "render_png"]

# Between stacked pages in a multi-page PNG preview; visibly not paper.
PAGE_GAP_GREY = 160
PAGE_GAP_PX = 24


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
    # No anti-aliasing: see the output contract in the package docstring.
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
