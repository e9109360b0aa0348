"""Schemas of the mini-app's applications API (applications/api.py).

The Out schemas dump :func:`applications.progress.view` — the one view every surface renders —
field by field: masked applicant data only, never a clear ID or phone number.

Words: every coded value is sent twice, as a **code** a client may switch on (``state``
``"supplement_requested"``, ``next_step`` ``"supplement"``, ``deadline.key`` ``"overdue"`` …,
each an enum in the document) and as its **zh-CN words** from the message catalogue
(``state_text`` 待补正, ``next_step_text``, ``deadline.text`` 已超期 3 天 …): the same words the
kiosk and the phone pages show, so the mini-app needs no copy of the catalogue. Codes are the
contract; the words may be reworded.
"""
from __future__ import annotations

import marshmallow as ma
from marshmallow import fields, validate

from ..core.errors import Invalid
from ..core.i18n import translate
from ..core.payloads import Schema
from . import progress, services, states

LANG = "zh-CN"  # the language of the *_text fields

NEXT_PREFIX = "application.next."
DEADLINE_PREFIX = "deadline."
NEXT_STEPS = sorted({key.removeprefix(NEXT_PREFIX) for key in progress.NEXT_STEP.values()}
                    | {"collect", "read_decision"})
DEADLINE_KEYS = ["remaining", "due_today", "overdue", "paused", "not_started", "not_accepted", "finished", "unknown"]
STATES = [s.value for s in states.State]
ACTIONS = [a.value for a in states.Action]
# The parcel statuses a courier step may carry (courier/states.py; listed here so that this
# lower domain does not import the courier domain).
COURIER_STATES = ["pending_pickup", "accepted", "in_transit", "out_for_delivery", "delivered", "failed_delivery",
                  "awaiting_collection", "returned", "cancelled", "exception"]
MODES = [m.value for m in states.Mode]
OUTCOMES = [o.value for o in states.Outcome]
DELIVERIES = [d.value for d in states.Delivery]
NOTICES = ["no_id_number"]


# ---------------------------------------------------------------- fields

class Code(fields.String):
    """A message key of the view as its code: ``application.next.collect`` → ``collect``."""

    def __init__(self, prefix: str, **kwargs):
        super().__init__(dump_only=True, **kwargs)
        self.prefix = prefix

    def _serialize(self, value, attr, obj, **kwargs):
        return None if value is None else str(value).removeprefix(self.prefix)


class Words(fields.String):
    """A message key of the view as its zh-CN words (``application.state.accepted`` → 已受理)."""

    def __init__(self, **kwargs):
        super().__init__(dump_only=True, **kwargs)

    def _serialize(self, value, attr, obj, **kwargs):
        return None if value is None else translate(value, LANG)


class DeadlineWords(Words):
    """剩余 N 个工作日 / 今天到期 / 已超期 N 天 …: the deadline's key with its count."""

    def _serialize(self, value, attr, obj, **kwargs):
        return translate(obj["key"], LANG, count=obj["count"])


def _text(description: str, **kwargs) -> Words:
    return Words(required=True, metadata={"description": f"{description} (zh-CN words)"}, **kwargs)


# ---------------------------------------------------------------- out

class DeadlineOut(Schema):
    key = Code(DEADLINE_PREFIX, required=True, validate=validate.OneOf(DEADLINE_KEYS), metadata={"description": (
        "remaining (count = working days left), due_today, overdue (count = days past the deadline), "
        "paused (特别程序 or 补正 stops the clock), not_started (before 受理), not_accepted (不予受理: no clock ran), "
        "finished (办结 and after), "
        "unknown (count = the calendar year without holiday data)")})
    count = fields.Integer(required=True)
    date = fields.Date(required=True, allow_none=True, attribute="deadline",
                       metadata={"description": "The promised deadline (承诺办结日期), once known"})
    overdue = fields.Boolean(required=True)
    text = DeadlineWords(required=True, attribute="key", metadata={"description": "e.g. 剩余 5 个工作日 (zh-CN words)"})


class ApplicationSummary(Schema):
    """One line of "my applications"."""

    number = fields.String(required=True, metadata={"description": "办件编号"})
    item_name = fields.String(required=True, metadata={"description": "事项名称"})
    task_code = fields.String(required=True, metadata={"description": "实施编码 of the item"})
    mode = fields.String(required=True, validate=validate.OneOf(MODES))
    mode_text = _text("本地办理 / 全程网办 / 异地代收代办 / 多地联办", attribute="mode_key")
    cross_province = fields.Boolean(required=True, metadata={"description": "Received in one province, "
                                                                            "handled in another (跨省通办)"})
    state = fields.String(required=True, validate=validate.OneOf(STATES))
    state_text = _text("The state", attribute="state_key")
    outcome = fields.String(required=True, allow_none=True, validate=validate.OneOf(OUTCOMES),
                            metadata={"description": "Once concluded (办结): approved (准予) or denied (不予)"})
    outcome_text = _text("The outcome", allow_none=True, attribute="outcome_key")
    finished = fields.Boolean(required=True, metadata={"description": "No longer with the authority"})
    handling_org = fields.String(required=True, metadata={"description": "业务属地: the authority handling it"})
    received_at = fields.DateTime(required=True)
    updated_at = fields.DateTime(required=True, metadata={"description": "When its newest event happened"})
    deadline = fields.Nested(DeadlineOut, required=True)
    next_step = Code(NEXT_PREFIX, required=True, attribute="next_step_key", validate=validate.OneOf(NEXT_STEPS),
                     metadata={"description": "What the applicant does or waits for next"})
    next_step_text = _text("The next step", attribute="next_step_key")


