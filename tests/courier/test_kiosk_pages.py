"""Courier bookings at the kiosk (courier/kiosk.py): the buttons on the application's result
screen and on the guide, the four screens (who, where, when, confirm) with a resident logged
in at the kiosk, the sealed state between them, the division picker, slots with places left
and full ones, one booking per confirm screen however often 确认 is sent, bad input named on
the same screen, the login prompt, someone else's application or booking not found, the
booking's screen, the cover sheet's print flow and the label preview."""
from __future__ import annotations

import io
import re

import pytest
import sqlalchemy as sa
from PIL import Image

from kiosk_backend.courier import authorities
from kiosk_backend.courier import kiosk as courier_kiosk
from kiosk_backend.courier.models import Booking, PickupSlot, SavedAddress
from kiosk_backend.extensions import limiter
from kiosk_backend.identity import residents

from ..conftest import APPLICANT_ID, APPLICANT_PHONE, SYSTEM, item_row
from ..identity.test_kiosk import log_in

OTHER_ID = "110105200002290160"
START = "/kiosk/courier/new"
OFFICE = dict(org_name="九江市公安局", region_code="360400", recipient_name="户政收件窗口", phone="0792-8221234",
              province_code="36", city_code="3604", county_code="360402", address="长虹大道 100 号", postcode="332000")


def state_of(html: str) -> str:
    found = re.findall(r'<input type="hidden" name="s" value="([^"]+)">', html)
    assert found, "no sealed state on the page"
    return found[0]


def key_of(html: str) -> str:
    match = re.search(r'<input type="hidden" name="key" value="([^"]+)">', html)
    assert match, "no Idempotency-Key on the confirm screen"
    return match.group(1)


def main_of(html: str) -> str:
    return html[html.index("<main"):html.index("</main>")]


@pytest.fixture
def office(db):
    authority = authorities.save_authority(db.session, authorities.AuthorityIn(**OFFICE), actor=SYSTEM)
    db.session.commit()
    return authority


@pytest.fixture
def resident_at_kiosk(db, kiosk_client, booker):
    """The booker (APPLICANT_ID, mobile APPLICANT_PHONE on record) logged in at the kiosk."""
    log_in(db, kiosk_client, booker)
    return booker


@pytest.fixture
def slot(make_slot):
    return make_slot(capacity=3)


class Flow:
    """Walks the four screens with a test client, keeping the sealed state."""

    def __init__(self, client, application_number=None, leg="result", item=None, **args):
        self.client = client
        query = {"item": item} if item else {"application": application_number, "leg": leg}
        self.response = client.get(START, query_string={**query, **args})
        self.page = self.response.text

    def post(self, step, **form):
        self.response = self.client.post(f"/kiosk/courier/{step}", data={"s": state_of(self.page), **form})
        self.page = self.response.text
        return self.response

    def who(self, **form):
        return self.post("who", **{"name_choice": "self", "mobile_choice": "mine", **form})

    def where(self, **form):
        values = {"choice": "new", "province_code": "36", "city_code": "3604", "county_code": "360403",
                  "address": "浔阳路 118 号 3 栋 501 室", "save": "1"}
        return self.post("where", **{**values, **form})

    def when(self, slot, mode="counter"):
        return self.post("when", mode=mode, slot=str(slot.id))

    def confirm(self, **form):
        return self.post("confirm", key=key_of(self.page), **form)


def bookings(db) -> list[Booking]:
    db.session.expire_all()
    return list(db.session.scalars(sa.select(Booking).order_by(Booking.id)))


# ---------------------------------------------------------------- where it starts

def test_the_result_screen_offers_the_legs_only_to_the_logged_in_applicant(db, kiosk_client, make_application,
                                                                           make_booker, office):
    open_one = make_application("in_progress")
    done = make_application("concluded")
    theirs = make_application("concluded", id_number=OTHER_ID, phone="13800000003")
    # Nobody logged in: the lookup shows the result, without courier buttons.
    page = kiosk_client.post("/kiosk/progress", data={"number": done.number, "tail": "002X"}).text
    assert "结果寄回家" not in page and "/kiosk/courier/" not in page

    log_in(db, kiosk_client, make_booker())
    page = main_of(kiosk_client.get(f"/kiosk/progress/{open_one.number}").text)
    assert f'id="courier-materials" href="/kiosk/courier/new?application={open_one.number}&amp;leg=materials"' in page
    assert ">邮寄材料</a>" in page and 'id="courier-result"' not in page
    page = main_of(kiosk_client.get(f"/kiosk/progress/{done.number}").text)
    assert f'id="courier-result" href="/kiosk/courier/new?application={done.number}&amp;leg=result"' in page
    assert ">结果寄回家</a>" in page and 'id="courier-materials"' not in page
    # Someone else's application looked up by its number and last 4: the result, no buttons.
    page = kiosk_client.post("/kiosk/progress", data={"number": theirs.number, "tail": "0160"}).text
    assert "已办结" in page and "/kiosk/courier/" not in page


