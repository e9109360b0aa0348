"""Device profiles: the shipped files load, and every kind of broken file is refused with
the file and the field named."""
from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from kiosk_backend.fleet.profiles import (
    DEFAULT_PROFILE_DIR,
    FEATURES,
    DeviceProfile,
    ProfileError,
    load_profile,
    load_profiles,
    profiles_cli,
)

SHIPPED = sorted(p.stem for p in DEFAULT_PROFILE_DIR.glob("*.json"))


@pytest.fixture(scope="module")
def shipped() -> dict[str, DeviceProfile]:
    return load_profiles(DEFAULT_PROFILE_DIR)


@pytest.fixture
def tablet_data() -> dict:
    with open(DEFAULT_PROFILE_DIR / "community-tablet.json", encoding="utf-8") as fh:
        return json.load(fh)


def write(directory: Path, name: str, data) -> Path:
    path = directory / name
    path.write_text(data if isinstance(data, str) else json.dumps(data, ensure_ascii=False), encoding="utf-8")
    return path


def refused(directory: Path) -> ProfileError:
    with pytest.raises(ProfileError) as caught:
        load_profiles(directory)
    return caught.value


# ------------------------------------------------------------------ shipped files

def test_the_three_required_models_are_shipped():
    assert {"post-office-portrait", "bank-lobby-landscape", "community-tablet"} <= set(SHIPPED)


@pytest.mark.parametrize("model", SHIPPED)
def test_every_shipped_profile_file_loads_on_its_own(model):
    profile = load_profile(DEFAULT_PROFILE_DIR / f"{model}.json")
    assert profile.model == model
    assert "zh-CN" in profile.ui.languages
    assert set(profile.features) <= set(FEATURES)


def test_the_default_directory_loads_every_shipped_file(shipped):
    assert sorted(shipped) == SHIPPED


def test_the_post_office_kiosk_is_portrait_with_an_80mm_thermal_printer_and_all_readers(shipped):
    p = shipped["post-office-portrait"]
    assert (p.screen.width_px, p.screen.height_px, p.orientation) == (1080, 1920, "portrait")
    assert p.printer_kind == "thermal80" and p.peripherals.printer.dpi == 203
    per = p.peripherals
    assert per.id_card_reader and per.qr_scanner and per.document_scanner and per.camera and per.speaker
    assert p.has("print_guide") and p.has("courier")


def test_the_bank_lobby_kiosk_is_landscape_with_an_a4_printer(shipped):
    p = shipped["bank-lobby-landscape"]
    assert (p.screen.width_px, p.screen.height_px, p.orientation) == (1920, 1080, "landscape")
    assert p.printer_kind == "a4"
    assert p.peripherals.id_card_reader and p.peripherals.qr_scanner


def test_the_community_tablet_has_no_printer_and_so_no_print_guide(shipped):
    p = shipped["community-tablet"]
    assert (p.screen.width_px, p.screen.height_px) == (1280, 800)
    assert p.printer_kind is None and p.peripherals.printer is None
    assert p.peripherals.camera and p.peripherals.speaker
    assert not p.has("print_guide")


def test_idle_properties_come_from_the_ui_section(shipped):
    p = shipped["post-office-portrait"]
    assert p.idle_seconds == p.ui.idle_timeout_seconds
    assert p.idle_warning_seconds == p.ui.idle_warning_seconds >= 20


def test_a_profile_is_frozen_and_round_trips_to_its_file_shape(shipped, tablet_data):
    p = shipped["community-tablet"]
    with pytest.raises(AttributeError):
        p.model = "other"  # type: ignore[misc]
    assert p.to_dict() == tablet_data


def test_a_toml_profile_loads_like_a_json_one(tmp_path, tablet_data):
    (tmp_path / "community-tablet.toml").write_text(
        """
model = "community-tablet"
vendor = "新大陆"
name = "社区便民服务平板"
features = ["search", "rating"]

[screen]
width_px = 1280
height_px = 800
orientation = "landscape"
diagonal_inch = 10.1
dpi = 149
touch = true

[peripherals]
id_card_reader = false
qr_scanner = false
document_scanner = false
camera = true
speaker = true
printer = {kind = "a4", dpi = 300}

[ui]
font_scale = 1.3
elder_mode_default = true
languages = ["zh-CN"]
idle_timeout_seconds = 180
idle_warning_seconds = 30
attract_screen = false
""", encoding="utf-8")
    profile = load_profiles(tmp_path)["community-tablet"]
    assert profile.printer_kind == "a4"
    assert profile.features == ("search", "rating")


def test_a_toml_profile_without_a_printer_key_has_no_printer(tmp_path, tablet_data):
    assert tablet_data["peripherals"]["printer"] is None
    (tmp_path / "community-tablet.toml").write_text(_to_toml(tablet_data), encoding="utf-8")
    assert "printer" not in (tmp_path / "community-tablet.toml").read_text(encoding="utf-8")
    profile = load_profiles(tmp_path)["community-tablet"]
    assert profile.printer_kind is None
    assert profile.to_dict() == tablet_data