class WholeView(fields.Nested):
    """A nested object made of fields at the top of the view (the applicant's masked data)."""

    def get_value(self, obj, attr, accessor=None, default=ma.missing):
        return obj


class ApplicantOut(Schema):
    name_masked = fields.String(required=True, attribute="applicant_name", metadata={"description": "张三 → 张*"})
    id_number_masked = fields.String(required=True, allow_none=True, attribute="applicant_id",
                                     metadata={"description": "1101**********002X"})
    phone_masked = fields.String(required=True, allow_none=True, attribute="applicant_phone",
                                 metadata={"description": "138****8000"})


class EventOut(Schema):
    """One entry of the timeline, oldest first."""

    kind = fields.String(required=True, validate=validate.OneOf(["application", "courier"]),
                         metadata={"description": "application: the department's event; courier: a postal leg's "
                                                  "step (材料寄出, 结果派送中 …)"})
    seq = fields.Integer(required=True, allow_none=True, metadata={"description": "None for courier steps"})
    action = fields.String(required=True, validate=validate.OneOf([*ACTIONS, "courier"]))
    action_text = _text("What happened", attribute="action_key")
    state = fields.String(required=True, validate=validate.OneOf(STATES + COURIER_STATES),
                          metadata={"description": "The application's state after it, or the parcel's status "
                                                   "for courier steps"})
    state_text = _text("The state after it", attribute="state_key")
    actor_name = fields.String(required=True, metadata={"description": "Who: the department or office"})
    note = fields.String(required=True, allow_none=True)
    reason = fields.String(required=True, allow_none=True, metadata={"description": "不予受理 / 特别程序: why"})
    missing = fields.List(fields.String(), required=True, metadata={"description": "补正: the missing materials"})
    outcome = fields.String(required=True, allow_none=True, validate=validate.OneOf(OUTCOMES))
    delivery = fields.String(required=True, allow_none=True, validate=validate.OneOf(DELIVERIES))
    occurred_at = fields.DateTime(required=True)


class ApplicationOut(ApplicationSummary):
    """One application as its applicant may see it: masked, with its timeline."""

    delivery = fields.String(required=True, allow_none=True, validate=validate.OneOf(DELIVERIES),
                             metadata={"description": "Once delivered: window (窗口领取), post (邮寄), online"})
    delivery_text = _text("How the result is delivered", allow_none=True, attribute="delivery_key")
    missing = fields.List(fields.String(), required=True,
                          metadata={"description": "While supplement_requested: the materials to hand in"})
    applicant = WholeView(ApplicantOut, required=True)
    receiving_org = fields.String(required=True, metadata={"description": "收件地: where it was handed in"})
    receiving_region = fields.String(required=True, metadata={"description": "GB/T 2260 division code"})
    handling_region = fields.String(required=True, metadata={"description": "GB/T 2260 division code"})
    accepted_on = fields.Date(required=True, allow_none=True, metadata={"description": "受理日 (China time)"})
    promise_days = fields.Integer(required=True, metadata={"description": "承诺办结时限"})
    promise_unit = fields.String(required=True, validate=validate.OneOf(["工作日", "自然日"]))
    timeline = fields.List(fields.Nested(EventOut), required=True)


class ApplicationPage(Schema):
    """A page of the resident's applications, newest first."""

    items = fields.List(fields.Nested(ApplicationSummary), required=True)
    page = fields.Integer(required=True)
    page_size = fields.Integer(required=True)
    has_more = fields.Boolean(required=True, metadata={"description": "Whether page + 1 has more"})
    notice = fields.String(required=True, allow_none=True, validate=validate.OneOf(NOTICES), metadata={
        "description": "no_id_number: the resident's account has no ID number, so no application can be "
                       "found as theirs (the list is empty); a lookup by number and last 4 still works"})
    notice_text = fields.String(required=True, allow_none=True, metadata={"description": "The notice (zh-CN words)"})


# ---------------------------------------------------------------- in

def _checked(normalize, value) -> None:
    try:
        normalize(value)
    except Invalid as exc:
        raise ma.ValidationError(f"{exc.message} / {exc.message_zh}") from None


def _number(value: str) -> None:
    _checked(services.normalize_number, value)


def _tail(value: str) -> None:
    _checked(services.normalize_tail, value)


# The service's rules as patterns for the document (it also takes blanks around and inside
# the value, and lower case: the patterns are the strict form a client should send).
_number.openapi = {"pattern": "^[0-9A-Za-z][0-9A-Za-z-]{5,39}$"}
_tail.openapi = {"pattern": "^[0-9Xx]{4}$"}


class LookupIn(Schema):
    number = fields.String(required=True, validate=_number,
                           metadata={"description": "办件编号: 6 to 40 letters, digits or hyphens"})
    tail = fields.String(required=True, validate=_tail, metadata={
        "description": "The last 4 characters of the applicant's ID number or mobile number (e.g. 002X, 8000)"})


class PageArgs(Schema):
    page = fields.Integer(load_default=1, validate=validate.Range(min=1, max=1000))
    page_size = fields.Integer(load_default=20, validate=validate.Range(min=1, max=50))
