"""Fonts: the bundled files are found and every glyph we print is a real one, not tofu."""

from pathlib import Path

from PIL import Image, ImageChops, ImageDraw

import kiosk_backend.core
from kiosk_backend.core.printing import fonts, typeface

from .printing_support import ink_box


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


def test_bundled_fonts_are_found_in_core_fonts():
    bundled = Path(kiosk_backend.core.__file__).resolve().parent / "fonts"

    assert fonts.FONT_DIR == bundled
    assert fonts.CJK_FONT_PATH == bundled / "DroidSansFallbackFull.ttf"
    assert fonts.CJK_FONT_PATH.is_file()
    assert fonts.LATIN_FONT_PATH.is_file()
    assert (bundled / "LICENSE").is_file()
