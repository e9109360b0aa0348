"""Schemas of the mini-app's courier API (courier/api.py).

In: :class:`BookingIn` mirrors ``services.BookingIn`` field by field with the strict types a
client must send (an integer is a JSON integer, a flag is ``true``/``false``, text is one line
without control characters), the codes of courier/states.py as enums, a mainland mobile
number's pattern and the division codes of the shipped GB/T 2260 data (2, 4 and 6 digits; the
city must be in the province and the county in the city, checked here so the 422 names the
nested field: ``json.sender.county_code``). The service checks the same again and the rules no
schema can know (the slot is the site's and open, the application is the resident's).

Out: the Out schemas dump :func:`services.view` — the one view every surface renders — field
by field: masked names and mobile numbers only. Like the applications schemas, every coded
value is sent twice, as a **code** (``status`` ``"in_transit"``) and as its **zh-CN words**
from the message catalogue (``status_text`` 运输中), so the mini-app needs no copy of the
catalogue; codes are the contract, words may be reworded.
"""
from __future__ import annotations

import re

import marshmallow as ma
from marshmallow import fields, validate

from ..applications import services as applications
from ..core.errors import Invalid
from ..core.i18n import translate
from ..core.payloads import Schema
from ..fleet.schemas import JSONBoolean
from ..sites import divisions
from . import services, states

LANG = "zh-CN"  # the language of the *_text fields

STATUSES = [s.value for s in states.Status]
PURPOSES = [p.value for p in states.Purpose]
ITEM_TYPES = [t.value for t in states.ItemType]
PAYERS = [p.value for p in states.Payer]
PICKUP_MODES = [m.value for m in states.PickupMode]
ORDER_STATES = [s.value for s in states.OrderState]
LEGS = [states.Purpose.MATERIALS_TO_AUTHORITY.value, states.Purpose.RESULT_TO_APPLICANT.value]

MAX_PIECES = services.MAX_PIECES  # 20
MAX_WEIGHT_GRAMS = services.MAX_WEIGHT_GRAMS  # 30 kg
MAX_INSURED_FEN = services.MAX_INSURED_FEN  # 50,000 yuan
MAX_ID = 2**31 - 1  # ids are database integers: a larger one is no id at all (not a 500 on PostgreSQL)

_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
# A mainland mobile number, or an office's fixed line (a handling authority's 收件窗口, as the
# prefill gives it): the service takes both (services.normalize_contact).
CONTACT_PATTERN = r"^(1[3-9][0-9]{9}|0[0-9]{2,3}-?[0-9]{7,8})$"
# One line without blanks at either end: what the service keeps after stripping is what was sent.
LINE_PATTERN = "^[^\\s\\u0000-\\u001f\\u007f]([^\\u0000-\\u001f\\u007f]*[^\\s\\u0000-\\u001f\\u007f])?$"
_LINE = re.compile(LINE_PATTERN)


# ---------------------------------------------------------------- validators

def _line(value: str) -> None:
    """One line of text with no blank at either end and no control characters."""
    if not _LINE.fullmatch(value):
        raise ma.ValidationError("One line, no control characters, no blanks at either end / "
                                 "须为一行文字，不含控制字符，首尾不能是空格")


_line.openapi = {"pattern": LINE_PATTERN}  # the same rule, for the document


def _plain_text(value: str) -> None:
    """One line of text: no control characters."""
    if _CONTROL.search(value):
        raise ma.ValidationError("No control characters allowed / 不能包含控制字符")


_plain_text.openapi = {"pattern": "^[^\\u0000-\\u001f\\u007f]*$"}


def _pattern(pattern: str, error: str):
    """A validator: the whole value matches ``pattern`` (documented as the property's pattern;
    a trailing newline does not slip through as it would past ``$`` with re.match)."""
    compiled = re.compile(pattern)

    def check(value: str) -> None:
        if not compiled.fullmatch(value):
            raise ma.ValidationError(error)

    check.openapi = {"pattern": pattern}
    return check


def _digits(count: int, what_en: str, what_zh: str):
    return _pattern(f"^[0-9]{{{count}}}$", f"{what_en} is {count} digits / {what_zh}为 {count} 位数字")


def _application_number(value: str) -> None:
    try:
        applications.normalize_number(value)
    except Invalid as exc:
        raise ma.ValidationError(f"{exc.message} / {exc.message_zh}") from None


