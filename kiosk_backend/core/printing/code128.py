"""Code 128 barcodes as pure black-and-white images with whole-pixel modules.

python-barcode encodes (``barcode.codex.Code128``: character sets A/B/C, the checksum, the
stop pattern) and its Pillow ``ImageWriter`` draws. Two settings make the drawing exact for
a printer:

* ImageWriter places every bar at a millimetre position converted to pixels as
  ``mm × dpi / 25.4`` and truncates. We give widths in whole pixels and a dpi of 25.4
  (one millimetre is one pixel), nudged up by a billionth: without the nudge a float
  error of one ulp truncates a pixel away here and there (a 4-pixel bar drawn 3 wide),
  which changes the bar/space ratios a scanner measures. :func:`code128_image` checks the
  drawn row against the module pattern anyway, so a future change in the writer fails
  loudly rather than printing a barcode that does not scan.
* No text under the bars (``write_text`` off): ImageWriter draws it anti-aliased in its own
  font; the printout's caption is drawn by the layout in the bundled fonts.
"""

from __future__ import annotations

from functools import lru_cache

from barcode.codex import Code128
from barcode.errors import BarcodeError
from barcode.writer import ImageWriter
from PIL import Image

from .paper import BLACK, WHITE

__all__ = ["CODE128_QUIET_ZONE_MODULES", "code128_image", "code128_modules", "is_encodable"]

# ISO/IEC 15417: at least 10 module widths of white on either side of the symbol.
CODE128_QUIET_ZONE_MODULES = 10
_ONE_PIXEL_PER_MM_DPI = 25.4 * (1 + 1e-9)


def is_encodable(payload: str) -> bool:
    """Whether Code 128 can carry ``payload`` (printable ASCII, not empty)."""
    return bool(payload) and all(" " <= ch <= "~" for ch in payload)


@lru_cache(maxsize=64)
def code128_modules(payload: str) -> str:
    """The symbol's modules, ``"1"`` dark and ``"0"`` light, start to stop (no quiet zone).
    Raises ``ValueError`` for a payload Code 128 cannot carry."""
    if not is_encodable(payload):
        raise ValueError("Code 128 here carries printable ASCII only")
    try:
        # A new object per build: Code128 keeps its current character set between builds.
        return Code128(payload).build()[0]
    except BarcodeError as error:  # pragma: no cover - printable ASCII is all encodable
        raise ValueError(str(error)) from None


def code128_image(payload: str, *, module_px: int, height_px: int) -> Image.Image:
    """A mode ``"L"`` image of the Code 128 symbol of ``payload`` with its quiet zones:
    every module ``module_px`` pixels wide, bars ``height_px`` tall, only BLACK and WHITE.
    Raises ``ValueError`` for a payload Code 128 cannot carry or sizes below one pixel."""
    if module_px < 1 or height_px < 1:
        raise ValueError("a barcode needs at least one pixel per module and one row")
    modules = code128_modules(payload)
    writer = ImageWriter(format="PNG", mode="L", dpi=_ONE_PIXEL_PER_MM_DPI)
    image = Code128(payload, writer=writer).render(writer_options={
        "module_width": module_px, "module_height": height_px,
        "quiet_zone": CODE128_QUIET_ZONE_MODULES * module_px,
        "margin_top": 0, "margin_bottom": 0, "write_text": False,
        "foreground": BLACK, "background": WHITE,
    })
    expected = "0" * CODE128_QUIET_ZONE_MODULES + modules + "0" * CODE128_QUIET_ZONE_MODULES
    drawn = image.crop((0, height_px // 2, image.width, height_px // 2 + 1)).tobytes()
    if drawn != bytes(BLACK if m == "1" else WHITE for m in expected for _ in range(module_px)):
        raise RuntimeError("python-barcode's ImageWriter did not draw whole-pixel modules")
    return image.crop((0, 0, image.width, height_px))