def test_a_booked_leg_links_to_its_booking_instead(db, kiosk_client, make_application, resident_at_kiosk, office,
                                                   slot):
    application = make_application("concluded")
    flow = Flow(kiosk_client, application.number)
    flow.who(), flow.where(), flow.when(slot)
    order_no = flow.confirm().headers["Location"].split("/")[-1].split("?")[0]
    page = main_of(kiosk_client.get(f"/kiosk/progress/{application.number}").text)
    assert f'id="courier-result" href="/kiosk/courier/bookings/{order_no}"' in page and "查看结果寄回" in page


def test_the_guide_offers_posting_when_the_departments_address_is_known(db, kiosk_client, make_items, office):
    make_items(item_row(task_code="EXPRESS01", task_name="护照补办", dept_name="九江市公安局", is_express=True),
               item_row(task_code="NOTPOST01", task_name="户口迁移", dept_name="九江市公安局", is_express=False),
               item_row(task_code="NOOFFICE1", task_name="社保转移", dept_name="九江市人社局", is_express=True))
    page = kiosk_client.get("/kiosk/items/EXPRESS01").text
    assert 'id="courier-item" href="/kiosk/courier/new?item=EXPRESS01"' in page and "邮寄材料" in page
    for code in ("NOTPOST01", "NOOFFICE1"):  # not by post, or nowhere known to send it
        assert 'id="courier-item"' not in kiosk_client.get(f"/kiosk/items/{code}").text


def test_a_kiosk_without_the_courier_feature_offers_nothing(app, db, make_kiosk, make_application, make_booker,
                                                            office):
    kiosk, credential = make_kiosk(profile="bank-lobby-landscape")
    bank = app.test_client()
    bank.set_cookie("kiosk_credential", credential)
    bank.kiosk = kiosk  # log_in needs the kiosk's id
    application = make_application("concluded")
    log_in(db, bank, make_booker())
    assert "/kiosk/courier/" not in bank.get(f"/kiosk/progress/{application.number}").text
    assert bank.get(f"{START}?application={application.number}&leg=result").status_code == 404


# ---------------------------------------------------------------- who may book

def test_nobody_logged_in_gets_the_login_prompt(kiosk_client, make_application, office):
    application = make_application("concluded")
    response = kiosk_client.get(START, query_string={"application": application.number, "leg": "result"})
    page = main_of(response.text)
    assert response.status_code == 401 and response.headers["Cache-Control"] == "no-store"
    assert "请先登录" in page and 'href="/kiosk/login"' in page and "扫码登录" in page
    assert application.number not in page and application.item_name not in page
    for path in ("/kiosk/courier/bookings/KB20260301ABCDEFGH", "/kiosk/courier/bookings/KB20260301ABCDEFGH/cover"):
        assert kiosk_client.get(path).status_code == 401
    assert kiosk_client.post("/kiosk/courier/who", data={"s": "x"}).status_code == 401


def test_someone_elses_application_is_not_found_like_an_unknown_one(db, kiosk_client, make_application,
                                                                    resident_at_kiosk, office):
    theirs = make_application("concluded", id_number=OTHER_ID, phone="13800000003")
    foreign = kiosk_client.get(START, query_string={"application": theirs.number, "leg": "result"})
    unknown = kiosk_client.get(START, query_string={"application": "NOSUCH000001", "leg": "result"})
    malformed = kiosk_client.get(START, query_string={"application": "<x>", "leg": "result"})
    assert foreign.status_code == unknown.status_code == malformed.status_code == 404
    assert main_of(foreign.text) == main_of(unknown.text) == main_of(malformed.text)
    assert "没有找到这项寄件或办件" in foreign.text and theirs.number not in main_of(foreign.text)


def test_a_leg_that_does_not_fit_the_application_or_has_no_office_is_refused(db, kiosk_client, make_application,
                                                                             resident_at_kiosk):
    open_one = make_application("in_progress")
    refused = kiosk_client.get(START, query_string={"application": open_one.number, "leg": "result"})
    assert refused.status_code == 409 and "这件办件现在不能预约这项邮寄" in refused.text
    no_office = kiosk_client.get(START, query_string={"application": open_one.number, "leg": "materials"})
    assert no_office.status_code == 409 and "办理机关的收件地址尚未登记" in no_office.text


# ---------------------------------------------------------------- screen 1: who

