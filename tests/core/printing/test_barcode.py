"""Code 128 barcodes (core/printing/code128.py and the "barcode" block): drawn by
python-barcode's ImageWriter with whole-pixel modules, pure black and white, sized to the
paper, and readable: :func:`read_barcodes` decodes a printed image by measuring bars, as a
scanner does (no decoder library is installed; the symbol rules of ISO/IEC 15417 are
written out here, apart from the table of bar patterns, which is checked against the
standard's own values)."""

import itertools
import math

import pytest
from barcode.charsets import code128 as charset
from barcode.codex import Code128
from barcode.writer import ImageWriter

from kiosk_backend.core.printing import A4, THERMAL_80MM, Block, render_pages, render_png
from kiosk_backend.core.printing.code128 import CODE128_QUIET_ZONE_MODULES, code128_image, code128_modules
from kiosk_backend.core.printing.layout import BARCODE_HEIGHT_MM, PREFERRED_BARCODE_MODULE_MM

from .printing_support import ink_box, open_png

# value -> modules ("1" dark), from python-barcode; three checked against ISO/IEC 15417.
PATTERNS = {pattern: value for value, pattern in enumerate(charset.CODES)}
STOP = "1100011101011"  # 2331112
START = {103: "A", 104: "B", 105: "C"}


def test_the_pattern_table_is_the_standards():
    assert charset.CODES[0] == "11011001100"  # value 0: 212222
    assert charset.CODES[104] == "11010010000"  # Start B: 211214
    assert charset.CODES[105] == "11010011100"  # Start C: 211232
    assert charset.STOP + "11" == STOP


def _runs(row: bytes) -> list[tuple[bool, int]]:
    return [(dark, len(list(group))) for dark, group in itertools.groupby(b == 0 for b in row)]


def _bits(runs, module: float) -> str:
    return "".join(("1" if dark else "0") * round(width / module) for dark, width in runs)


def _text(values: list[int]) -> str | None:
    """The data of a symbol's code values (start … check), or None for a wrong checksum."""
    start, *data, check = values
    if start not in START or (start + sum(i * v for i, v in enumerate(data, 1))) % 103 != check:
        return None
    current, out = START[start], []
    for value in data:
        if value == 99 and current != "C":
            current = "C"
        elif value == 100 and current != "B":
            current = "B"
        elif value == 101 and current != "A":
            current = "A"
        elif current == "C":
            out.append(f"{value:02d}")
        elif current == "B":
            out.append(chr(value + 32))
        else:
            out.append(chr(value + 32) if value < 64 else chr(value - 64))
    return "".join(out)


def decode_row(row: bytes) -> list[str]:
    """Every Code 128 symbol across one row of pixels (0 = ink), with its quiet zones."""
    runs, found = _runs(row), []
    for i, (dark, _) in enumerate(runs):
        if not dark or i == 0 or i + 6 > len(runs):
            continue
        module = sum(width for _, width in runs[i:i + 6]) / 11
        if module < 1 or runs[i - 1][1] < CODE128_QUIET_ZONE_MODULES * module - 0.5:
            continue
        values, j = [], i
        while j + 7 <= len(runs) + 1:
            if _bits(runs[j:j + 7], module) == STOP:
                text = _text(values) if len(values) >= 2 else None
                if text is not None:
                    found.append(text)
                break
            value = PATTERNS.get(_bits(runs[j:j + 6], module))
            if value is None:
                break
            values.append(value)
            j += 6
    return found


def read_barcodes(image, step: int = 3) -> set[str]:
    """What a scanner reads from ``image``: the data of every Code 128 symbol on it."""
    image = image.convert("L")
    found: set[str] = set()
    for y in range(0, image.height, step):
        found.update(decode_row(image.crop((0, y, image.width, y + 1)).tobytes()))
    return found


# ---------------------------------------------------------------- the symbol

@pytest.mark.parametrize("payload", ["JX2026A00017", "KB20260311000123", "EA123456789CN", "A", "7",
                                     "lower-case ~ and spaces", "TEST00000001"])
def test_a_symbol_decodes_to_its_payload_and_matches_python_barcodes_modules(payload):
    image = code128_image(payload, module_px=2, height_px=40)
    assert image.mode == "L" and set(image.tobytes()) <= {0, 255}
    modules = code128_modules(payload)
    assert modules == Code128(payload).build()[0]
    assert image.width == (len(modules) + 2 * CODE128_QUIET_ZONE_MODULES) * 2 and image.height == 40
    assert read_barcodes(image, step=7) == {payload}