_application_number.openapi = {"pattern": "^[0-9A-Za-z][0-9A-Za-z-]{5,39}$"}


def _id(**kwargs) -> fields.Integer:
    return fields.Integer(strict=True, validate=validate.Range(min=1, max=MAX_ID), **kwargs)


def _name(**kwargs) -> fields.String:
    return fields.String(validate=[validate.Length(min=1, max=50), _line], **kwargs)


def _address(**kwargs) -> fields.String:
    return fields.String(validate=[validate.Length(min=2, max=200), _line], **kwargs)


def _mobile(**kwargs) -> fields.String:
    rule = _pattern(CONTACT_PATTERN, "A mainland mobile number (11 digits starting 13–19) or an office line "
                                     "(0792-8221234) / 请输入 11 位手机号码或单位固定电话")
    return fields.String(validate=rule, **kwargs)


# ---------------------------------------------------------------- in

class PartyIn(Schema):
    """A sender or recipient. ``mobile`` is left out (null) when the booking says to use the
    number on record: the resident's own (``*_uses_resident_mobile``) or the one kept in an
    address-book entry (``*_address_id``); it is then read server-side, never sent back."""

    name = _name(required=True, metadata={"description": "姓名 or the office's name, 1–50 characters"})
    mobile = _mobile(load_default=None, allow_none=True, metadata={
        "description": "11-digit mainland mobile number, or an office line (0792-8221234); null: the number on "
                       "record (with *_uses_resident_mobile or *_address_id)"})
    province_code = fields.String(required=True, validate=_digits(2, "A province code", "省级代码"),
                                  metadata={"description": "GB/T 2260, e.g. 36"})
    city_code = fields.String(required=True, validate=_digits(4, "A city code", "市级代码"),
                              metadata={"description": "GB/T 2260, in the province, e.g. 3604"})
    county_code = fields.String(required=True, validate=_digits(6, "A county code", "县级代码"),
                                metadata={"description": "GB/T 2260, in the city, e.g. 360403"})
    address = _address(required=True, metadata={"description": "街道、门牌号 (the divisions are not repeated)"})
    postcode = fields.String(load_default=None, allow_none=True, validate=_digits(6, "A postcode", "邮政编码"))

    @ma.validates_schema(skip_on_field_errors=True)
    def _divisions(self, data, **kwargs):
        problems = divisions.validate_codes(data["province_code"], data["city_code"], data["county_code"])
        if problems:
            raise ma.ValidationError({field: [f"{en} / {zh}"] for field, en, zh in problems})


class BookingIn(Schema):
    """A booking as the resident makes it (services.BookingIn). The carrier is the
    deployment's (KIOSK_COURIER_CARRIER), not the resident's choice."""

    purpose = fields.String(required=True, validate=validate.OneOf(PURPOSES), metadata={
        "description": "materials_to_authority (邮寄材料), result_to_applicant (结果寄回家) or standalone"})
    application_number = fields.String(load_default=None, allow_none=True, validate=_application_number,
                                       metadata={"description": "办件编号: required for the two application "
                                                                "legs, and the application must be yours"})
    sender = fields.Nested(PartyIn, required=True)
    recipient = fields.Nested(PartyIn, required=True)
    item_type = fields.String(required=True, validate=validate.OneOf(ITEM_TYPES),
                              metadata={"description": "licence (证照) or materials (材料)"})
    pieces = fields.Integer(load_default=1, strict=True, validate=validate.Range(min=1, max=MAX_PIECES))
    weight_grams = fields.Integer(required=True, strict=True, validate=validate.Range(min=1, max=MAX_WEIGHT_GRAMS),
                                  metadata={"description": "Declared weight in grams"})
    insured_value_fen = fields.Integer(load_default=0, strict=True,
                                       validate=validate.Range(min=0, max=MAX_INSURED_FEN),
                                       metadata={"description": "保价, in fen (at most 50,000 yuan)"})
    payer = fields.String(required=True, validate=validate.OneOf(PAYERS),
                          metadata={"description": "government (政府付费), recipient (到付) or sender (寄付)"})
    pickup_mode = fields.String(required=True, validate=validate.OneOf(PICKUP_MODES),
                                metadata={"description": "counter (到网点交寄) or home (上门揽收)"})
    site_id = _id(required=True, metadata={"description": "The site whose pickup slot is taken (SlotOut.site_id)"})
    slot_id = _id(required=True, metadata={"description": "An open slot from GET /api/v1/pickup-slots"})
    sender_uses_resident_mobile = JSONBoolean(load_default=False, metadata={
        "description": "The sender's mobile is your own number on record (sender.mobile null)"})
    recipient_uses_resident_mobile = JSONBoolean(load_default=False, metadata={
        "description": "The recipient's mobile is your own number on record (recipient.mobile null)"})
    sender_address_id = _id(load_default=None, allow_none=True, metadata={
        "description": "The sender's mobile is the one kept in this entry of your address book (sender.mobile null)"})
    recipient_address_id = _id(load_default=None, allow_none=True, metadata={
        "description": "The recipient's mobile is the one kept in this entry of your address book "
                       "(recipient.mobile null)"})

    @ma.validates_schema(skip_on_field_errors=True)
    def _who_and_what(self, data, **kwargs):
        errors: dict = {}
        for side in ("sender", "recipient"):
            on_record = [data[f"{side}_uses_resident_mobile"], data[f"{side}_address_id"] is not None]
            if all(on_record):
                errors[f"{side}_address_id"] = [f"Not with {side}_uses_resident_mobile / 与使用本人手机号只能选一"]
            elif data[side]["mobile"] is None and not any(on_record):
                errors[side] = {"mobile": ["A mobile number is required / 请填写手机号码"]}
            elif data[side]["mobile"] is not None and any(on_record):
                errors[side] = {"mobile": ["Leave it empty to use the number on record / "
                                           "使用已保存的号码时请勿另填号码"]}
        if data["purpose"] in LEGS and not data["application_number"]:
            errors["application_number"] = ["Required for this purpose / 该寄递用途须填写办件编号"]
        if errors:
            raise ma.ValidationError(errors)


