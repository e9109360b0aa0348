"""Rendering: image geometry, pure black and white, pagination, PNG and PDF output."""

import re

import pytest

from kiosk_backend.core.printing import (
    A4,
    PAGE_GAP_GREY,
    PAGE_GAP_PX,
    THERMAL_80MM,
    Block,
    render_pages,
    render_pdf,
    render_png,
    typeface,
)

from .printing_support import (
    GUIDE_URL,
    PARAGRAPH,
    a4_footer_top,
    guide_of,
    ink_box,
    open_png,
    pdf_page_count,
    receipt,
    rule_rows,
)

# -- image geometry -----------------------------------------------------------


def test_thermal_receipt_png_is_exactly_576_pixels_wide():
    image = open_png(render_png(receipt(3)))

    assert image.width == 576


def test_thermal_receipt_grows_taller_as_content_is_added():
    short = open_png(render_png(receipt(1)))
    long = open_png(render_png(receipt(4)))

    assert long.height > short.height + 3 * typeface(THERMAL_80MM.base_font_px).line_height


def test_roll_image_is_exactly_as_tall_as_its_content_plus_margins():
    image = open_png(render_png([Block("text", "第一行\n第二行\n第三行")]))
    line_height = typeface(THERMAL_80MM.base_font_px).line_height
    margin = THERMAL_80MM.margin_px

    assert image.height == 2 * margin + 3 * line_height
    _, top, _, bottom = ink_box(image)
    assert margin <= top < margin + line_height
    assert image.height - line_height - margin < bottom <= image.height - margin


def test_renders_only_pure_black_and_white_pixels_for_the_printer():
    blocks = [
        *receipt(1),
        Block("heading", "需要携带的材料"),
        Block("check", "户口簿"),
        Block("kv", "A0042", label="排队号"),
        Block("qr", payload=GUIDE_URL, text="扫码查看"),
    ]
    for paper in (THERMAL_80MM, A4):
        for page in render_pages(blocks, paper):
            assert page.mode == "L"
            assert set(page.histogram()[1:255]) == {0}, paper.name


# -- pagination ----------------------------------------------------------------


def test_short_a4_document_is_a_single_full_size_page():
    pages = render_pages(receipt(1), A4)
    png = open_png(render_png(receipt(1), A4))

    assert [page.size for page in pages] == [(1654, 2339)]
    assert png.size == (1654, 2339)


def test_long_a4_guide_pdf_has_one_pdf_page_per_rendered_page():
    blocks = receipt(40)

    pages = render_pages(blocks, A4)
    pdf = render_pdf(blocks, A4)

    assert len(pages) >= 3
    assert pdf_page_count(pdf) == len(pages)
    assert pdf_page_count(render_pdf(receipt(1), A4)) == 1


def test_pdf_pages_are_a4_sized_and_stored_losslessly():
    pdf = render_pdf(receipt(2), A4)

    width, height = map(float, re.search(rb"/MediaBox\s*\[\s*0 0 ([\d.]+) ([\d.]+)", pdf).groups())
    assert width == pytest.approx(595.3, abs=1)
    assert height == pytest.approx(841.9, abs=1)
    # JPEG would smear the text.
    assert b"DCTDecode" not in pdf


def test_every_a4_page_has_its_own_page_number_footer():
    pages = render_pages(receipt(40), A4)
    footer_top = a4_footer_top()
    footers = [page.crop((0, footer_top, A4.width_px, A4.page_height_px)) for page in pages]

    assert all(ink_box(footer) is not None for footer in footers)
    assert len({footer.tobytes() for footer in footers}) == len(pages)


def test_long_paragraph_is_split_across_pages_line_by_line():
    # Shorter than a page, longer than what the fillers leave of page 1.
    paragraph = PARAGRAPH * 8
    fillers = [Block("text", f"第{n}项") for n in range(20)]
    pages = render_pages([*fillers, Block("text", paragraph)], A4)
    line_height = typeface(A4.base_font_px).line_height
    footer_top = a4_footer_top()
    first_page_body = pages[0].crop((0, 0, A4.width_px, footer_top))

    assert len(pages) == 2
    # Had the paragraph moved to page 2 as a whole, page 1 would be half empty.
    assert ink_box(first_page_body)[3] > footer_top - 3 * line_height


def test_heading_is_never_left_alone_at_the_bottom_of_a_page():
    # Sweep the filler length so that for some count the heading would land
    # at the foot of page 1 if it were not kept with what follows it.
    footer_top = a4_footer_top()
    for filler in range(26, 36):
        blocks = [
            *[Block("text", f"第{n}项") for n in range(filler)],
            Block("heading", "需要携带的材料"),
            Block("text", "居民身份证原件"),
        ]
        pages = render_pages(blocks, A4)
        for page in pages:
            rules = rule_rows(page, A4)
            if rules:
                below_rule = page.crop((0, rules[-1] + 1, page.width, footer_top))
                assert ink_box(below_rule) is not None, f"orphaned heading after {filler} lines"


def test_multi_page_png_stacks_the_pages_with_a_grey_gap():
    blocks = receipt(40)
    count = len(render_pages(blocks, A4))

    image = open_png(render_png(blocks, A4))

    assert image.size == (1654, count * 2339 + (count - 1) * PAGE_GAP_PX)
    assert image.getpixel((800, 2339 + PAGE_GAP_PX // 2)) == PAGE_GAP_GREY


# -- long documents -----------------------------------------------------------


@pytest.mark.parametrize("paper", [THERMAL_80MM, A4], ids=lambda paper: paper.name)
def test_a_2000_character_guide_renders_to_png_and_pdf(paper):
    # Speed is measured by benchmarks, not asserted here; this checks long guides render.
    blocks = guide_of(2000)
    assert render_png(blocks, paper).startswith(b"\x89PNG")
    assert render_pdf(blocks, paper).startswith(b"%PDF")