def test_who_prefills_the_office_and_the_resident_with_a_masked_mobile_only(kiosk_client, make_application,
                                                                            resident_at_kiosk, office):
    application = make_application("concluded")
    flow = Flow(kiosk_client, application.number)
    page = flow.page
    assert flow.response.status_code == 200 and flow.response.headers["Cache-Control"] == "no-store"
    assert "第 1 步，共 4 步" in page and 'aria-current="step"' in page
    assert "九江市公安局" in page and "户政收件窗口" in page and "长虹大道 100 号" in page and "0792-8221234" in page
    assert "本人（张*）" in page and "使用本人手机号 138****8000" in page
    assert 'name="mobile_choice" value="mine" checked' in page
    # The clear number and the full name are nowhere, not even in the hidden state.
    assert APPLICANT_PHONE not in flow.response.text and "张三" not in flow.response.text
    assert APPLICANT_ID not in flow.response.text
    assert 'action="/kiosk/courier/who"' in page and 'autocomplete="off"' in page
    # The typing boxes are for other names and numbers only; the system keyboard is off.
    assert re.search(r'name="name" value="" maxlength="30" inputmode="none"', page)
    assert re.search(r'name="mobile" value="" maxlength="11" inputmode="none"', page)


def test_who_without_a_mobile_on_record_asks_for_one(db, kiosk_client, make_application, make_booker, office, slot):
    log_in(db, kiosk_client, make_booker(phone=None))
    application = make_application("concluded")
    flow = Flow(kiosk_client, application.number)
    assert "使用本人手机号" not in flow.page and "您的登录信息中没有手机号" in flow.page
    assert flow.who(mobile_choice="other").status_code == 422 and "请输入 11 位手机号" in flow.page
    assert flow.who(mobile_choice="other", mobile="13912345678").status_code == 200
    assert "第 2 步" in flow.page and "13912345678" not in flow.page


@pytest.mark.parametrize("form, field, words", [
    ({"name_choice": "other", "name": ""}, "name", "请输入对方姓名"),
    ({"name_choice": "other", "name": "王" * 31}, "name", "请输入对方姓名"),
    ({"mobile_choice": "other", "mobile": "12345"}, "mobile", "请输入 11 位手机号"),
    ({"mobile_choice": "other", "mobile": ""}, "mobile", "请输入 11 位手机号"),
    ({"mobile_choice": "sms"}, "mobile_choice", "请选择手机号"),
    ({"name_choice": "other", "name": "王\x00五"}, "name", "请输入对方姓名"),
])
def test_bad_input_on_who_comes_back_naming_the_field(kiosk_client, make_application, resident_at_kiosk, office,
                                                      form, field, words):
    flow = Flow(kiosk_client, make_application("concluded").number)
    response = flow.who(**form)
    assert response.status_code == 422 and "请按提示改正下面标出的内容" in flow.page
    assert f'id="courier-{field}-error"' in flow.page
    assert words in flow.page and "第 1 步" in flow.page


def test_bad_input_is_named_in_english_too(kiosk_client, make_application, resident_at_kiosk, office):
    flow = Flow(kiosk_client, make_application("concluded").number, lang="en")
    assert "Post the result home" in flow.page and "Use my mobile number 138****8000" in flow.page
    flow.response = kiosk_client.post("/kiosk/courier/who?lang=en", data={"s": state_of(flow.page),
                                                                         "name_choice": "self",
                                                                         "mobile_choice": "other", "mobile": "1"})
    assert flow.response.status_code == 422
    assert "Enter an 11-digit mobile number starting with 1" in flow.response.text


# ---------------------------------------------------------------- screen 2: where

def test_the_division_picker_gives_the_children_of_a_division(kiosk_client, resident_at_kiosk):
    provinces = kiosk_client.get("/kiosk/courier/divisions").json["children"]
    assert {"code": "36", "name": "江西省"} in provinces and len(provinces) >= 31
    cities = kiosk_client.get("/kiosk/courier/divisions?parent=36").json["children"]
    assert {"code": "3604", "name": "九江市"} in cities and all(c["code"].startswith("36") for c in cities)
    counties = kiosk_client.get("/kiosk/courier/divisions?parent=3604").json["children"]
    assert {"code": "360403", "name": "浔阳区"} in counties
    for bad in ("99", "abc", "360403", "1", "%00"):
        assert kiosk_client.get(f"/kiosk/courier/divisions?parent={bad}").status_code == 404


def test_where_opens_the_picker_at_the_kiosks_city_and_saves_a_new_address(db, kiosk_client, make_application,
                                                                           resident_at_kiosk, office, slot):
    flow = Flow(kiosk_client, make_application("concluded").number)
    flow.who()
    page = flow.page
    assert "第 2 步，共 4 步" in page and "您还没有保存的地址" in page
    # The test site is in 九江市 (3604): its counties are the first buttons, tap-only.
    assert 'id="courier-province" value="36"' in page and 'id="courier-city" value="3604"' in page
    assert re.search(r'<button type="button" class="division" data-code="360403" aria-pressed="false">浔阳区</button>',
                     page)
    assert 'data-url="/kiosk/courier/divisions"' in page and 'data-pinyin-url="/kiosk/courier/pinyin.json"' in page
    assert flow.where().status_code == 200 and "第 3 步" in flow.page
    flow.when(slot)
    assert "江西省九江市浔阳区浔阳路 118 号 3 栋 501 室" in flow.page
    flow.confirm()
    [saved] = db.session.scalars(sa.select(SavedAddress)).all()
    assert saved.county_code == "360403" and saved.is_default and saved.mobile_masked == "138****8000"