class AddressIn(PartyIn):
    """An entry of the resident's address book (mobile null: the resident's own number)."""

    mobile = _mobile(load_default=None, allow_none=True, metadata={
        "description": "11-digit mainland mobile number or an office line; null: your own number on record"})
    label = fields.String(load_default=None, allow_none=True, validate=[validate.Length(max=20), _plain_text],
                          metadata={"description": "家 / 单位"})
    is_default = JSONBoolean(load_default=False, metadata={
        "description": "Becomes the default address (your first address is the default anyway)"})


class PageArgs(Schema):
    page = fields.Integer(load_default=1, validate=validate.Range(min=1, max=1000))
    page_size = fields.Integer(load_default=20, validate=validate.Range(min=1, max=50))


class SlotArgs(Schema):
    site = fields.String(required=True, validate=_pattern(
        "^[A-Z0-9]{2,12}$", "2–12 capital letters or digits / 网点编号须为 2–12 位大写字母或数字"),
        metadata={"description": "The site's code (e.g. JZ01)"})
    from_ = fields.Date(data_key="from", load_default=None, metadata={
        "description": "The first day (China time); default today. Open slots of 7 days from it are listed"})


class PrefillArgs(Schema):
    purpose = fields.String(required=True, validate=validate.OneOf(PURPOSES))
    application = fields.String(load_default=None, validate=_application_number, metadata={
        "description": "办件编号 of one of your applications: required for the two application legs"})

    @ma.validates_schema(skip_on_field_errors=True)
    def _leg_needs_application(self, data, **kwargs):
        if data["purpose"] in LEGS and not data["application"]:
            raise ma.ValidationError({"application": ["Required for this purpose / 该寄递用途须填写办件编号"]})


class SlotChangeIn(Schema):
    slot_id = _id(required=True, metadata={"description": "The new pickup window: one of the booking's site's slots "
                                                          "(GET /pickup-slots)"})


class CancelIn(Schema):
    reason = fields.String(load_default=None, allow_none=True, validate=[validate.Length(max=100), _plain_text],
                           metadata={"description": "Why (optional, kept with the booking)"})


# ---------------------------------------------------------------- words

class Words(fields.String):
    """A message key of the view as its zh-CN words (``courier.status.in_transit`` → 运输中)."""

    def __init__(self, **kwargs):
        super().__init__(dump_only=True, **kwargs)

    def _serialize(self, value, attr, obj, **kwargs):
        return None if value is None else translate(value, LANG)


def _text(description: str, **kwargs) -> Words:
    return Words(required=True, metadata={"description": f"{description} (zh-CN words)"}, **kwargs)


def _code(choices: list[str], description: str, **kwargs) -> fields.String:
    return fields.String(required=True, validate=validate.OneOf(choices), metadata={"description": description},
                         **kwargs)


