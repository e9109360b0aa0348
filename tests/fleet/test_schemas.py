"""Console forms of the fleet: what the command and enrolment-code forms turn into."""
from __future__ import annotations

import marshmallow as ma
import pytest

from kiosk_backend.fleet.schemas import CommandForm, EnrolmentCodeForm


def test_a_message_command_takes_only_its_own_fields():
    data = CommandForm().load({"kind": "show_message", "text": "今日停电", "seconds": "60", "reason": "x",
                               "font_scale": "1.2", "csrf_token": "t"})
    assert data == {"kind": "show_message", "force": False, "payload": {"text": "今日停电", "seconds": "60"}}


def test_settings_left_empty_are_left_as_they_are():
    data = CommandForm().load({"kind": "apply_settings", "font_scale": "1.4", "idle_timeout_seconds": "", "force": "1"})
    assert data == {"kind": "apply_settings", "force": True, "payload": {"font_scale": "1.4"}}


def test_an_unknown_command_is_refused_by_the_form():
    with pytest.raises(ma.ValidationError) as caught:
        CommandForm().load({"kind": "self_destruct"})
    assert "kind" in caught.value.messages


@pytest.mark.parametrize("form,expected", [
    ({}, {"valid_hours": 24, "profile": None, "pre_authorized": False}),
    ({"valid_hours": "48", "profile": "", "pre_authorized": "1"}, {"valid_hours": 48, "profile": None, "pre_authorized": True}),
    ({"profile": "community-tablet"}, {"valid_hours": 24, "profile": "community-tablet", "pre_authorized": False}),
])
def test_the_enrolment_code_form(form, expected):
    assert EnrolmentCodeForm().load(form) == expected


def test_hours_that_are_not_a_number_are_refused_naming_the_field():
    with pytest.raises(ma.ValidationError) as caught:
        EnrolmentCodeForm().load({"valid_hours": "abc"})
    assert list(caught.value.messages) == ["valid_hours"]
