"""Printouts of a courier booking: the cover sheet for the envelope (邮寄材料封面 / 结果寄回封面)
and the carrier's 100 × 150 mm label, for core/printing (80 mm thermal PNG, A4 PNG or PDF).

The cover sheet lets the receiving authority scan one sheet to advance both the application
and the parcel. It carries:

- the application number and the waybill number, each as a Code 128 barcode with the
  number in clear underneath (before the carrier has given a waybill number, our order
  number, which is the carrier's order id, stands in for it and is labelled so);
- one QR code that joins the two, :func:`cover_payload`::

      KIOSK-COVER:1:<application number>:<order no>:<waybill no>

  ``KIOSK-COVER`` and the version ``1`` name the format; the application number is empty
  for a standalone booking and the waybill number empty until the carrier has given one
  (the order number alone finds the booking, and through it the waybill). Fields are
  percent-encoded (``%`` and ``:`` only; numbers are opaque strings) so that the colon
  stays a separator. :func:`parse_cover_payload` reads it back;
- the materials checklist of the item from the catalog (name, 原件/复印件, copies; paper
  materials only: electronic ones are not in the envelope), for the two materials legs;
- the recipient and the sender: the handling authority in full (its address is no one's
  personal data), a resident masked (name, mobile, only the divisions of the address:
  UX.md, a printout never carries a full phone number; the carrier's label has the rest);
- when and where it was printed.

It is in Chinese whatever the screen's language: it is read by the authority's clerks.
"""
from __future__ import annotations

import io
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import quote, unquote

from PIL import Image, UnidentifiedImageError

from ..core.clock import LOCAL_TZ
from ..core.i18n import translate
from ..core.printing import Block
from ..core.printing.code128 import is_encodable
from ..identity.residents import mask_name
from ..sites import divisions
from .states import ItemType, Purpose

COVER_PREFIX = "KIOSK-COVER"
COVER_VERSION = "1"
LANG = "zh-CN"  # the authority's clerks read it
# The carrier's label: 100 × 150 mm, portrait. A picture of another shape is not a label.
LABEL_ASPECT = 150 / 100
LABEL_ASPECT_TOLERANCE = 0.03
# Printed on the envelope of materials only: electronic materials travel otherwise.
PAPER_FORMS = ("纸质", "纸质+电子")


def _field(value: str | None) -> str:
    return quote(value or "", safe="")


def cover_payload(*, application_number: str | None, order_no: str, waybill_no: str | None) -> str:
    """The QR code's text that joins application and parcel (format in the module's doc)."""
    fields = (COVER_PREFIX, COVER_VERSION, _field(application_number), _field(order_no), _field(waybill_no))
    return ":".join(fields)


@dataclass(frozen=True)
class CoverCode:
    application_number: str | None
    order_no: str
    waybill_no: str | None


def parse_cover_payload(text: str) -> CoverCode:
    """What a scanned cover sheet's QR code says. Raises ValueError for anything else."""
    parts = (text or "").strip().split(":")
    if len(parts) != 5 or parts[0] != COVER_PREFIX or parts[1] != COVER_VERSION or not parts[3]:
        raise ValueError("not a cover sheet code")
    application, order_no, waybill = (unquote(part) for part in parts[2:])
    return CoverCode(application or None, order_no, waybill or None)


def materials_checklist(materials: list[dict] | None, lang: str = LANG) -> list[str]:
    """The lines to tick: ``name（原件，2 份）``, paper materials only, in the catalog's order."""
    lines = []
    for material in materials or []:
        if material.get("form") and material["form"] not in PAPER_FORMS:
            continue
        detail = [material.get("type") or "原件"]
        if material.get("paper_copies"):
            detail.append(translate("guide.copies", lang, n=material["paper_copies"]))
        separator = ", " if lang == "en" else "，"
        lines.append(f"{material['name']}（{separator.join(detail)}）")
    return lines


def _time(moment: datetime) -> str:
    return moment.astimezone(LOCAL_TZ).strftime("%Y-%m-%d %H:%M")


