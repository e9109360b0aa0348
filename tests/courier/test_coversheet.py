"""The cover sheet for the envelope (courier/coversheet.py): what it says (masked where
personal, the office in full, the materials checklist of the item), the QR code that joins
application and parcel, and the printed image: the application and waybill numbers as Code
128 barcodes that read back as those numbers and are python-barcode's own drawing of them,
80 mm thermal and A4. And the carrier's label preview."""
from __future__ import annotations

import io
from datetime import UTC, datetime

import pytest
from PIL import Image

from kiosk_backend.core.printing import A4, THERMAL_80MM, render_pages, render_pdf, render_png
from kiosk_backend.core.printing.code128 import code128_image
from kiosk_backend.core.printing.layout import BARCODE_HEIGHT_MM
from kiosk_backend.courier import authorities
from kiosk_backend.courier.coversheet import (
    CoverCode,
    cover_blocks,
    cover_payload,
    label_png,
    materials_checklist,
    parse_cover_payload,
)

from ..applications.test_receipt import contains_qr
from ..conftest import APPLICANT_PHONE, SYSTEM, item_row
from ..core.printing.test_barcode import read_barcodes
from .conftest import recipient

PRINTED = datetime(2026, 3, 10, 2, 30, tzinfo=UTC)  # 10:30 in China
OFFICE = dict(org_name="九江市公安局", region_code="360400", recipient_name="户政收件窗口", phone="0792-8221234",
              province_code="36", city_code="3604", county_code="360402", address="长虹大道 100 号", postcode="332000")
MATERIALS = [
    {"name": "居民户口簿", "type": "原件", "form": "纸质", "paper_copies": 1},
    {"name": "居民身份证", "type": "原件和复印件", "form": "纸质+电子", "paper_copies": 2},
    {"name": "电子照片回执", "type": "原件", "form": "电子", "paper_copies": 0},
    {"name": "申请表", "type": "原件", "form": "纸质", "paper_copies": None},
]


def everything(blocks) -> str:
    return "\n".join(f"{b.kind} {b.label} {b.text} {b.payload}" for b in blocks)


def kv(blocks, label) -> list[str]:
    return [b.text for b in blocks if b.kind == "kv" and b.label == label]


# ---------------------------------------------------------------- the QR payload

def test_the_qr_payload_joins_application_order_and_waybill():
    payload = cover_payload(application_number="JX2026A00017", order_no="KB20260310ABCDEFGH", waybill_no="EA123456789CN")
    assert payload == "KIOSK-COVER:1:JX2026A00017:KB20260310ABCDEFGH:EA123456789CN"
    assert parse_cover_payload(payload) == CoverCode("JX2026A00017", "KB20260310ABCDEFGH", "EA123456789CN")


@pytest.mark.parametrize("application, waybill", [(None, None), ("JX2026A00017", None), (None, "SF:12%34"),
                                                  ("A-1", "运单 1")])
def test_the_qr_payload_reads_back_whatever_the_numbers_hold(application, waybill):
    payload = cover_payload(application_number=application, order_no="KB20260310ABCDEFGH", waybill_no=waybill)
    assert payload.count(":") == 4
    assert parse_cover_payload(payload) == CoverCode(application, "KB20260310ABCDEFGH", waybill)


@pytest.mark.parametrize("text", ["", "KIOSK-COVER:2:A:KB1:W", "KIOSK-COVER:1:A::W", "https://example.com",
                                  "KIOSK-COVER:1:A:KB1", "KIOSK-COVER:1:A:KB1:W:X"])
def test_anything_else_is_not_a_cover_code(text):
    with pytest.raises(ValueError):
        parse_cover_payload(text)


# ---------------------------------------------------------------- what it says

def test_the_checklist_lists_paper_materials_with_original_or_copy_and_copies():
    assert materials_checklist(MATERIALS) == ["居民户口簿（原件，1 份）", "居民身份证（原件和复印件，2 份）", "申请表（原件）"]
    assert materials_checklist(None) == [] and materials_checklist([]) == []


@pytest.fixture
def office(db):
    authority = authorities.save_authority(db.session, authorities.AuthorityIn(**OFFICE), actor=SYSTEM)
    db.session.commit()
    return authority


