"""The composition root: start-up checks."""
from __future__ import annotations

import json
import shutil

import pytest

from kiosk_backend.app import create_app
from kiosk_backend.cli import main
from kiosk_backend.fleet.profiles import DEFAULT_PROFILE_DIR, ProfileError


def test_every_shipped_device_profile_is_loaded_at_start_up(make_app):
    app = make_app()
    assert set(app.extensions["device_profiles"]) == {p.stem for p in DEFAULT_PROFILE_DIR.glob("*.json")}


def test_a_broken_device_profile_stops_start_up_naming_file_and_field(tmp_path):
    for path in DEFAULT_PROFILE_DIR.glob("*.json"):
        shutil.copy(path, tmp_path / path.name)
    broken = tmp_path / "community-tablet.json"
    data = json.loads(broken.read_text(encoding="utf-8"))
    data["ui"]["idle_warning_seconds"] = 5
    broken.write_text(json.dumps(data), encoding="utf-8")
    with pytest.raises(ProfileError) as err:
        create_app({"DATABASE_URL": f"sqlite:///{tmp_path / 'x.db'}", "SECRET_KEY": "t", "INSTANCE_PATH": str(tmp_path),
                    "KIOSK_PROFILE_DIR": str(tmp_path)})
    assert "community-tablet.json" in str(err.value) and "ui.idle_warning_seconds" in str(err.value)


def test_the_cli_checks_profiles(make_app):
    result = make_app().test_cli_runner().invoke(main, args=["profiles", "check"])
    assert result.exit_code == 0 and "post-office-portrait" in result.output