def test_a_saved_default_address_is_preselected(db, kiosk_client, make_application, resident_at_kiosk, office, slot):
    from kiosk_backend.courier import services

    for label, county, default in (("单位", "360402", False), ("家", "360403", True)):
        services.save_address(db.session, resident_at_kiosk, services.PartyIn(
            name="张三", mobile=None, province_code="36", city_code="3604", county_code=county,
            address=f"{label}路 9 号"), label=label, is_default=default, actor=SYSTEM)
    db.session.commit()
    home = db.session.scalar(sa.select(SavedAddress).where(SavedAddress.label == "家"))
    flow = Flow(kiosk_client, make_application("concluded").number)
    flow.who()
    assert f'name="choice" value="saved:{home.id}" checked' in flow.page and "家路 9 号" in flow.page
    # Taps only: the preselected address goes on as it is.
    assert flow.post("where", choice=f"saved:{home.id}").status_code == 200 and "第 3 步" in flow.page
    flow.when(slot)
    flow.confirm()
    [booking] = bookings(db)
    assert booking.recipient_county == "360403" and booking.recipient_address == "家路 9 号"


@pytest.mark.parametrize("form, fields", [
    ({"county_code": ""}, {"county_code"}),
    ({"city_code": "4403", "county_code": "440303"}, {"city_code"}),  # 深圳 is not in 江西
    ({"county_code": "360402x"}, {"county_code"}),
    ({"address": "浔阳"}, {"address"}),
    ({"address": "路" * 121}, {"address"}),
    ({"choice": "saved:999999"}, {"choice"}),
    ({"choice": "elsewhere"}, {"choice"}),
])
def test_bad_input_on_where_comes_back_naming_the_field(kiosk_client, make_application, resident_at_kiosk, office,
                                                        form, fields):
    flow = Flow(kiosk_client, make_application("concluded").number)
    flow.who()
    response = flow.where(**form)
    assert response.status_code == 422 and "第 2 步" in flow.page
    for field in fields:
        assert f'id="courier-{field}-error"' in flow.page, field


# ---------------------------------------------------------------- screen 3: when

def test_when_shows_places_left_and_full_slots_as_full(db, kiosk_client, make_application, resident_at_kiosk,
                                                       office, make_slot):
    open_slot = make_slot(starts="09:00", ends="11:00", capacity=5, taken=2)
    full = make_slot(starts="14:00", ends="16:00", capacity=2, taken=2)
    flow = Flow(kiosk_client, make_application("concluded").number)
    flow.who(), flow.where()
    page = flow.page
    assert "第 3 步，共 4 步" in page and "到本网点柜台交寄" in page and "九江浔阳路邮政营业所" in page
    assert re.search(rf'value="{open_slot.id}"[^>]*>\s*<span><strong>09:00–11:00</strong>\s*'
                     r'<span class="slot-left">剩 3 个</span>', page)
    assert re.search(rf'value="{full.id}" disabled>\s*<span><strong>14:00–16:00</strong>\s*'
                     r'<span class="slot-left"><span aria-hidden="true">✕ </span>已满</span>', page)
    response = flow.when(full)
    assert response.status_code == 422 and "这个时段已约满，请另选一个" in flow.page
    assert flow.when(open_slot).status_code == 200 and "第 4 步" in flow.page


def test_a_slot_of_another_site_or_none_is_refused(db, kiosk_client, make_application, resident_at_kiosk, office,
                                                   make_slot, site2):
    elsewhere = make_slot(site=site2)
    flow = Flow(kiosk_client, make_application("concluded").number)
    flow.who(), flow.where()
    assert flow.when(elsewhere).status_code == 422 and "请选择一个时段" in flow.page
    assert flow.post("when", mode="counter").status_code == 422
    assert flow.post("when", mode="drone", slot="1").status_code == 422 and "请选择交寄方式" in flow.page


def test_no_slots_in_the_next_days_says_so(kiosk_client, make_application, resident_at_kiosk, office):
    flow = Flow(kiosk_client, make_application("concluded").number)
    flow.who(), flow.where()
    assert "近 7 天暂无可预约的时段" in flow.page and 'id="courier-next" disabled' in flow.page


# ---------------------------------------------------------------- screen 4: confirm

