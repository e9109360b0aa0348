"""Fleet API schemas."""
from __future__ import annotations

import re

import marshmallow as ma
from marshmallow import fields, validate

from .models import COMMAND_KINDS
from .states import DEVICE_STATES, PRINTER_STATES

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