# ---------------------------------------------------------------- out

class PartyOut(Schema):
    """A booking's sender or recipient: name and mobile masked."""

    name_masked = fields.String(required=True, metadata={"description": "张三 → 张*"})
    mobile_masked = fields.String(required=True, metadata={"description": "138****8000, or an office line's "
                                                                          "area code and last 4"})
    province_code = fields.String(required=True)
    city_code = fields.String(required=True)
    county_code = fields.String(required=True)
    region = fields.String(required=True, metadata={"description": "The divisions' full name: 江西省九江市浔阳区"})
    address = fields.String(required=True)
    postcode = fields.String(required=True, allow_none=True)


class SlotOfBooking(Schema):
    id = fields.Integer(required=True)
    day = fields.Date(required=True, metadata={"description": "China time"})
    starts = fields.String(required=True, metadata={"description": "HH:MM, China time"})
    ends = fields.String(required=True, metadata={"description": "HH:MM, China time"})


class BookingSummary(Schema):
    """One line of "my bookings"."""

    order_no = fields.String(required=True, metadata={"description": "Our order number (KB…), also the carrier's "
                                                                     "order id"})
    purpose = _code(PURPOSES, "What the parcel is for")
    purpose_text = _text("邮寄材料 / 结果寄回家 / 寄件", attribute="purpose_key")
    application_number = fields.String(required=True, allow_none=True, metadata={"description": "The linked 办件编号"})
    status = _code(STATUSES, "Where the parcel is (normalised: 待揽收, 已收寄, 运输中, 派送中, 已签收, 投递失败, 待自取, "
                             "退回, 已取消, 异常)")
    status_text = _text("The status", attribute="status_key")
    status_at = fields.DateTime(required=True, metadata={"description": "When the parcel reached this status"})
    order_state = _code(ORDER_STATES, "Where our order stands at the carrier")
    order_state_text = _text("The order's state", attribute="order_state_key")
    pickup_mode = _code(PICKUP_MODES, "Handed in at the counter, or picked up at home")
    pickup_mode_text = _text("The pickup mode", attribute="pickup_mode_key")
    slot = fields.Nested(SlotOfBooking, required=True, allow_none=True,
                         metadata={"description": "The pickup window (null once released by a cancellation "
                                                  "or by an administrator)"})
    carrier = fields.String(required=True)
    waybill_no = fields.String(required=True, allow_none=True, metadata={"description": "运单号, once the carrier "
                                                                                        "gave it"})
    cancellable = fields.Boolean(required=True, metadata={"description": "Whether POST …/cancel can still cancel it "
                                                                         "(before pickup only)"})
    created_at = fields.DateTime(required=True)


class TraceOut(Schema):
    """One entry of the parcel's timeline, newest first: our own (booked, cancelled) and the
    carrier's traces as it reported them."""

    status = _code(STATUSES, "The normalised status the event says")
    status_text = _text("The status", attribute="status_key")
    text = fields.String(required=True, attribute="raw_text", metadata={"description": "As the carrier wrote it: "
                                                                                      "【九江市浔阳路营业厅】已收寄"})
    code = fields.String(required=True, allow_none=True, attribute="raw_code",
                         metadata={"description": "The carrier's own code"})
    location = fields.String(required=True, allow_none=True)
    occurred_at = fields.DateTime(required=True)
    source = _code(sorted(services.SOURCES), "ours (booked, cancelled), push or poll (the carrier)")
    applied = fields.Boolean(required=True, metadata={"description": "Whether it moved the parcel's status (older "
                                                                     "or repeated news is kept but does not)"})


class BookingOut(BookingSummary):
    """One booking as its resident may see it: masked parties, what is sent, the timeline."""

    problem = fields.String(required=True, allow_none=True, attribute="problem",
                            metadata={"description": "Why the carrier refused the order (order_state failed)"})
    sender = fields.Nested(PartyOut, required=True)
    recipient = fields.Nested(PartyOut, required=True)
    item_type = _code(ITEM_TYPES, "证照 or 材料")
    item_type_text = _text("The item type", attribute="item_type_key")
    pieces = fields.Integer(required=True)
    weight_grams = fields.Integer(required=True)
    insured_value_fen = fields.Integer(required=True)
    payer = _code(PAYERS, "Who pays")
    payer_text = _text("Who pays", attribute="payer_key")
    site_id = fields.Integer(required=True)
    company = fields.String(required=True, allow_none=True, metadata={"description": "The express company "
                                                                                     "(ems, youzhengguonei …)"})
    quote_fen = fields.Integer(required=True, allow_none=True, metadata={"description": "The carrier's price, in "
                                                                                       "fen, when known"})
    cancelled_at = fields.DateTime(required=True, allow_none=True)
    timeline = fields.List(fields.Nested(TraceOut), required=True)


