"""Print media, measured in device pixels, and the two pixel values we print.

Every image this package produces for a printer holds only ``BLACK`` and
``WHITE`` pixels (see the package docstring).
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["A4", "BLACK", "PAPERS", "THERMAL_80MM", "WHITE", "Paper"]

BLACK = 0
WHITE = 255


@dataclass(frozen=True)
class Paper:
    """A print medium, measured in device pixels.

    ``width_px`` is the full image width; content is inset by ``margin_px``
    on all four sides. ``page_height_px`` is ``None`` for a continuous roll.
    ``qr_width_ratio`` is the nominal QR code width as a fraction of
    ``width_px``.
    """

    name: str
    width_px: int
    dpi: int
    margin_px: int
    page_height_px: int | None
    base_font_px: int
    qr_width_ratio: float = 0.4

    @property
    def is_paged(self) -> bool:
        return self.page_height_px is not None

    @property
    def content_width_px(self) -> int:
        return self.width_px - 2 * self.margin_px


# The head of an 80 mm printer covers 72 mm: 576 dots at 203 dpi. The whole
# image is the printable area, so the margin only keeps ink off the edge dots.
THERMAL_80MM = Paper(
    name="thermal80",
    width_px=576,
    dpi=203,
    margin_px=12,
    page_height_px=None,
    base_font_px=26,
    qr_width_ratio=0.40,
)

# 210 x 297 mm at 200 dpi. The 15 mm margin is outside the unprintable edge
# of every office laser printer we have seen.
A4 = Paper(
    name="a4",
    width_px=1654,
    dpi=200,
    margin_px=118,
    page_height_px=2339,
    base_font_px=34,
    qr_width_ratio=0.25,
)

PAPERS: dict[str, Paper] = {paper.name: paper for paper in (THERMAL_80MM, A4)}
