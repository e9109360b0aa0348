import io
import re
from pathlib import Path

import pytest
import qrcode
import qrcode.constants
from PIL import Image, ImageChops, ImageDraw, ImageOps

from kiosk_backend.core import printing
from kiosk_backend.core.printing import (
    A4,
    PAGE_GAP_GREY,
    PAGE_GAP_PX,
    PAPERS,
    THERMAL_80MM,
    Block,
    qr_image,
    render_pages,
    render_pdf,
    render_png,
    typeface,
    wrap_text,
)

CLOSING_PUNCTUATION = "，。、；：？！）」》』】"
OPENING_PUNCTUATION = "（「《『【"
GUIDE_URL = "https://zwfw.example.gov.cn/guide/sfz-huanling?id=0042&lang=zh"
PARAGRAPH = (
    "申请人应当如实填写申请表，并对所提交材料的真实性、有效性负责。"
    "材料齐全、符合法定形式的，窗口当场受理；材料不全的，一次性告知需要补正的全部内容。"
    "咨询电话 010-12345678，工作时间 09:00-17:00（法定节假日除外）。"
)


def open_png(data: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(data))
    image.load()
    return image


def ink_box(image: Image.Image) -> tuple[int, int, int, int] | None:
    """Bounding box of everything that is not white."""
    return ImageOps.invert(image.convert("L")).getbbox()


def receipt(paragraphs: int) -> list[Block]:
    return [Block("title", "政务服务中心"), *[Block("text", PARAGRAPH)] * paragraphs]


