"""Site schemas: SiteIn (the data a site is made of) and SiteForm (the console's form of it)."""
from __future__ import annotations

import re

import marshmallow as ma
from marshmallow import fields, validate

from ..core.payloads import Schema
from .models import SITE_KINDS

_HHMM = re.compile(r"^([01][0-9]|2[0-3]):[0-5][0-9]\Z")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_OPEN_WORDS = ("班", "open", "上班")


def _plain_text(value):
    """One line of text: no control characters (PostgreSQL refuses NUL; newlines break single-line fields)."""
    if _CONTROL.search(value):
        raise ma.ValidationError("No control characters allowed / 不能包含控制字符")


def _hours(value):
    if not isinstance(value, dict):
        raise ma.ValidationError("Opening hours must map weekdays to time ranges / 营业时间格式不正确")
    for day, ranges in value.items():
        if day not in WEEKDAYS:
            raise ma.ValidationError(f"Unknown weekday {day} / 未知的星期 {day}")
        for pair in ranges:
            if (not isinstance(pair, (list, tuple)) or len(pair) != 2 or not all(isinstance(t, str) and _HHMM.match(t) for t in pair)
                    or pair[0] >= pair[1]):
                raise ma.ValidationError(f"{day}: use [\"09:00\", \"17:00\"] / {day}：时间段格式应为 [\"09:00\", \"17:00\"]")


class HolidaySchema(Schema):
    date = fields.Date(required=True)
    open = fields.Boolean(load_default=False)
    note = fields.String(load_default="", validate=[validate.Length(max=50), _plain_text])


class SiteIn(Schema):
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


class SiteForm(SiteIn):
    """The console's site form: opening hours typed per weekday ("09:00-12:00, 13:30-17:00")
    and holidays one per line ("2026-10-01 休 国庆节", "2026-10-11 班 调休上班")."""

    @ma.pre_load
    def _from_form(self, form, **kwargs):
        hours = {}
        for day in WEEKDAYS:
            text = form.get(f"hours_{day}", "").replace("，", ",")
            ranges = [part.strip() for part in text.split(",") if part.strip()]
            hours[day] = [part.split("-", 1) if "-" in part else [part, ""] for part in ranges]
        holidays = []
        for line in form.get("holidays", "").splitlines():
            parts = line.split(maxsplit=2)
            if parts:
                holidays.append({"date": parts[0], "open": len(parts) > 1 and parts[1] in _OPEN_WORDS,
                                 "note": parts[2] if len(parts) > 2 else ""})
        data = {k: form.get(k) or None for k in ("code", "kind", "name", "province_code", "city_code", "county_code",
                                                 "address", "latitude", "longitude", "phone")}
        if "code" in self.partial_fields:
            data.pop("code")
        return {**{k: v for k, v in data.items() if v is not None}, "opening_hours": hours, "holidays": holidays}

    @property
    def partial_fields(self) -> tuple:
        return self.partial if isinstance(self.partial, (tuple, list, set)) else ()
