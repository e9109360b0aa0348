"""Layout of each block kind on the page: margins, hanging indents, boxes, bold, QR blocks."""

import pytest
import qrcode
import qrcode.constants
from PIL import Image

from kiosk_backend.core.printing import A4, THERMAL_80MM, Block, render_pages, typeface

from .printing_support import GUIDE_URL, PARAGRAPH, ink_box


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


def test_bold_text_has_more_ink_than_regular_text():
    regular = render_pages([Block("text", "需要携带的材料")])[0]
    bold = render_pages([Block("kv", "", label="需要携带的材料")])[0]

    def ink(image: Image.Image) -> int:
        return image.histogram()[0]

    assert ink(bold) > ink(regular) * 1.2


# -- QR blocks -----------------------------------------------------------------


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