class BookingPage(Schema):
    """A page of the resident's bookings, newest first."""

    items = fields.List(fields.Nested(BookingSummary), required=True)
    page = fields.Integer(required=True)
    page_size = fields.Integer(required=True)
    has_more = fields.Boolean(required=True, metadata={"description": "Whether page + 1 has more"})


class SlotOut(Schema):
    """An open pickup window."""

    id = fields.Integer(required=True, metadata={"description": "Send as slot_id"})
    site_id = fields.Integer(required=True, metadata={"description": "Send as site_id"})
    site = fields.String(required=True, metadata={"description": "The site's code"})
    day = fields.Date(required=True, metadata={"description": "China time"})
    starts = fields.String(required=True, metadata={"description": "HH:MM, China time"})
    ends = fields.String(required=True, metadata={"description": "HH:MM, China time"})
    places_left = fields.Integer(required=True)


class SlotList(Schema):
    items = fields.List(fields.Nested(SlotOut), required=True)


class AddressOut(Schema):
    """An entry of the address book: the name as the resident typed it, the mobile masked."""

    id = fields.Integer(required=True, metadata={"description": "Send as sender_address_id / recipient_address_id"})
    label = fields.String(required=True, allow_none=True)
    name = fields.String(required=True)
    mobile_masked = fields.String(required=True)
    province_code = fields.String(required=True)
    city_code = fields.String(required=True)
    county_code = fields.String(required=True)
    region = fields.String(required=True, metadata={"description": "江西省九江市浔阳区"})
    address = fields.String(required=True)
    postcode = fields.String(required=True, allow_none=True)
    is_default = fields.Boolean(required=True)


class AddressList(Schema):
    items = fields.List(fields.Nested(AddressOut), required=True, metadata={"description": "The default first"})


class PartyPrefill(Schema):
    """A party as the booking form starts with it. Send it back as the booking's party, with
    ``mobile`` null and ``*_uses_resident_mobile`` or ``*_address_id`` as given here."""

    name = fields.String(required=True, metadata={"description": "Your name, the address book's, or the "
                                                                 "authority's; empty when unknown"})
    mobile = fields.String(required=True, allow_none=True, metadata={
        "description": "Only an authority's office line; a person's number is never sent (see mobile_masked)"})
    mobile_masked = fields.String(required=True, allow_none=True)
    uses_resident_mobile = fields.Boolean(required=True)
    address_id = fields.Integer(required=True, allow_none=True)
    province_code = fields.String(required=True)
    city_code = fields.String(required=True)
    county_code = fields.String(required=True)
    address = fields.String(required=True)
    postcode = fields.String(required=True, allow_none=True)


class AuthorityOut(Schema):
    org_name = fields.String(required=True, metadata={"description": "The handling authority"})
    region_code = fields.String(required=True)


class PrefillOut(Schema):
    """A booking form's starting values: nothing to retype that is known already."""

    application_number = fields.String(required=True, allow_none=True)
    sender = fields.Nested(PartyPrefill, required=True)
    recipient = fields.Nested(PartyPrefill, required=True)
    authority = fields.Nested(AuthorityOut, required=True, allow_none=True, metadata={
        "description": "The handling authority registered for the application (null: none registered yet, the "
                       "authority's party is empty)"})
    addresses = fields.List(fields.Nested(AddressOut), required=True)
    item_type = _code(ITEM_TYPES, "证照 or 材料")
    item_type_text = _text("The item type", attribute="item_type_key")
    payer = _code(PAYERS, "Who pays: the government inside one province")
    payer_text = _text("Who pays", attribute="payer_key")
    payers = fields.List(fields.String(validate=validate.OneOf(PAYERS)), required=True, metadata={
        "description": "The payers the configured carrier takes (快递100: no recipient, 到付); offer only these"})
    item_checklist = fields.List(fields.String(), required=True, metadata={
        "description": "The materials to put in the envelope (the item's list), for materials_to_authority"})