def test_the_return_leg_booked_in_four_screens(db, kiosk_client, make_application, resident_at_kiosk, office, slot):
    application = make_application("concluded")
    flow = Flow(kiosk_client, application.number)
    flow.who(), flow.where(), flow.when(slot)
    page = flow.page
    assert "第 4 步，共 4 步" in page and "请核对寄件信息" in page
    assert re.search(r'id="courier-contents">证照 · 1 件</dd>', page)
    assert re.search(r'id="courier-pickup">到网点交寄 · \d+月\d+日 周. 09:00–11:00</dd>', page)
    assert "政府付费，您无需支付" in page  # received and handled in 江西: the government pays
    response = flow.confirm()
    assert response.status_code == 303
    [booking] = bookings(db)
    assert response.headers["Location"] == f"/kiosk/courier/bookings/{booking.order_no}?booked=1"
    assert booking.purpose == "result_to_applicant" and booking.application_id == application.id
    assert booking.channel == "kiosk" and booking.kiosk_id == kiosk_client.kiosk.id
    assert booking.recipient_name == "张三" and booking.recipient_mobile_masked == "138****8000"
    assert booking.sender_name.startswith("九江市公安局") and booking.payer == "government"
    assert booking.status == "pending_pickup" and booking.slot_id == slot.id and booking.pickup_mode == "counter"
    done = kiosk_client.get(response.headers["Location"])
    page = main_of(done.text)
    assert done.status_code == 200 and "预约成功" in page and booking.order_no in page and "待揽收" in page
    assert "打印封面" in page and APPLICANT_PHONE not in done.text


def test_the_materials_leg_is_paid_by_the_sender_across_provinces(db, kiosk_client, make_application,
                                                                  resident_at_kiosk, slot):
    authorities.save_authority(db.session, authorities.AuthorityIn(**{
        **OFFICE, "org_name": "广州市公安局", "region_code": "440100", "province_code": "44", "city_code": "4401",
        "county_code": "440104", "address": "解放南路 155 号", "phone": "020-83115000"}), actor=SYSTEM)
    db.session.commit()
    application = make_application("in_progress", handling_org="广州市公安局", handling_region="440100",
                                   mode="proxy")
    flow = Flow(kiosk_client, application.number, leg="materials")
    assert "广州市公安局" in flow.page and "邮寄材料" in flow.page
    flow.who(), flow.where(), flow.when(slot)
    assert 'name="payer" value="sender" checked' in flow.page
    assert "以快递公司报价为准，预约成功后显示" in flow.page  # no carrier asked inside the request
    flow.confirm(payer="recipient")
    [booking] = bookings(db)
    assert booking.purpose == "materials_to_authority" and booking.payer == "recipient"
    assert booking.sender_name == "张三" and booking.recipient_county == "440104"


def test_confirming_twice_with_the_same_key_books_once(db, kiosk_client, make_application, resident_at_kiosk,
                                                       office, slot):
    flow = Flow(kiosk_client, make_application("concluded").number)
    flow.who(), flow.where(), flow.when(slot)
    form = {"s": state_of(flow.page), "key": key_of(flow.page)}
    first = kiosk_client.post("/kiosk/courier/confirm", data=form)
    second = kiosk_client.post("/kiosk/courier/confirm", data=form)
    assert first.status_code == second.status_code == 303
    assert second.headers["Location"] == first.headers["Location"]
    assert second.headers["Idempotent-Replayed"] == "true"
    assert len(bookings(db)) == 1
    assert db.session.get(PickupSlot, slot.id).taken == 1
    # The same key with another body (a changed form) is refused; nothing is booked.
    refused = kiosk_client.post("/kiosk/courier/confirm", data={**form, "payer": "sender"})
    assert refused.status_code == 422 and len(bookings(db)) == 1
    # A new confirm screen is a new key: a second booking is a new wish.
    again = kiosk_client.post("/kiosk/courier/step", data={"s": form["s"], "go": "confirm"}).text
    assert key_of(again) != form["key"]


def test_the_slot_taken_meanwhile_sends_back_to_when(db, kiosk_client, make_application, resident_at_kiosk, office,
                                                     make_slot):
    last = make_slot(capacity=1)
    flow = Flow(kiosk_client, make_application("concluded").number)
    flow.who(), flow.where(), flow.when(last)
    db.session.execute(sa.update(PickupSlot).where(PickupSlot.id == last.id).values(taken=1))
    db.session.commit()
    response = flow.confirm()
    assert response.status_code == 409 and "第 3 步" in flow.page and "这个时段已约满" in flow.page
    assert bookings(db) == []


def test_back_goes_to_the_screen_before_with_the_choices_kept(kiosk_client, make_application, resident_at_kiosk,
                                                              office, slot):
    flow = Flow(kiosk_client, make_application("concluded").number)
    flow.who(mobile_choice="other", mobile="13912345678")
    flow.where(), flow.when(slot)
    assert "139****5678" in flow.page and "13912345678" not in flow.page
    back = flow.post("step", go="when")
    assert back.status_code == 200 and "第 3 步" in flow.page and f'value="{slot.id}" checked' in flow.page
    flow.post("step", go="who")
    assert 'name="mobile_choice" value="other" checked' in flow.page and "139****5678" in flow.page
    # A screen not reached yet cannot be jumped to: the furthest reached is shown.
    fresh = Flow(kiosk_client, make_application("concluded").number)
    fresh.post("step", go="confirm")
    assert "第 1 步" in fresh.page