@pytest.fixture
def result_leg(db, make_application, make_booking, booker, office):
    """A booking of the result's way home (the office sends, the booker receives)."""
    application = make_application("concluded", number="JX2026A00017")
    office_party = recipient(name="九江市公安局（户政收件窗口）", mobile="0792-8221234", province_code="36",
                             city_code="3604", county_code="360402", address="长虹大道 100 号")
    home = recipient(name="张三", mobile=None, province_code="36", city_code="3604", county_code="360403",
                     address="浔阳路 118 号 3 栋 501 室")
    booking = make_booking(purpose="result_to_applicant", application_number=application.number, sender=office_party,
                           recipient=home, recipient_uses_resident_mobile=True, item_type="licence",
                           payer="government")
    return application, booking


def test_the_result_legs_sheet_masks_the_resident_and_names_the_office(db, result_leg):
    application, booking = result_leg
    booking.waybill_no = "EA123456789CN"
    blocks = cover_blocks(booking, application_number=application.number, item_name="居民身份证换领",
                          handling_org="九江市公安局", materials=MATERIALS, kiosk_number="JZ01-03", printed_at=PRINTED)
    assert blocks[0].kind == "title" and blocks[0].text == "结果寄回封面"
    assert kv(blocks, "事项") == ["居民身份证换领"] and kv(blocks, "寄递物品") == ["证照，共 1 件"]
    barcodes = [b for b in blocks if b.kind == "barcode"]
    assert [(b.payload, b.text) for b in barcodes] == [("JX2026A00017", "办件编号 JX2026A00017"),
                                                      ("EA123456789CN", "运单号 EA123456789CN")]
    [qr] = [b for b in blocks if b.kind == "qr"]
    assert qr.payload == f"KIOSK-COVER:1:JX2026A00017:{booking.order_no}:EA123456789CN"
    assert qr.text == "接收单位扫此码，办件和邮件一并登记"
    printed = everything(blocks)
    # To: the resident, masked; from: the office in full.
    assert "张*  138****8000" in printed and "江西省九江市浔阳区（详细地址见快递面单）" in printed
    assert kv(blocks, "单位") == ["九江市公安局"]
    assert kv(blocks, "联系人") == ["张*  138****8000", "九江市公安局（户政收件窗口）  0792****1234"]
    assert kv(blocks, "地址") == ["江西省九江市浔阳区（详细地址见快递面单）", "江西省九江市濂溪区长虹大道 100 号"]
    headings = [b.text for b in blocks if b.kind == "heading"]
    assert headings == ["收件", "寄件"]
    for secret in (APPLICANT_PHONE, "张三", "浔阳路 118 号"):
        assert secret not in printed, secret
    assert "居民户口簿" not in printed  # the result goes home: no materials checklist
    assert "打印时间 2026-03-10 10:30 · 终端 JZ01-03" in printed


def test_the_materials_sheet_has_the_items_checklist_and_the_order_number_until_a_waybill_exists(
        db, make_items, make_application, make_booking, office):
    make_items(item_row(task_code="ID-RENEW-01", task_name="居民身份证换领", dept_name="九江市公安局", materials=MATERIALS))
    application = make_application("in_progress", task_code="ID-RENEW-01")
    office_party = recipient(name="九江市公安局（户政收件窗口）", mobile="0792-8221234", province_code="36",
                             city_code="3604", county_code="360402", address="长虹大道 100 号")
    booking = make_booking(purpose="materials_to_authority", application_number=application.number,
                           recipient=office_party, payer="government")
    from kiosk_backend.catalog.models import Item

    item = db.session.get(Item, application.item_id)
    blocks = cover_blocks(booking, application_number=application.number, item_name=application.item_name,
                          handling_org="九江市公安局", materials=item.materials, kiosk_number="JZ01-03",
                          printed_at=PRINTED)
    assert blocks[0].text == "邮寄材料封面"
    assert [b.text for b in blocks if b.kind == "check"] == ["居民户口簿（原件，1 份）", "居民身份证（原件和复印件，2 份）",
                                                            "申请表（原件）"]
    assert [b.payload for b in blocks if b.kind == "barcode"] == [application.number, booking.order_no]
    assert f"预约单号 {booking.order_no}" in everything(blocks) and "运单号待快递公司确认后生成" in everything(blocks)
    [qr] = [b for b in blocks if b.kind == "qr"]
    assert parse_cover_payload(qr.payload) == CoverCode(application.number, booking.order_no, None)
    assert kv(blocks, "单位") == ["九江市公安局"]  # the recipient this time
    assert kv(blocks, "联系人")[0] == "九江市公安局（户政收件窗口）  0792****1234"