# ------------------------------------------------------------------ broken files

def test_a_string_where_a_number_belongs_is_refused_naming_the_field(tmp_path, tablet_data):
    tablet_data["screen"]["width_px"] = "1280"
    write(tmp_path, "community-tablet.json", tablet_data)
    error = refused(tmp_path)
    assert error.fields == ["screen.width_px"]
    assert "community-tablet.json: screen.width_px: must be a whole number / 必须是整数" in str(error)


def test_a_number_where_true_or_false_belongs_is_refused(tmp_path, tablet_data):
    tablet_data["peripherals"]["camera"] = 1
    write(tmp_path, "community-tablet.json", tablet_data)
    error = refused(tmp_path)
    assert error.fields == ["peripherals.camera"]
    assert "true 或 false" in str(error)


def test_an_unknown_field_is_refused_with_its_path(tmp_path, tablet_data):
    tablet_data["screen"]["colour"] = "black"
    write(tmp_path, "community-tablet.json", tablet_data)
    error = refused(tmp_path)
    assert error.fields == ["screen.colour"]
    assert "unknown field / 不认识的字段" in str(error)


def test_a_missing_field_is_refused_with_its_path(tmp_path, tablet_data):
    del tablet_data["ui"]["attract_screen"]
    write(tmp_path, "community-tablet.json", tablet_data)
    assert refused(tmp_path).fields == ["ui.attract_screen"]


def test_an_orientation_that_disagrees_with_the_size_is_refused(tmp_path, tablet_data):
    tablet_data["screen"]["orientation"] = "portrait"  # 1280 × 800 is landscape
    write(tmp_path, "community-tablet.json", tablet_data)
    error = refused(tmp_path)
    assert error.fields == ["screen.orientation"]
    assert "1280×800 is landscape, not portrait" in str(error)


def test_an_orientation_that_is_not_a_word_we_know_is_refused_in_both_languages(tmp_path, tablet_data):
    tablet_data["screen"]["orientation"] = "sideways"
    write(tmp_path, "community-tablet.json", tablet_data)
    assert str(refused(tmp_path)).endswith(
        "community-tablet.json: screen.orientation: must be portrait or landscape / 屏幕方向必须是 portrait 或 landscape")


def test_print_guide_without_a_printer_is_refused(tmp_path, tablet_data):
    tablet_data["features"].append("print_guide")
    write(tmp_path, "community-tablet.json", tablet_data)
    error = refused(tmp_path)
    assert error.fields == ["features"]
    assert "print_guide needs a printer" in str(error)


def test_an_unknown_feature_is_refused_with_its_position(tmp_path, tablet_data):
    tablet_data["features"] = ["search", "fax"]
    write(tmp_path, "community-tablet.json", tablet_data)
    assert refused(tmp_path).fields == ["features[1]"]


def test_an_unknown_printer_kind_is_refused(tmp_path, tablet_data):
    tablet_data["peripherals"]["printer"] = {"kind": "thermal58", "dpi": 203}
    write(tmp_path, "community-tablet.json", tablet_data)
    assert refused(tmp_path).fields == ["peripherals.printer.kind"]


def test_languages_without_zh_cn_are_refused(tmp_path, tablet_data):
    tablet_data["ui"]["languages"] = ["en"]
    write(tmp_path, "community-tablet.json", tablet_data)
    error = refused(tmp_path)
    assert error.fields == ["ui.languages"]
    assert "must include zh-CN" in str(error)


def test_an_idle_warning_shorter_than_20_seconds_is_refused(tmp_path, tablet_data):
    tablet_data["ui"]["idle_warning_seconds"] = 10
    write(tmp_path, "community-tablet.json", tablet_data)
    error = refused(tmp_path)
    assert error.fields == ["ui.idle_warning_seconds"]
    assert "between 20 and 120" in str(error)


def test_an_idle_warning_as_long_as_the_idle_timeout_is_refused(tmp_path, tablet_data):
    tablet_data["ui"].update(idle_timeout_seconds=60, idle_warning_seconds=60)
    write(tmp_path, "community-tablet.json", tablet_data)
    assert refused(tmp_path).fields == ["ui.idle_warning_seconds"]


def test_a_font_scale_outside_0_8_to_2_is_refused(tmp_path, tablet_data):
    tablet_data["ui"]["font_scale"] = 2.5
    write(tmp_path, "community-tablet.json", tablet_data)
    assert refused(tmp_path).fields == ["ui.font_scale"]


