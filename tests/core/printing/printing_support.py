"""Sample texts and ways to inspect rendered pages, shared by the printing tests."""

import io
import re

from PIL import Image, ImageOps

from kiosk_backend.core.printing import A4, Block, typeface

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


def rule_rows(page: Image.Image, paper) -> list[int]:
    """Rows where a full-width horizontal rule is drawn."""
    xs = [paper.margin_px + i * (paper.content_width_px - 1) // 8 for i in range(9)]
    return [y for y in range(page.height) if all(page.getpixel((x, y)) == 0 for x in xs)]