def test_a_standalone_sheet_has_no_application_barcode(db, make_booking):
    booking = make_booking()
    blocks = cover_blocks(booking, application_number=None, item_name=None, handling_org=None, materials=None,
                          kiosk_number="JZ01-03", printed_at=PRINTED)
    assert [b.payload for b in blocks if b.kind == "barcode"] == [booking.order_no]
    [qr] = [b for b in blocks if b.kind == "qr"]
    assert qr.payload == f"KIOSK-COVER:1::{booking.order_no}:"
    # Both parties are people here: both masked.
    assert "张*  139****9000" in everything(blocks) and "李*  137****7000" in everything(blocks)


# ---------------------------------------------------------------- the printed image

def contains_barcode(image: Image.Image, payload: str, paper) -> bool:
    """Whether ``image`` holds python-barcode's own drawing (ImageWriter, via code128_image)
    of ``payload``, row for row, at some whole module width."""
    image = image.convert("L")
    height = round(BARCODE_HEIGHT_MM / 25.4 * paper.dpi)
    for module in range(1, 5):
        symbol = code128_image(payload, module_px=module, height_px=height)
        row = symbol.crop((0, 0, symbol.width, 1)).tobytes()
        for y in range(image.height - height):
            line = image.crop((0, y, image.width, y + 1)).tobytes()
            x = line.find(row)
            if x >= 0 and image.crop((x, y, x + symbol.width, y + height)).tobytes() == symbol.tobytes():
                return True
    return False


@pytest.mark.parametrize("paper", [THERMAL_80MM, A4], ids=lambda p: p.name)
def test_the_printed_sheet_scans_as_its_numbers_and_its_joining_code(db, result_leg, paper):
    application, booking = result_leg
    booking.waybill_no = "EA123456789CN"
    blocks = cover_blocks(booking, application_number=application.number, item_name="居民身份证换领",
                          handling_org="九江市公安局", materials=None, kiosk_number="JZ01-03", printed_at=PRINTED)
    pages = render_pages(blocks, paper)
    assert all(set(page.tobytes()) <= {0, 255} for page in pages)
    first = pages[0]
    assert first.width == paper.width_px
    assert read_barcodes(first) == {"JX2026A00017", "EA123456789CN"}
    assert contains_barcode(first, "JX2026A00017", paper) and contains_barcode(first, "EA123456789CN", paper)
    payload = f"KIOSK-COVER:1:JX2026A00017:{booking.order_no}:EA123456789CN"
    assert contains_qr(first, payload)
    if paper is THERMAL_80MM:
        png = Image.open(io.BytesIO(render_png(blocks, paper)))
        assert png.width == 576
    else:
        assert render_pdf(blocks, paper).startswith(b"%PDF")


# ---------------------------------------------------------------- the label

class _Booking:
    def __init__(self, label):
        self.label_png = label


def _png(size, mode="L") -> bytes:
    out = io.BytesIO()
    image = Image.new(mode, size, 255 if mode == "L" else (255, 255, 255))
    image.info["Comment"] = "secret"
    image.save(out, format="PNG")
    return out.getvalue()


def test_the_label_is_a_clean_png_of_a_100_by_150_picture_or_nothing():
    clean = label_png(_Booking(_png((800, 1200), "RGB")))
    assert clean is not None and Image.open(io.BytesIO(clean)).size == (800, 1200)
    assert label_png(_Booking(_png((812, 1218)))) is not None  # 203 dpi, rounded
    for bad in (None, b"", b"<html>502 Bad Gateway</html>", _png((1200, 800)), _png((60, 90)), b"\x89PNG\r\n\x1a\n"):
        assert label_png(_Booking(bad)) is None