def test_the_state_is_sealed_and_bound_to_this_kiosk_and_login(app, db, kiosk_client, make_kiosk, make_application,
                                                               resident_at_kiosk, office):
    flow = Flow(kiosk_client, make_application("concluded").number)
    state = state_of(flow.page)
    assert state.startswith("v1.") and "张" not in state
    altered = state[:-3] + ("AAA" if not state.endswith("AAA") else "BBB")
    for bad in (altered, "", "v1.x"):
        response = kiosk_client.post("/kiosk/courier/who", data={"s": bad, "name_choice": "self"})
        assert response.status_code == 410 and "页面已失效" in response.text
    # The same resident logged in on another kiosk: the state does not open there.
    kiosk, credential = make_kiosk()
    other = app.test_client()
    other.set_cookie("kiosk_credential", credential)
    other.kiosk = kiosk
    log_in(db, other, resident_at_kiosk)
    assert other.post("/kiosk/courier/who", data={"s": state, "name_choice": "self"}).status_code == 410
    # After a logout and a new login on this kiosk: gone too.
    kiosk_client.post("/kiosk/logout")
    log_in(db, kiosk_client, resident_at_kiosk)
    assert kiosk_client.post("/kiosk/courier/who", data={"s": state, "name_choice": "self"}).status_code == 410


def test_the_screens_in_english_and_elder_mode(kiosk_client, make_application, resident_at_kiosk, office, slot):
    flow = Flow(kiosk_client, make_application("concluded").number)
    shown = kiosk_client.post("/kiosk/courier/step?lang=en&elder=1", data={"s": state_of(flow.page), "go": "who"})
    assert shown.status_code == 200 and '<html lang="en">' in shown.text
    assert re.search(r'<body class="kiosk [^"]*\belder\b', shown.text)
    assert "Step 1 of 4" in shown.text and "Sender and recipient" in shown.text
    flow.page = shown.text
    flow.response = kiosk_client.post("/kiosk/courier/who", data={"s": state_of(flow.page), "name_choice": "self",
                                                                 "mobile_choice": "mine"})
    assert "Choose the county or district" in flow.response.text and "Street and number" in flow.response.text


# ---------------------------------------------------------------- the booking and its printouts

@pytest.fixture
def booked(db, kiosk_client, make_application, resident_at_kiosk, office, slot):
    flow = Flow(kiosk_client, make_application("concluded").number)
    flow.who(), flow.where(), flow.when(slot)
    flow.confirm()
    return bookings(db)[0]


def test_someone_elses_booking_is_not_found(db, kiosk_client, booked, make_booker):
    kiosk_client.post("/kiosk/logout")
    log_in(db, kiosk_client, make_booker("李四", id_number=OTHER_ID, phone="13800000003"))
    foreign = kiosk_client.get(f"/kiosk/courier/bookings/{booked.order_no}")
    unknown = kiosk_client.get("/kiosk/courier/bookings/KB20260301ABCDEFGH")
    malformed = kiosk_client.get("/kiosk/courier/bookings/x")
    assert foreign.status_code == unknown.status_code == malformed.status_code == 404
    assert main_of(foreign.text) == main_of(unknown.text) == main_of(malformed.text)
    for suffix in ("/cover?paper=thermal80", "/cover.png?paper=thermal80", "/label", "/label.png"):
        assert kiosk_client.get(f"/kiosk/courier/bookings/{booked.order_no}{suffix}").status_code == 404, suffix
    assert kiosk_client.post(f"/kiosk/courier/bookings/{booked.order_no}/cover/print?paper=thermal80").status_code == 404


def test_the_cover_sheet_prints_once_per_tap(kiosk_client, booked):
    limiter.reset()
    page = main_of(kiosk_client.get(f"/kiosk/courier/bookings/{booked.order_no}").text)
    assert f'id="courier-cover" href="/kiosk/courier/bookings/{booked.order_no}/cover?paper=thermal80"' in page
    screen = kiosk_client.get(f"/kiosk/courier/bookings/{booked.order_no}/cover?paper=thermal80")
    assert screen.status_code == 200 and 'id="print-status"' in screen.text and 'id="printout"' in screen.text
    png = kiosk_client.get(f"/kiosk/courier/bookings/{booked.order_no}/cover.png?paper=thermal80")
    assert png.mimetype == "image/png" and png.headers["Cache-Control"] == "no-store"
    assert Image.open(io.BytesIO(png.data)).width == 576
    job = f"/kiosk/courier/bookings/{booked.order_no}/cover/print?paper=thermal80"
    assert kiosk_client.post(job).status_code == 202
    twice = kiosk_client.post(job)
    assert twice.status_code == 409 and twice.headers["Retry-After"] == "3"
    assert kiosk_client.get(f"/kiosk/courier/bookings/{booked.order_no}/cover.png?paper=a4").status_code == 404
    assert kiosk_client.get(f"/kiosk/courier/bookings/{booked.order_no}/cover.png?paper=a3").status_code == 400
    limiter.reset()


