"""The progress receipt (applications/receipt.py): what it says (masked data only, the state and
deadline in words, the newest events), in Chinese and English, and the printed image: 576 dots
wide on the thermal roll with a QR code that is exactly the phone page's address."""
from __future__ import annotations

import io
import re
from datetime import UTC, date, datetime

import pytest
from PIL import Image

from kiosk_backend.applications import progress
from kiosk_backend.applications.receipt import RECENT_EVENTS, receipt_blocks
from kiosk_backend.core.printing import THERMAL_80MM, qr_image, render_png
from kiosk_backend.core.printing.qr import _qr_modules
from kiosk_backend.core.workdays import Calendar

from ..conftest import APPLICANT_ID, APPLICANT_PHONE

PHONE_URL = "https://zwfw.example.gov.cn/m/applications/TEST00000001"
PRINTED = datetime(2026, 3, 10, 2, 30, tzinfo=UTC)  # 10:30 in China


def view_of(application, today=date(2026, 3, 10)):
    return progress.view(application, calendar=Calendar.shipped(), today=today)


def blocks_of(application, lang="zh-CN", **kwargs):
    return receipt_blocks(view_of(application), lang=lang, phone_url=PHONE_URL, kiosk_number="JZ01-03",
                          printed_at=PRINTED, **kwargs)


def everything_printed(blocks) -> str:
    return "\n".join(f"{b.label} {b.text} {b.payload}" for b in blocks)


def kv(blocks, label) -> str:
    found = [b.text for b in blocks if b.kind == "kv" and b.label == label]
    assert len(found) == 1, (label, [b.label for b in blocks])
    return found[0]


def contains_qr(image: Image.Image, payload: str) -> bool:
    """Whether ``image`` holds the QR code of ``payload``, module for module, at some whole
    scale: the code the phone reads is this address and nothing else."""
    image = image.convert("L")
    count = len(_qr_modules(payload))
    rows = [image.crop((0, y, image.width, y + 1)).tobytes() for y in range(image.height)]
    for scale in range(1, image.width // count + 1):
        code = qr_image(payload, count * scale)
        top = 4 * scale  # the first row of the finder patterns, under the quiet zone
        first_dark_row = code.crop((0, top, code.width, top + 1)).tobytes()
        for y, row in enumerate(rows):
            x = row.find(first_dark_row)
            if x >= 0 and y >= top:
                box = (x, y - top, x + code.width, y - top + code.height)
                if image.crop(box).tobytes() == code.tobytes():
                    return True
    return False


def test_the_receipt_says_where_the_application_is_with_masked_data_only(make_application):
    application = make_application("in_progress")
    blocks = blocks_of(application)
    assert blocks[0].kind == "title" and blocks[0].text == "办件进度回执"
    assert kv(blocks, "事项") == "居民身份证换领" and kv(blocks, "办件编号") == application.number
    assert kv(blocks, "当前状态") == "办理中"
    assert kv(blocks, "办理期限") == "2026-03-31 前办结 · 剩余 15 个工作日"
    assert kv(blocks, "下一步") == "正在办理，无需操作"
    assert kv(blocks, "办理方式") == "本地办理" and kv(blocks, "业务属地") == "九江市公安局"
    assert kv(blocks, "申请人") == "张*  1101**********002X"
    printed = everything_printed(blocks)
    for secret in (APPLICANT_ID, APPLICANT_PHONE, "张三", "13800138000"):
        assert secret not in printed
    [qr] = [b for b in blocks if b.kind == "qr"]
    assert qr.payload == PHONE_URL and qr.text == "手机扫码查看办件进度"
    assert "打印时间 2026-03-10 10:30 · 终端 JZ01-03" in printed


def test_the_newest_events_come_first_and_the_rest_is_on_the_phone(make_application):
    application = make_application("rated")  # six events
    events = [b.text for b in blocks_of(application) if b.kind == "bullet"]
    assert len(events) == RECENT_EVENTS
    assert events[0].splitlines()[0].endswith("已评价") and events[-1].splitlines()[0].endswith("受理")
    assert "窗口领取" in events[1] and "准予" in events[2]
    assert any(b.text == "更早的 1 条进展请扫码在手机上查看" for b in blocks_of(application))
    assert kv(blocks_of(application), "当前状态") == "已评价（准予）"


def test_a_supplement_prints_the_materials_to_tick_and_a_cross_province_mode_says_so(make_application):
    application = make_application("supplement_requested", mode="proxy", handling_region="440100",
                                    handling_org="广州市公安局")
    blocks = blocks_of(application)
    assert [b.text for b in blocks if b.kind == "check"] == ["户口簿原件"]
    assert kv(blocks, "办理方式") == "异地代收代办 · 跨省通办"
    assert kv(blocks, "办理期限") == "受理后开始计时"


def test_the_receipt_in_english(make_application):
    blocks = blocks_of(make_application("special_procedure"), lang="en")
    assert blocks[0].text == "Application progress receipt"
    assert kv(blocks, "Status") == "Special procedure" and kv(blocks, "Deadline") == "Clock stopped"
    assert any("Reason: 现场核查" in b.text for b in blocks if b.kind == "bullet")
    assert "Printed 2026-03-10 10:30 · kiosk JZ01-03" in everything_printed(blocks)


def test_the_thermal_receipt_is_576_dots_wide_and_its_qr_code_is_the_phone_address(make_application):
    image = Image.open(io.BytesIO(render_png(blocks_of(make_application("accepted")), THERMAL_80MM)))
    assert image.width == 576 and image.height > 800
    assert contains_qr(image, PHONE_URL)
    assert not contains_qr(image, PHONE_URL.replace("TEST00000001", "TEST00000002"))  # the check can fail


@pytest.mark.parametrize("profile, paper", [("post-office-portrait", "thermal80"), ("bank-lobby-landscape", "a4")])
def test_the_printed_receipt_links_to_the_public_phone_page(app, make_kiosk, make_application, profile, paper):
    application = make_application("accepted")
    _, credential = make_kiosk(profile=profile)
    client = app.test_client()
    client.set_cookie("kiosk_credential", credential)
    page = client.post("/kiosk/progress", data={"number": application.number, "tail": "002X"}).text
    token = re.search(r'name="t" value="([^"]+)"', page).group(1)
    app.config["KIOSK_PUBLIC_URL"] = "https://zwfw.example.gov.cn/"
    try:
        response = client.get(f"/kiosk/progress/receipt.png?t={token}&paper={paper}")
        qr = client.get(f"/kiosk/progress/qr.png?t={token}")
    finally:
        app.config["KIOSK_PUBLIC_URL"] = ""
    expected = f"https://zwfw.example.gov.cn/m/applications/{application.number}"
    assert contains_qr(Image.open(io.BytesIO(response.data)), expected)
    assert contains_qr(Image.open(io.BytesIO(qr.data)), expected)


def test_a_finished_application_prints_no_deadline(make_application):
    blocks = blocks_of(make_application("not_accepted"))
    assert kv(blocks, "当前状态") == "不予受理" and "办理期限" not in [b.label for b in blocks]
    assert any("原因：不属于本机关职权范围" in b.text for b in blocks if b.kind == "bullet")