def _party(booking, side: str, *, personal: bool) -> tuple[str, str, str]:
    """(name, phone, address) of the sender or the recipient as the sheet prints them."""
    name = getattr(booking, f"{side}_name")
    phone = getattr(booking, f"{side}_mobile_masked")
    region = divisions.full_name(getattr(booking, f"{side}_county")) or divisions.full_name(
        getattr(booking, f"{side}_city")) or ""
    if personal:
        return mask_name(name), phone, translate("courier.cover.address_masked", LANG, region=region)
    return name, phone, f"{region}{getattr(booking, f'{side}_address')}"


def authority_side(purpose: str) -> str | None:
    """Which party is the handling authority (printed in full): the recipient of the
    materials, the sender of the result; nobody's in a standalone booking."""
    return {Purpose.MATERIALS_TO_AUTHORITY: "recipient", Purpose.RESULT_TO_APPLICANT: "sender"}.get(Purpose(purpose))


def cover_blocks(booking, *, application_number: str | None, item_name: str | None, handling_org: str | None,
                 materials: list[dict] | None, kiosk_number: str, printed_at: datetime) -> list[Block]:
    """Blocks of the cover sheet of ``booking`` (a courier Booking). ``materials`` are the
    catalog item's (``Item.materials``), None when the item is unknown."""

    def t(key: str, **params) -> str:
        return translate(key, LANG, **params)

    purpose = Purpose(booking.purpose)
    title = "courier.cover.title_result" if purpose == Purpose.RESULT_TO_APPLICANT else "courier.cover.title_materials"
    b: list[Block] = [Block("title", t(title))]
    if item_name:
        b.append(Block("kv", item_name, label=t("courier.cover.item")))
    contents = t(f"courier.item_type.{ItemType(booking.item_type)}")
    b.append(Block("kv", t("courier.cover.pieces", kind=contents, n=booking.pieces), label=t("courier.cover.contents")))

    if application_number:
        b.append(_number(t("courier.cover.application"), application_number))
    if booking.waybill_no:
        b.append(_number(t("courier.cover.waybill"), booking.waybill_no))
    else:
        b.append(_number(t("courier.cover.order"), booking.order_no))
        b.append(Block("small", t("courier.cover.waybill_later")))
    payload = cover_payload(application_number=application_number, order_no=booking.order_no,
                            waybill_no=booking.waybill_no)
    b.append(Block("qr", t("courier.cover.qr"), payload=payload))

    authority = authority_side(purpose)
    for side in ("recipient", "sender"):
        name, phone, address = _party(booking, side, personal=side != authority)
        b.append(Block("heading", t(f"courier.cover.{side}")))
        if side == authority and handling_org:
            b.append(Block("kv", handling_org, label=t("courier.cover.org")))
        b.append(Block("kv", f"{name}  {phone}".strip(), label=t("courier.cover.name")))
        b.append(Block("kv", address, label=t("courier.cover.address")))

    checklist = materials_checklist(materials) if purpose != Purpose.RESULT_TO_APPLICANT else []
    if checklist:
        b.append(Block("heading", t("courier.cover.checklist")))
        for line in checklist:
            b.append(Block("check", line))

    b.append(Block("rule"))
    b.append(Block("small", t("courier.cover.printed", time=_time(printed_at), kiosk=kiosk_number)))
    b.append(Block("small", t("courier.cover.masked")))
    return b


def _number(label: str, number: str) -> Block:
    """A number as a barcode with the number under it; in clear only when Code 128 cannot
    carry it (a carrier's number is opaque: it might hold other characters)."""
    if is_encodable(number) and len(number) <= 40:
        return Block("barcode", f"{label} {number}", payload=number)
    return Block("kv", number, label=label)


def label_png(booking) -> bytes | None:
    """The carrier's 100 × 150 mm label as a clean PNG, or None when the carrier gave none or
    what it gave is not a picture of a label (the page then says so instead of a broken image)."""
    data = booking.label_png
    if not data:
        return None
    try:
        with Image.open(io.BytesIO(data)) as image:
            image.load()
            width, height = image.size
            if width < 100 or abs(height / width - LABEL_ASPECT) > LABEL_ASPECT * LABEL_ASPECT_TOLERANCE:
                return None
            out = io.BytesIO()
            # Re-encoded: only pixels leave here, none of the file's own chunks (text, profiles).
            image.convert("L" if image.mode in ("1", "L") else "RGB").save(out, format="PNG", optimize=True)
            return out.getvalue()
    except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError):
        return None