def test_the_print_screen_says_where_the_waybill_number_will_be_when_the_carrier_has_not_given_it(
        db, kiosk_client, booked):
    limiter.reset()
    early = kiosk_client.get(f"/kiosk/courier/bookings/{booked.order_no}/cover?paper=thermal80").text
    assert 'id="print-waybill-later"' in early
    assert f"封面上印的是预约单号 {booked.order_no}" in early and "运单号会印在快递面单上" in early
    assert "办理机关扫码" not in early  # the result sent home: the authority sends it, the resident receives it
    db.session.execute(sa.update(Booking).where(Booking.id == booked.id).values(waybill_no="EA000000001CN"))
    db.session.commit()
    later = kiosk_client.get(f"/kiosk/courier/bookings/{booked.order_no}/cover?paper=thermal80").text
    assert 'id="printout"' in later and 'id="print-waybill-later"' not in later
    limiter.reset()


def test_the_print_screen_of_the_materials_leg_says_the_authority_scans_the_booking_number_just_the_same(
        db, kiosk_client, make_application, resident_at_kiosk, office, slot):
    limiter.reset()
    flow = Flow(kiosk_client, make_application("in_progress").number, leg="materials")
    flow.who(), flow.where(), flow.when(slot)
    flow.confirm()
    [booking] = bookings(db)
    assert booking.purpose == "materials_to_authority" and booking.waybill_no is None
    screen = kiosk_client.get(f"/kiosk/courier/bookings/{booking.order_no}/cover?paper=thermal80").text
    assert f"封面上印的是预约单号 {booking.order_no}，办理机关扫码同样能登记" in screen
    limiter.reset()


def test_the_label_preview_only_when_the_carrier_gave_one(db, kiosk_client, booked):
    assert 'id="courier-label"' not in kiosk_client.get(f"/kiosk/courier/bookings/{booked.order_no}").text
    assert kiosk_client.get(f"/kiosk/courier/bookings/{booked.order_no}/label").status_code == 404
    out = io.BytesIO()
    Image.new("L", (400, 600), 255).save(out, format="PNG")
    booked.label_png, booked.waybill_no = out.getvalue(), "EA123456789CN"
    db.session.commit()
    page = kiosk_client.get(f"/kiosk/courier/bookings/{booked.order_no}").text
    assert f'id="courier-label" href="/kiosk/courier/bookings/{booked.order_no}/label"' in page
    assert "EA123456789CN" in page
    label = kiosk_client.get(f"/kiosk/courier/bookings/{booked.order_no}/label")
    assert label.status_code == 200 and "本机没有面单打印机" in label.text and "100 × 150 毫米" in label.text
    image = kiosk_client.get(f"/kiosk/courier/bookings/{booked.order_no}/label.png")
    assert image.mimetype == "image/png" and Image.open(io.BytesIO(image.data)).size == (400, 600)
    # Something that is not a label picture (a carrier's error page): no preview at all.
    booked.label_png = b"<html>error</html>"
    db.session.commit()
    assert kiosk_client.get(f"/kiosk/courier/bookings/{booked.order_no}/label.png").status_code == 404


def test_the_pinyin_table_is_public_and_cached(kiosk_client):
    response = kiosk_client.get("/kiosk/courier/pinyin.json")
    assert response.status_code == 200 and "max-age" in response.headers["Cache-Control"]
    table = response.json["table"]
    assert "浔" in table["xun"] and table["jiu"].startswith("九") and "路" in response.json["words"]


def test_nothing_of_the_flow_is_kept_by_the_browser(kiosk_client, make_application, resident_at_kiosk, office,
                                                    slot):
    flow = Flow(kiosk_client, make_application("concluded").number)
    for response in (flow.response, flow.who(), flow.where(), flow.when(slot)):
        assert response.headers["Cache-Control"] == "no-store"
        assert not any(h.startswith(("s=", "courier")) for h in response.headers.getlist("Set-Cookie"))
    assert residents.unseal(state_of(flow.page), purpose=courier_kiosk.FLOW_AAD)  # only the server can read it


def test_every_field_of_the_screens_has_its_words_in_both_languages():
    from kiosk_backend.core.i18n import catalogue

    for form in (courier_kiosk.WhoForm, courier_kiosk.WhereForm, courier_kiosk.WhenForm, courier_kiosk.ConfirmForm):
        for field in form().fields:
            entry = catalogue().get(f"courier.kiosk.error.{field}")
            assert entry and entry.get("zh-CN") and entry.get("en"), (form.__name__, field)


