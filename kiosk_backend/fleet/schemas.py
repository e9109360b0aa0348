"""Fleet API schemas."""
from __future__ import annotations

import re

import marshmallow as ma
from marshmallow import fields, validate

from .models import COMMAND_KINDS, SITE_KINDS
from .states import DEVICE_STATES, PRINTER_STATES

_HHMM = re.compile(r"^([01][0-9]|2[0-3]):[0-5][0-9]\Z")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def _plain_text(value):
    """One line of text: no control characters (PostgreSQL refuses NUL; newlines break single-line fields)."""
    if _CONTROL.search(value):
        raise ma.ValidationError("No control characters allowed / 不能包含控制字符")


class PeripheralStatus(ma.Schema):
    printer = fields.String(validate=validate.OneOf(PRINTER_STATES))
    card_reader = fields.String(validate=validate.OneOf(DEVICE_STATES))
    scanner = fields.String(validate=validate.OneOf(DEVICE_STATES))
    qr_scanner = fields.String(validate=validate.OneOf(DEVICE_STATES))
    camera = fields.String(validate=validate.OneOf(DEVICE_STATES))


class HeartbeatIn(ma.Schema):
    seq = fields.Integer(required=True, validate=validate.Range(min=0, max=2**62))
    app_version = fields.String(load_default=None, validate=[validate.Length(max=32), _plain_text])
    profile = fields.String(load_default=None, validate=[validate.Length(max=64), _plain_text])
    peripherals = fields.Nested(PeripheralStatus, load_default=dict)
    session_active = fields.Boolean(load_default=False)


class CommandOut(ma.Schema):
    id = fields.Integer()
    kind = fields.String(metadata={"description": "|".join(COMMAND_KINDS)})
    payload = fields.Dict()
    expires_at = fields.DateTime()


class HeartbeatOut(ma.Schema):
    status = fields.String(metadata={"description": "online | degraded"})
    server_time = fields.DateTime()
    interval = fields.Integer(metadata={"description": "seconds until the next heartbeat"})
    maintenance = fields.Boolean()
    rotate_credential = fields.Boolean(metadata={"description": "call POST /api/v1/kiosk/credential"})
    commands = fields.List(fields.Nested(CommandOut))


class AckOut(ma.Schema):
    id = fields.Integer()
    state = fields.String()
    acked_at = fields.DateTime()


class ActivateIn(ma.Schema):
    code = fields.String(required=True, validate=[validate.Length(min=4, max=32), _plain_text])
    profile = fields.String(required=True, validate=[validate.Length(min=1, max=64), _plain_text])
    app_version = fields.String(load_default=None, validate=[validate.Length(max=32), _plain_text])


class CredentialOut(ma.Schema):
    kiosk_number = fields.String()
    state = fields.String()
    credential = fields.String(metadata={"description": "send as 'Authorization: Kiosk <credential>'; shown once"})


def _hours(value):
    if not isinstance(value, dict):
        raise ma.ValidationError("Opening hours must map weekdays to time ranges / 营业时间格式不正确")
    for day, ranges in value.items():
        if day not in ("mon", "tue", "wed", "thu", "fri", "sat", "sun"):
            raise ma.ValidationError(f"Unknown weekday {day} / 未知的星期 {day}")
        for pair in ranges:
            if (not isinstance(pair, (list, tuple)) or len(pair) != 2 or not all(isinstance(t, str) and _HHMM.match(t) for t in pair)
                    or pair[0] >= pair[1]):
                raise ma.ValidationError(f"{day}: use [\"09:00\", \"17:00\"] / {day}：时间段格式应为 [\"09:00\", \"17:00\"]")


class HolidaySchema(ma.Schema):
    date = fields.Date(required=True)
    open = fields.Boolean(load_default=False)
    note = fields.String(load_default="", validate=[validate.Length(max=50), _plain_text])


class SiteIn(ma.Schema):
    code = fields.String(required=True, validate=validate.Regexp(r"^[A-Z0-9]{2,12}\Z", error="2–12 capital letters or digits / 网点编号须为 2–12 位大写字母或数字"))
    kind = fields.String(required=True, validate=validate.OneOf(list(SITE_KINDS)))
    name = fields.String(required=True, validate=[validate.Length(min=2, max=100), _plain_text])
    province_code = fields.String(required=True, validate=validate.Regexp(r"^[0-9]{2}\Z", error="2 digits / 省级代码须为 2 位数字"))
    city_code = fields.String(required=True, validate=validate.Regexp(r"^[0-9]{4}\Z", error="4 digits / 市级代码须为 4 位数字"))
    county_code = fields.String(load_default=None, allow_none=True, validate=validate.Regexp(r"^([0-9]{6})?\Z", error="6 digits / 县级代码须为 6 位数字"))
    address = fields.String(required=True, validate=[validate.Length(min=2, max=300), _plain_text])
    latitude = fields.Float(load_default=None, allow_none=True, validate=validate.Range(min=3, max=54))
    longitude = fields.Float(load_default=None, allow_none=True, validate=validate.Range(min=73, max=136))
    phone = fields.String(load_default=None, allow_none=True, validate=validate.Regexp(r"^[0-9+\-() ]{5,40}\Z", error="Not a phone number / 电话号码格式不正确"))
    opening_hours = fields.Dict(load_default=dict, validate=_hours)
    holidays = fields.List(fields.Nested(HolidaySchema), load_default=list)

    @ma.post_load
    def _plain(self, data, **kwargs):
        data["holidays"] = [{**h, "date": h["date"].isoformat()} for h in data["holidays"]]
        data["county_code"] = data.get("county_code") or None
        return data
