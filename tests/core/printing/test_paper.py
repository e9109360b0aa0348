"""Papers: the registry of print media."""

from kiosk_backend.core.printing import A4, PAPERS, THERMAL_80MM


def test_papers_are_registered_by_name():
    assert PAPERS == {"thermal80": THERMAL_80MM, "a4": A4}