def test_a_second_tap_while_the_first_is_still_booking_waits_and_then_shows_the_booking(
        app, db, kiosk_client, make_application, resident_at_kiosk, office, slot):
    from kiosk_backend.core import idempotency

    flow = Flow(kiosk_client, make_application("concluded").number)
    flow.who(), flow.where(), flow.when(slot)
    form = {"s": state_of(flow.page), "key": key_of(flow.page)}
    scope = f"kiosk:{kiosk_client.kiosk.id}:r{resident_at_kiosk.id}"
    with app.test_request_context("/kiosk/courier/confirm", method="POST", data=form):
        keep, lease = idempotency.settings()
        claim = idempotency.begin(scope, form["key"], idempotency.request_hash(), keep=keep, lease=lease)
    waiting = kiosk_client.post("/kiosk/courier/confirm", data=form)
    page = main_of(waiting.text)
    assert waiting.status_code == 409 and "正在预约，请稍候" in page and bookings(db) == []
    # The wait screen sends the very same form again (courier.js, after a few seconds).
    assert state_of(page) == form["s"] and key_of(page) == form["key"]
    assert 'action="/kiosk/courier/confirm"' in page and 'data-retry-seconds="3"' in page
    # The first request dies without an answer; once its lease is over, the retry books.
    with app.app_context():
        db.session.execute(sa.update(idempotency.IdempotencyKey).where(idempotency.IdempotencyKey.claim == claim.token)
                           .values(lease_until=claim.lease_until.replace(year=2000)))
        db.session.commit()
    retried = kiosk_client.post("/kiosk/courier/confirm", data=form)
    assert retried.status_code == 303 and len(bookings(db)) == 1


def test_a_standalone_booking_from_the_guide_prints_the_items_checklist(db, kiosk_client, make_items,
                                                                        resident_at_kiosk, office, slot):
    from kiosk_backend.courier import coversheet

    make_items(item_row(task_code="EXPRESS02", task_name="护照补办", dept_name="九江市公安局", is_express=True,
                        materials=[{"name": "护照遗失声明", "type": "原件", "form": "纸质", "paper_copies": 1}]))
    flow = Flow(kiosk_client, item="EXPRESS02")
    assert flow.response.status_code == 200 and "护照补办" in flow.page and "邮寄材料 · 寄件人和收件人" in flow.page
    assert flow.page.index("寄件人") < flow.page.index("收件人")  # she sends, the office receives
    flow.who(), flow.where(), flow.when(slot)
    assert 'name="payer" value="sender" checked' in flow.page
    location = flow.confirm().headers["Location"]
    [booking] = bookings(db)
    assert booking.purpose == "standalone" and booking.application_id is None and booking.payer == "sender"
    assert location == f"/kiosk/courier/bookings/{booking.order_no}?item=EXPRESS02&booked=1"
    page = kiosk_client.get(location).text
    cover = f"/kiosk/courier/bookings/{booking.order_no}/cover?paper=thermal80&amp;item=EXPRESS02"
    assert cover in page
    # The cover sheet's checklist is the item's.
    with kiosk_client.application.test_request_context(f"/kiosk/courier/bookings/{booking.order_no}/cover.png",
                                                       query_string={"item": "EXPRESS02"}):
        from flask import g

        g.kiosk = kiosk_client.kiosk
        blocks = courier_kiosk._cover_blocks(db.session.get(Booking, booking.id))
    assert [b.text for b in blocks if b.kind == "check"] == ["护照遗失声明（原件，1 份）"]
    assert blocks[0].text == "邮寄材料封面" and coversheet.parse_cover_payload(
        next(b.payload for b in blocks if b.kind == "qr")).application_number is None
    png = kiosk_client.get(f"/kiosk/courier/bookings/{booking.order_no}/cover.png?paper=thermal80&item=EXPRESS02")
    assert png.status_code == 200


def test_staff_logged_in_at_the_kiosk_get_the_login_prompt_too(db, kiosk_client, make_application, make_staff,
                                                               office):
    from kiosk_backend.identity import sessions
    from kiosk_backend.identity.kiosk import COOKIE

    helper = make_staff("helper1", role="helper")
    _, token = sessions.start(db.session, channel="kiosk", staff=helper, kiosk_id=kiosk_client.kiosk.id,
                              idle_seconds=300, absolute_seconds=900, actor=SYSTEM)
    db.session.commit()
    kiosk_client.set_cookie(COOKIE, token, path="/kiosk")
    application = make_application("concluded")
    response = kiosk_client.get(START, query_string={"application": application.number, "leg": "result"})
    assert response.status_code == 401 and "请先登录" in response.text
    assert 'id="courier-login-button"' not in response.text  # someone is logged in here already
