"""QR codes as pure black-and-white images with whole-pixel modules."""

from __future__ import annotations

from functools import lru_cache

import qrcode
import qrcode.constants
from PIL import Image

from .paper import BLACK, WHITE

__all__ = ["MIN_QR_MODULE_MM", "QR_QUIET_ZONE_MODULES", "qr_image"]

QR_QUIET_ZONE_MODULES = 4
# Phone cameras struggle below ~0.33 mm per module on thermal paper, so a
# payload too long for the nominal QR width gets a larger code, not a finer one.
MIN_QR_MODULE_MM = 0.33


@lru_cache(maxsize=64)
def _qr_modules(payload: str) -> tuple[tuple[bool, ...], ...]:
    """The module matrix for ``payload``, quiet zone included, dark = True."""
    code = qrcode.QRCode(
        error_correction=qrcode.constants.ERROR_CORRECT_M,
        border=QR_QUIET_ZONE_MODULES,
    )
    code.add_data(payload)
    code.make(fit=True)
    return tuple(tuple(row) for row in code.get_matrix())


def qr_image(payload: str, size: int) -> Image.Image:
    """A ``size`` x ``size`` mode ``"L"`` QR code of ``payload``.

    Error correction level M, at least a 4-module quiet zone. Every module is
    a whole number of pixels (scaling by fractions blurs module edges), so if
    ``size`` is not a multiple of the module count the code is centred and
    the quiet zone grows by the remainder. Raises ``ValueError`` if ``size``
    is too small for one pixel per module.
    """
    modules = _qr_modules(payload)
    count = len(modules)
    scale = size // count
    if scale < 1:
        raise ValueError(f"a QR code of this payload needs at least {count} px, got {size}")
    code = Image.new("L", (count, count))
    code.putdata([BLACK if dark else WHITE for row in modules for dark in row])
    code = code.resize((count * scale, count * scale), Image.Resampling.NEAREST)
    canvas = Image.new("L", (size, size), WHITE)
    offset = (size - count * scale) // 2
    canvas.paste(code, (offset, offset))
    return canvas
