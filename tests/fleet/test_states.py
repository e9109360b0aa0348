"""Status rules (fleet/states.py): online, degraded and offline from the last beat and the
peripherals; pure functions."""
from __future__ import annotations

from datetime import timedelta

import pytest

from kiosk_backend.fleet import states
from tests.conftest import MONDAY_10

T = MONDAY_10


@pytest.mark.parametrize("seconds,expected", [(0, "online"), (89, "online"), (90, "online"), (91, "offline"),
                                              (3600, "offline")])
def test_connectivity_goes_offline_after_about_three_missed_beats(seconds, expected):
    assert states.connectivity(T, T + timedelta(seconds=seconds)) == expected


def test_a_kiosk_never_heard_from_is_never_not_offline():
    assert states.connectivity(None, T) == "never"
    assert states.kiosk_status(None, {}, T) == "never"


def test_the_offline_threshold_follows_the_heartbeat_interval():
    assert states.connectivity(T, T + timedelta(seconds=100), interval=60) == "online"
    assert states.connectivity(T, T + timedelta(seconds=181), interval=60) == "offline"


@pytest.mark.parametrize("seconds,expected", [(10, "online"), (45, "online"), (46, "degraded"), (90, "degraded"),
                                              (91, "offline")])
def test_a_late_beat_makes_a_kiosk_degraded_before_offline(seconds, expected):
    assert states.kiosk_status(T, {"printer": "ok"}, T + timedelta(seconds=seconds)) == expected


@pytest.mark.parametrize("peripherals,expected", [
    ({"printer": "ok", "card_reader": "ok"}, "online"),
    ({"printer": "paper_low"}, "online"),
    ({"printer": "absent"}, "online"),
    ({"printer": "paper_out"}, "degraded"),
    ({"printer": "error"}, "degraded"),
    ({"printer": "ok", "scanner": "error"}, "degraded"),
])
def test_peripheral_faults_make_a_kiosk_degraded_but_paper_low_does_not(peripherals, expected):
    assert states.kiosk_status(T, peripherals, T) == expected


def test_an_offline_kiosk_is_offline_whatever_its_peripherals_say():
    assert states.kiosk_status(T, {"printer": "paper_out"}, T + timedelta(minutes=5)) == "offline"


def test_peripheral_problems_names_the_faulty_devices_in_order():
    assert states.peripheral_problems({"scanner": "error", "printer": "paper_out", "camera": "ok",
                                       "card_reader": "absent"}) == ["printer", "scanner"]