def guide_of(characters: int) -> list[Block]:
    text = (PARAGRAPH * (characters // len(PARAGRAPH) + 1))[:characters]
    return [
        Block("title", "居民身份证换领办事指南"),
        Block("heading", "办理须知"),
        *[Block("text", text[i : i + 200]) for i in range(0, characters, 200)],
    ]


def a4_footer_top() -> int:
    """Where the page-number footer starts; content stays above it."""
    footer_face = typeface(round(A4.base_font_px * 0.8))
    return A4.page_height_px - A4.margin_px - footer_face.line_height


def pdf_page_count(pdf: bytes) -> int:
    return len(re.findall(rb"/Type\s*/Page\b(?!s)", pdf))


# -- paper and image geometry -------------------------------------------------


def test_papers_are_registered_by_name():
    assert PAPERS == {"thermal80": THERMAL_80MM, "a4": A4}


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


def rule_rows(page: Image.Image, paper) -> list[int]:
    """Rows where a full-width horizontal rule is drawn."""
    xs = [paper.margin_px + i * (paper.content_width_px - 1) // 8 for i in range(9)]
    return [y for y in range(page.height) if all(page.getpixel((x, y)) == 0 for x in xs)]


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


# -- text layout ---------------------------------------------------------------


@pytest.mark.parametrize("paper", [THERMAL_80MM, A4], ids=lambda paper: paper.name)
def test_cjk_text_never_reaches_past_the_right_margin(paper):
    blocks = [
        Block("title", "北京市朝阳区政务服务中心居民身份证换领办事指南（二〇二四年版）"),
        Block("heading", "办理须知：" + PARAGRAPH),
        Block("text", PARAGRAPH * 3),
        Block("kv", PARAGRAPH, label="办理地点"),
        Block("bullet", PARAGRAPH),
        Block("check", PARAGRAPH),
        Block("small", PARAGRAPH),
    ]
    for page in render_pages(blocks, paper):
        left, _, right, _ = ink_box(page)

        assert right <= paper.width_px - paper.margin_px
        assert left >= paper.margin_px


@pytest.mark.parametrize("kind", ["bullet", "check"])
def test_list_items_hang_their_continuation_lines_under_the_text(kind):
    image = render_pages([Block(kind, PARAGRAPH)])[0]
    face = typeface(THERMAL_80MM.base_font_px)
    margin = THERMAL_80MM.margin_px
    first_line = image.crop((0, margin, image.width, margin + face.line_height))
    later_lines = image.crop((0, margin + face.line_height, image.width, image.height))

    marker_left = ink_box(first_line)[0]
    text_left = ink_box(later_lines)[0]

    assert marker_left < margin + face.size // 2
    assert text_left >= margin + face.size


def test_checklist_item_has_an_empty_box_to_tick():
    image = render_pages([Block("check", "户口簿")])[0]
    face = typeface(THERMAL_80MM.base_font_px)
    margin = THERMAL_80MM.margin_px
    box_area = image.crop((0, margin, margin + face.size, margin + face.line_height))
    left, top, right, bottom = ink_box(box_area)

    assert right - left == pytest.approx(bottom - top, abs=1)
    assert right - left >= face.size // 2
    assert box_area.getpixel(((left + right) // 2, (top + bottom) // 2)) == 255


def test_key_value_continuation_lines_hang_under_the_value():
    image = render_pages([Block("kv", PARAGRAPH, label="办理窗口")])[0]
    face = typeface(THERMAL_80MM.base_font_px)
    margin = THERMAL_80MM.margin_px
    later_lines = image.crop((0, margin + face.line_height, image.width, image.height))

    assert ink_box(later_lines)[0] >= margin + face.getlength("办理窗口：") - 2


def test_wrap_text_never_starts_a_line_with_closing_punctuation():
    face = typeface(26)
    ten_ideographs = 10 * face.getlength("一")
    for mark in CLOSING_PUNCTUATION:
        # A greedy breaker would put the mark first on line two.
        lines = wrap_text("一二三四五六七八九十" + mark + "十一十二", face, ten_ideographs)

        assert len(lines) == 2
        assert not lines[1].startswith(mark), mark
        assert all(face.getlength(line) <= ten_ideographs for line in lines)


def test_wrap_text_never_ends_a_line_with_opening_punctuation():
    face = typeface(26)
    ten_ideographs = 10 * face.getlength("一")
    for mark in OPENING_PUNCTUATION:
        lines = wrap_text("一二三四五六七八九" + mark + "十" + "十一", face, ten_ideographs)

        assert not lines[0].endswith(mark), mark


def test_wrap_text_keeps_kinsoku_at_every_width():
    face = typeface(26)
    for width in range(120, 560, 7):
        lines = wrap_text(PARAGRAPH * 2, face, width)

        assert "".join(lines).replace(" ", "") == (PARAGRAPH * 2).replace(" ", "")
        for line in lines:
            assert face.getlength(line) <= width
            assert line and line[0] not in CLOSING_PUNCTUATION, (width, lines)
            assert line[-1] not in OPENING_PUNCTUATION, (width, lines)


def test_wrap_text_keeps_numbers_and_english_words_whole():
    face = typeface(26)
    text = "请拨打 010-12345678 咨询，或访问 www.gov.cn 查询进度 progress online"
    for width in range(260, 560, 10):
        lines = wrap_text(text, face, width)

        for word in ("010-12345678", "www.gov.cn", "progress", "online"):
            assert any(word in line for line in lines), (width, lines)


def test_wrap_text_breaks_between_any_two_ideographs():
    face = typeface(26)

    lines = wrap_text("一二三四五六七", face, 3 * face.getlength("一"))

    assert lines == ["一二三", "四五六", "七"]


def test_wrap_text_cuts_a_run_only_when_it_alone_is_wider_than_a_line():
    face = typeface(26)
    width = 200

    lines = wrap_text("见 " + GUIDE_URL, face, width)

    assert lines[0] == "见"
    assert "".join(lines[1:]) == GUIDE_URL
    assert all(face.getlength(line) <= width for line in lines)


def test_wrap_text_keeps_hard_line_breaks_and_blank_lines():
    face = typeface(26)

    assert wrap_text("第一行\n\n第三行", face, 500) == ["第一行", "", "第三行"]
    assert wrap_text("", face, 500) == [""]


def test_wrap_text_uses_first_line_width_for_the_first_line_only():
    face = typeface(26)
    em = face.getlength("一")

    lines = wrap_text("一二三四五六七八九十", face, 4 * em, first_line_width=2 * em)

    assert lines == ["一二", "三四五六", "七八九十"]


def test_wrap_text_accepts_a_plain_pillow_font():
    font = printing._font(printing.CJK_FONT_PATH, 20)

    assert wrap_text("一二三四", font, 2 * font.getlength("一")) == ["一二", "三四"]


def test_wrap_text_rejects_a_width_that_fits_nothing():
    with pytest.raises(ValueError):
        wrap_text("一", typeface(26), 0)


# -- glyphs ---------------------------------------------------------------------


def draw_text(text: str, size: int = 40) -> Image.Image:
    image = Image.new("L", (size * (len(text) + 2), size * 2), 255)
    draw = ImageDraw.Draw(image)
    draw.fontmode = "1"
    typeface(size).draw(draw, size // 2, size * 3 // 2, text)
    return image


def test_chinese_glyphs_render_instead_of_tofu():
    tofu = draw_text("\U0010fffd" * 3)
    word = draw_text("身份证")

    assert ink_box(word) is not None
    assert ImageChops.difference(word, tofu).getbbox() is not None
    # Missing glyphs all draw the same box; real ones differ from each other.
    assert len({draw_text(char).tobytes() for char in "身份证"}) == 3


def test_digits_and_latin_letters_render_instead_of_tofu():
    # Droid Sans Fallback has no ASCII glyphs at all; this guards the fallback.
    assert len({draw_text(char).tobytes() for char in "0123456789AZaz"}) == 14


def test_bold_text_has_more_ink_than_regular_text():
    regular = render_pages([Block("text", "需要携带的材料")])[0]
    bold = render_pages([Block("kv", "", label="需要携带的材料")])[0]

    def ink(image: Image.Image) -> int:
        return image.histogram()[0]

    assert ink(bold) > ink(regular) * 1.2


def test_bundled_fonts_are_found_next_to_the_module():
    fonts = Path(printing.__file__).resolve().parent / "fonts"

    assert printing.CJK_FONT_PATH == fonts / "DroidSansFallbackFull.ttf"
    assert printing.CJK_FONT_PATH.is_file()
    assert printing.LATIN_FONT_PATH.is_file()
    assert (fonts / "LICENSE").is_file()


# -- QR codes ------------------------------------------------------------------


@pytest.mark.parametrize("size", [200, 231, 577])
def test_qr_image_has_exactly_the_requested_size(size):
    image = qr_image(GUIDE_URL, size)

    assert image.size == (size, size)
    assert image.mode == "L"


def test_qr_image_encodes_the_payload_module_for_module():
    reference = qrcode.QRCode(error_correction=qrcode.constants.ERROR_CORRECT_M, border=4)
    reference.add_data(GUIDE_URL)
    reference.make(fit=True)
    matrix = reference.get_matrix()
    scale = 5

    image = qr_image(GUIDE_URL, len(matrix) * scale)

    centres = [i * scale + scale // 2 for i in range(len(matrix))]
    sampled = [[image.getpixel((x, y)) == 0 for x in centres] for y in centres]
    assert sampled == matrix


def test_qr_image_refuses_a_size_too_small_for_one_pixel_per_module():
    with pytest.raises(ValueError):
        qr_image(GUIDE_URL, 20)


@pytest.mark.parametrize(
    ("paper", "share"), [(THERMAL_80MM, 0.40), (A4, 0.25)], ids=["thermal80", "a4"]
)
def test_qr_block_is_a_centred_code_of_the_nominal_width(paper, share):
    reference = qrcode.QRCode(error_correction=qrcode.constants.ERROR_CORRECT_M, border=4)
    reference.add_data(GUIDE_URL)
    reference.make(fit=True)
    modules = len(reference.get_matrix())

    image = render_pages([Block("qr", payload=GUIDE_URL)], paper)[0]
    left, _, right, _ = ink_box(image)
    module_px = (right - left) / (modules - 8)
    code_width = module_px * modules

    assert module_px == int(module_px)
    assert (left + right) / 2 == pytest.approx(paper.width_px / 2, abs=module_px)
    assert code_width / paper.width_px == pytest.approx(share, abs=0.05)


def test_qr_caption_is_printed_under_the_code():
    bare = render_pages([Block("qr", payload=GUIDE_URL)])[0]
    captioned = render_pages([Block("qr", payload=GUIDE_URL, text="扫码查看办事指南")])[0]
    code_bottom = ink_box(bare)[3]

    assert ink_box(captioned.crop((0, code_bottom, captioned.width, captioned.height))) is not None


# -- contract --------------------------------------------------------------------


@pytest.mark.parametrize(
    "block",
    [
        {"kind": "paragraph", "text": "x"},
        {"kind": "kv", "text": "A0042"},
        {"kind": "qr", "text": "扫码"},
    ],
    ids=["unknown kind", "kv without label", "qr without payload"],
)
def test_block_rejects_what_it_cannot_render(block):
    with pytest.raises(ValueError):
        Block(**block)


def test_block_rejects_a_missing_value_instead_of_failing_mid_render():
    with pytest.raises(TypeError):
        Block("kv", None, label="实施主体")


@pytest.mark.parametrize("paper", [THERMAL_80MM, A4], ids=lambda paper: paper.name)
def test_a_2000_character_guide_renders_to_png_and_pdf(paper):
    # Speed is measured by benchmarks, not asserted here; this checks long guides render.
    blocks = guide_of(2000)
    assert render_png(blocks, paper).startswith(b"\x89PNG")
    assert render_pdf(blocks, paper).startswith(b"%PDF")
