"""What a printout is made of: an ordered sequence of :class:`Block` objects."""

from __future__ import annotations

from dataclasses import dataclass

from .code128 import is_encodable

__all__ = ["BLOCK_KINDS", "Block"]

BLOCK_KINDS = frozenset(
    {"title", "heading", "text", "bullet", "check", "kv", "qr", "barcode", "rule", "small"}
)


@dataclass(frozen=True)
class Block:
    """One piece of a printout; a printout is a sequence of these, in order.

    ``kind`` is one of:

    * ``"title"``: large, bold, centred.
    * ``"heading"``: bold, with a rule underneath; kept on the same page as
      the start of whatever follows it.
    * ``"text"``: a paragraph. ``"\\n"`` in ``text`` forces a line break.
    * ``"bullet"``: a paragraph with a bullet and a hanging indent.
    * ``"check"``: like bullet but with an empty square to tick by hand
      (materials checklists).
    * ``"kv"``: ``label：text``, label bold. The value wraps under itself.
    * ``"qr"``: a QR code of ``payload`` centred, with ``text`` as an
      optional caption underneath.
    * ``"barcode"``: a Code 128 barcode of ``payload`` (printable ASCII:
      numbers of applications, waybills, orders) centred, with ``text`` as
      an optional caption underneath.
    * ``"rule"``: a horizontal line.
    * ``"small"``: fine print, e.g. footers and disclaimers.

    Raises ``ValueError`` for an unknown kind, a ``kv`` without a label, a
    ``qr`` without a payload or a ``barcode`` whose payload Code 128 cannot
    carry, and ``TypeError`` if a field is not a string
    (a ``None`` from a missing database column fails here, not mid-render).
    """

    kind: str
    text: str = ""
    label: str = ""
    payload: str = ""

    def __post_init__(self) -> None:
        for field in ("text", "label", "payload"):
            value = getattr(self, field)
            if not isinstance(value, str):
                raise TypeError(f"Block.{field} must be a str, not {type(value).__name__}")
        if self.kind not in BLOCK_KINDS:
            raise ValueError(
                f"unknown block kind {self.kind!r}; expected one of {sorted(BLOCK_KINDS)}"
            )
        if self.kind == "kv" and not self.label:
            raise ValueError("a 'kv' block needs a label")
        if self.kind == "qr" and not self.payload:
            raise ValueError("a 'qr' block needs a payload")
        if self.kind == "barcode" and not is_encodable(self.payload):
            raise ValueError("a 'barcode' block needs a payload of printable ASCII")

