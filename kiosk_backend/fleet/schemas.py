"""Fleet API schemas."""
from __future__ import annotations

import re

import marshmallow as ma
from marshmallow import fields, validate

from ..core.payloads import Schema
from .models import COMMAND_KINDS
from .states import DEVICE_STATES, PRINTER_STATES

_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def _plain_text(value):
    """One line of text: no control characters (PostgreSQL refuses NUL; newlines break single-line fields)."""
    if _CONTROL.search(value):
        raise ma.ValidationError("No control characters allowed / 不能包含控制字符")


_plain_text.openapi = {"pattern": "^[^\\u0000-\\u001f\\u007f]*$"}  # the same rule, for the OpenAPI document


class PeripheralStatus(Schema):
    printer = fields.String(validate=validate.OneOf(PRINTER_STATES))
    card_reader = fields.String(validate=validate.OneOf(DEVICE_STATES))
    scanner = fields.String(validate=validate.OneOf(DEVICE_STATES))
    qr_scanner = fields.String(validate=validate.OneOf(DEVICE_STATES))
    camera = fields.String(validate=validate.OneOf(DEVICE_STATES))


class JSONBoolean(fields.Boolean):
    """``true`` or ``false`` and nothing else: marshmallow's Boolean also takes 0, 1, "yes"
    and "on", which a kiosk never sends and the documented schema does not allow."""

    def _deserialize(self, value, attr, data, **kwargs):
        if value is True or value is False:
            return value
        raise self.make_error("invalid", input=value)


class HeartbeatIn(Schema):
    # strict: 2.5 or "7" is not a sequence number (a float that happens to be whole is refused too)
    seq = fields.Integer(required=True, strict=True, validate=validate.Range(min=0, max=2**62))
    app_version = fields.String(load_default=None, validate=[validate.Length(max=32), _plain_text])
    profile = fields.String(load_default=None, validate=[validate.Length(max=64), _plain_text],
                            metadata={"enum_from": "device_profiles"})  # documented as the loaded profiles
    peripherals = fields.Nested(PeripheralStatus, load_default=dict)
    session_active = JSONBoolean(load_default=False)


class CommandOut(Schema):
    id = fields.Integer()
    kind = fields.String(metadata={"description": "|".join(COMMAND_KINDS)})
    payload = fields.Dict()
    expires_at = fields.DateTime()


class HeartbeatOut(Schema):
    status = fields.String(metadata={"description": "online | degraded"})
    server_time = fields.DateTime()
    interval = fields.Integer(metadata={"description": "seconds until the next heartbeat"})
    maintenance = fields.Boolean()
    rotate_credential = fields.Boolean(metadata={"description": "call POST /api/v1/kiosk/credential"})
    commands = fields.List(fields.Nested(CommandOut))


class AckOut(Schema):
    id = fields.Integer()
    state = fields.String()
    acked_at = fields.DateTime()


class ActivateIn(Schema):
    code = fields.String(required=True, validate=[validate.Length(min=4, max=32), _plain_text])
    profile = fields.String(required=True, validate=[validate.Length(min=1, max=64), _plain_text],
                            metadata={"enum_from": "device_profiles"})  # documented as the loaded profiles
    app_version = fields.String(load_default=None, validate=[validate.Length(max=32), _plain_text])


class CredentialOut(Schema):
    kiosk_number = fields.String()
    state = fields.String()
    credential = fields.String(metadata={"description": "send as 'Authorization: Kiosk <credential>'; shown once"})


# ------------------------------------------------------------------ console forms

_CHECKBOX = {"truthy": {"1", "on", "true"}, "falsy": {"", "0", "off", "false"}}


class CommandForm(Schema):
    """The console's command form. Only the fields of the chosen kind go into the payload;
    the payload's own rules (lengths, ranges) are the service's (commands._validate_payload)."""

    class Meta:
        unknown = ma.EXCLUDE  # csrf_token and the fields of the other kinds

    kind = fields.String(required=True, validate=validate.OneOf(COMMAND_KINDS))
    force = fields.Boolean(load_default=False, **_CHECKBOX)
    text = fields.String(load_default="")
    seconds = fields.String(load_default="30")
    reason = fields.String(load_default="")
    # apply_settings: the keys of commands.SETTINGS_KEYS, empty = leave as it is
    idle_timeout_seconds = fields.String(load_default="")
    idle_warning_seconds = fields.String(load_default="")
    elder_mode_default = fields.String(load_default="")
    font_scale = fields.String(load_default="")

    _PAYLOAD = {"show_message": ("text", "seconds"), "maintenance_on": ("reason",),
                "apply_settings": ("idle_timeout_seconds", "idle_warning_seconds", "elder_mode_default", "font_scale")}

    @ma.post_load
    def _command(self, data, **kwargs):
        keys = self._PAYLOAD.get(data["kind"], ())
        payload = {key: data[key] for key in keys if data[key] != "" or data["kind"] != "apply_settings"}
        return {"kind": data["kind"], "force": data["force"], "payload": payload}


class EnrolmentCodeForm(Schema):
    """The console's "new enrolment code" form; the profile is checked against the loaded
    device profiles by the view, the validity range by the service."""

    class Meta:
        unknown = ma.EXCLUDE

    valid_hours = fields.Integer(load_default=24, strict=False)
    profile = fields.String(load_default=None, validate=[validate.Length(max=64), _plain_text])
    pre_authorized = fields.Boolean(load_default=False, **_CHECKBOX)

    @ma.pre_load
    def _blank_profile(self, form, **kwargs):
        form = dict(form)
        if not form.get("profile"):
            form.pop("profile", None)
        return form


class ReenrolForm(Schema):
    """The console's "revoke the credential now and re-enrol" form: the admin must tick the
    confirmation (the kiosk stops working at once), and may choose how long the code lasts."""

    class Meta:
        unknown = ma.EXCLUDE

    confirm = fields.Boolean(required=True, validate=validate.Equal(True, error="confirm / 请勾选确认"),
                             **_CHECKBOX)
    valid_hours = fields.Integer(load_default=24, strict=False)
