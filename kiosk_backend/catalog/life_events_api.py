"""Admin JSON API of life events (一件事): list, add, delete the admins' additions.

Routes are registered on ``api.admin_blp`` (bearer token of an admin: 401 without a valid
one, 403 for other roles) by the import at the bottom of ``api.py``.
"""
from __future__ import annotations

from flask import g
from flask.views import MethodView
from marshmallow import fields, validate

from ..core.errors import documented_errors
from ..core.payloads import Schema
from ..extensions import db
from . import life_event_services
from .api import STAFF_SECURITY, admin_blp

# What the service refuses, said in the schema too (so OpenAPI states it): a trigger holds
# at least one letter, digit or Chinese character (what normalising keeps); each part of
# a pattern (A+B) does; a name is not blank. Full-width letters and digits count
# (normalising makes them ASCII). No NUL anywhere (core.payloads refuses it).
_WORD = r"[0-9A-Za-z\u3400-\u4dbf\u4e00-\u9fff\uff10-\uff19\uff21-\uff3a\uff41-\uff5a]"
_NAME = r"^[^\u0000]*[^\s\u0000][^\u0000]*$"
_TRIGGER = rf"^[^\u0000]*{_WORD}[^\u0000]*$"
_PATTERN = rf"^[^+\u0000]*{_WORD}[^+\u0000]*(\+[^+\u0000]*{_WORD}[^+\u0000]*)*$"
_LENGTH = validate.Length(min=1, max=life_event_services.MAX_TEXT)
_ENTRIES = validate.Length(min=1, max=life_event_services.MAX_ENTRIES)


class LifeEventIn(Schema):
    key = fields.String(required=True, validate=validate.Regexp(life_event_services.KEY_RE), metadata={
        "description": "ASCII key (newborn, barber_shop). A shipped event's key extends that event: its "
                       "triggers and patterns are added and this name replaces the shipped name."})
    name = fields.String(required=True, validate=[_LENGTH, validate.Regexp(_NAME)],
                         metadata={"description": "The event's name shown on the kiosk (新生儿出生)"})
    triggers = fields.List(fields.String(validate=[_LENGTH, validate.Regexp(_TRIGGER)]), required=True,
                           validate=_ENTRIES, metadata={
        "description": "How residents describe it (添了宝宝, 要开理发店); words separated by a space "
                       "must each occur in the query"})
    patterns = fields.List(fields.String(validate=[_LENGTH, validate.Regexp(_PATTERN)]), required=True,
                           validate=_ENTRIES, metadata={
        "description": "Substrings of item names (出生医学证明); A+B: the name holds both"})


class LifeEventOut(Schema):
    id = fields.Integer()
    key = fields.String()
    name = fields.String()
    triggers = fields.List(fields.String())
    patterns = fields.List(fields.String())
    created_by = fields.String(allow_none=True)


@admin_blp.route("/life-events")
class LifeEvents(MethodView):
    @admin_blp.response(200, LifeEventOut(many=True))
    @admin_blp.doc(security=STAFF_SECURITY)
    @documented_errors(admin_blp, 401, 403, 503)
    def get(self):
        """Life events (一件事) added by admins (the shipped ones are not listed)."""
        return life_event_services.list_life_events(db.session)

    @admin_blp.arguments(LifeEventIn())
    @admin_blp.response(201, LifeEventOut)
    @admin_blp.doc(security=STAFF_SECURITY)
    @documented_errors(admin_blp, 400, 401, 403, 409, 413, 503)
    def post(self, data):
        """Add a life event, or extend a shipped one by using its key (409 if an admin row has the key)."""
        return life_event_services.add_life_event(db.session, actor=g.actor, **data)


@admin_blp.delete("/life-events/<int:row_id>")
@admin_blp.response(204)
@admin_blp.doc(security=STAFF_SECURITY)
@documented_errors(admin_blp, 401, 403, 404, 503)
def delete_life_event(row_id):
    """Remove an admin life event (a shipped event it extended is as shipped again)."""
    life_event_services.delete_life_event(db.session, row_id, actor=g.actor)