def test_a_model_that_differs_from_the_file_name_is_refused(tmp_path, tablet_data):
    write(tmp_path, "tablet-v2.json", tablet_data)
    error = refused(tmp_path)
    assert error.fields == ["model"]
    assert 'must match the file name "tablet-v2"' in str(error)


def test_invalid_json_is_refused_with_its_line(tmp_path):
    write(tmp_path, "community-tablet.json", '{\n  "model": "community-tablet",\n}')
    error = refused(tmp_path)
    assert "community-tablet.json: invalid JSON at line 3" in str(error)


def test_invalid_toml_is_refused(tmp_path):
    write(tmp_path, "community-tablet.toml", 'model = "community-tablet\n')
    assert "community-tablet.toml: invalid TOML" in str(refused(tmp_path))


def test_a_file_holding_a_list_instead_of_an_object_is_refused(tmp_path, tablet_data):
    write(tmp_path, "community-tablet.json", [tablet_data])
    assert "must hold one object" in str(refused(tmp_path))


def test_a_model_defined_twice_is_refused(tmp_path, tablet_data):
    write(tmp_path, "community-tablet.json", tablet_data)
    # a valid TOML twin: same stem, so the model matches its own file name too
    (tmp_path / "community-tablet.toml").write_text(_to_toml(tablet_data), encoding="utf-8")
    error = refused(tmp_path)
    assert error.fields == ["model"]
    assert error.path.name == "community-tablet.toml"
    assert "already defined in community-tablet.json" in str(error)


def test_the_first_broken_file_is_reported_even_when_others_are_fine(tmp_path, tablet_data):
    write(tmp_path, "community-tablet.json", tablet_data)
    broken = copy.deepcopy(tablet_data) | {"model": "zz-broken"}
    broken["screen"]["touch"] = "yes"
    write(tmp_path, "zz-broken.json", broken)
    error = refused(tmp_path)
    assert error.path.name == "zz-broken.json" and error.fields == ["screen.touch"]


def test_an_empty_directory_is_an_error(tmp_path):
    (tmp_path / "README.md").write_text("not a profile", encoding="utf-8")
    assert "no device profiles" in str(refused(tmp_path))


def test_a_missing_directory_is_an_error(tmp_path):
    assert "not a directory" in str(refused(tmp_path / "nowhere"))


def _to_toml(data: dict) -> str:
    """Just enough TOML for a profile (strings, numbers, booleans, lists, one-level tables)."""
    def value(v):
        if isinstance(v, bool):
            return "true" if v else "false"
        if isinstance(v, (int, float)):
            return repr(v)
        if isinstance(v, str):
            return json.dumps(v, ensure_ascii=False)
        if isinstance(v, list):
            return "[" + ", ".join(value(x) for x in v) + "]"
        if isinstance(v, dict):
            return "{" + ", ".join(f"{k} = {value(x)}" for k, x in v.items()) + "}"
        raise TypeError(v)

    top = [f"{k} = {value(v)}" for k, v in data.items() if not isinstance(v, dict)]
    tables = []
    for k, v in data.items():
        if isinstance(v, dict):
            rows = [f"{kk} = {value(vv)}" for kk, vv in v.items() if vv is not None]
            tables.append(f"[{k}]\n" + "\n".join(rows))
    return "\n".join(top) + "\n\n" + "\n\n".join(tables) + "\n"


# ------------------------------------------------------------------ CLI

def test_profiles_check_lists_every_shipped_profile_and_exits_0():
    result = CliRunner().invoke(profiles_cli, ["check"])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert any(line.startswith("post-office-portrait  portrait  1080x1920  thermal80@203dpi  features=") for line in lines)
    assert any(line.startswith("community-tablet  landscape  1280x800  no-printer") for line in lines)
    assert lines[-1].startswith(f"{len(SHIPPED)} profile(s) OK")


def test_profiles_check_on_a_good_directory_prints_one_line_per_profile(tmp_path, tablet_data):
    write(tmp_path, "community-tablet.json", tablet_data)
    result = CliRunner().invoke(profiles_cli, ["check", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert result.output.splitlines()[0] == (
        "community-tablet  landscape  1280x800  no-printer  "
        "features=search,themes,bundles,qr_login,progress,rating,call_helper")


def test_profiles_check_on_a_bad_directory_exits_1_with_the_field_named(tmp_path, tablet_data):
    tablet_data["screen"]["orientation"] = "portrait"
    write(tmp_path, "community-tablet.json", tablet_data)
    result = CliRunner().invoke(profiles_cli, ["check", str(tmp_path)])
    assert result.exit_code == 1
    assert "community-tablet.json: screen.orientation:" in result.output
    assert "OK" not in result.output


def test_profiles_check_on_an_empty_directory_exits_1(tmp_path):
    result = CliRunner().invoke(profiles_cli, ["check", str(tmp_path)])
    assert result.exit_code == 1
    assert "no device profiles" in result.output