@pytest.mark.parametrize("module_px", [1, 2, 3, 4])
def test_every_bar_is_a_whole_number_of_modules_at_any_width(module_px):
    image = code128_image("JX2026A00017", module_px=module_px, height_px=10)
    row = image.crop((0, 5, image.width, 6)).tobytes()
    widths = [width for _, width in _runs(row)]
    assert all(width % module_px == 0 for width in widths)
    # Every row is the same row: bars run the full height.
    assert all(image.crop((0, y, image.width, y + 1)).tobytes() == row for y in range(10))


def test_the_drawing_is_python_barcodes_own_image_writer_output():
    """The writer's own rendering at a scale where its float positions are harmless (one
    millimetre per module at 254 dpi: ten pixels) shrinks to ours exactly."""
    writer = ImageWriter(mode="L", dpi=254)
    theirs = Code128("JX2026A00017", writer=writer).render(writer_options={
        "module_width": 1, "module_height": 3, "quiet_zone": 10, "write_text": False,
        "margin_top": 0, "margin_bottom": 0, "foreground": 0, "background": 255})
    ours = code128_image("JX2026A00017", module_px=1, height_px=3)
    # Sample the middle of each of their 10-pixel modules.
    row = theirs.crop((0, 15, theirs.width, 16)).tobytes()
    sampled = bytes(row[x * 10 + 5] for x in range(ours.width))
    assert sampled == ours.crop((0, 1, ours.width, 2)).tobytes()


@pytest.mark.parametrize("payload", ["", "办件编号", "tab\there", "\x00"])
def test_a_barcode_block_refuses_what_code_128_cannot_carry(payload):
    with pytest.raises(ValueError, match="barcode"):
        Block("barcode", "caption", payload=payload)
    with pytest.raises(ValueError):
        code128_image(payload, module_px=2, height_px=10)


# ---------------------------------------------------------------- in a printout

@pytest.mark.parametrize("paper", [THERMAL_80MM, A4], ids=lambda p: p.name)
def test_a_barcode_block_prints_centred_readable_and_with_its_caption(paper):
    blocks = [Block("title", "邮寄材料封面"), Block("barcode", "办件编号 JX2026A00017", payload="JX2026A00017"),
              Block("barcode", "运单号 EA123456789CN", payload="EA123456789CN")]
    [page] = render_pages(blocks, paper)
    assert set(page.tobytes()) <= {0, 255}
    assert read_barcodes(page) == {"JX2026A00017", "EA123456789CN"}
    module = min(math.ceil(PREFERRED_BARCODE_MODULE_MM / 25.4 * paper.dpi),
                 paper.content_width_px // (len(code128_modules("JX2026A00017")) + 20))
    height = round(BARCODE_HEIGHT_MM / 25.4 * paper.dpi)
    # The rows across the first symbol: every one of them reads.
    dark_rows = [y for y in range(page.height) if decode_row(page.crop((0, y, page.width, y + 1)).tobytes())
                 == ["JX2026A00017"]]
    assert len(dark_rows) == height  # exactly the bars' height, every row readable
    row = page.crop((0, dark_rows[0], page.width, dark_rows[0] + 1)).tobytes()
    first, last = row.index(0), len(row) - 1 - row[::-1].index(0)
    symbol = len(code128_modules("JX2026A00017")) * module
    assert last - first + 1 == symbol
    left_gap, right_gap = first, page.width - 1 - last
    assert abs(left_gap - right_gap) <= module and left_gap >= paper.margin_px + 10 * module
    # The caption sits under the bars, inside the margins.
    caption_box = ink_box(page.crop((0, dark_rows[-1] + 1, page.width, dark_rows[-1] + 1 + 2 * paper.base_font_px)))
    assert caption_box is not None and caption_box[0] >= paper.margin_px


def test_the_thermal_roll_prints_a_12_character_number_at_two_dots_and_a4_at_three():
    for paper, expected in ((THERMAL_80MM, 2), (A4, 3)):
        [page] = render_pages([Block("barcode", payload="JX2026A00017")], paper)
        row = next(page.crop((0, y, page.width, y + 1)).tobytes() for y in range(page.height)
                   if 0 in page.crop((0, y, page.width, y + 1)).tobytes())
        assert min(width for dark, width in _runs(row) if dark) == expected, paper.name


def test_a_payload_too_long_for_the_paper_is_refused_at_render():
    with pytest.raises(ValueError, match="needs at least"):
        render_png([Block("barcode", payload="X" * 200)], THERMAL_80MM)


def test_a_png_of_a_barcode_printout_is_pure_black_and_white():
    image = open_png(render_png([Block("barcode", "caption", payload="KB20260311000123")], THERMAL_80MM))
    assert image.width == 576 and set(image.convert("L").tobytes()) <= {0, 255}
    assert read_barcodes(image) == {"KB20260311000123"}
