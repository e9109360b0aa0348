"""Device profiles: what a kiosk hardware model has (screen, printer, readers) and how its UI
behaves (font scale, languages, idle time, features).

One file per model in ``device_profiles/`` (JSON, or TOML), named after the model::

    device_profiles/post-office-portrait.json   {"model": "post-office-portrait", ...}

Files are validated strictly: unknown fields are refused, types are not coerced ("1080" is
not a number), and every message names the file and the field path, in English and Chinese::

    device_profiles/community-tablet.json: screen.orientation: must be portrait or landscape / 屏幕方向必须是 portrait 或 landscape

Check a directory from the shell (no app or database needed)::

    python -m kiosk_backend.fleet.profiles check [DIR]
"""
from __future__ import annotations

import json
import math
import numbers
import tomllib
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import click
import marshmallow as ma
from marshmallow import fields, validate

DEFAULT_PROFILE_DIR = Path(__file__).resolve().parent.parent.parent / "device_profiles"
PROFILE_SUFFIXES = (".json", ".toml")

ORIENTATIONS = ("portrait", "landscape")
PRINTER_KINDS = ("thermal80", "a4")
LANGUAGES = ("zh-CN", "en")
FEATURES = ("search", "themes", "bundles", "departments", "print_guide", "qr_login", "progress",
            "courier", "rating", "call_helper")
PRINTER_FEATURES = frozenset({"print_guide"})
MODEL_RE = r"^[a-z0-9][a-z0-9-]{0,62}$"


# ------------------------------------------------------------------ fields

_BASE_MESSAGES = {
    "required": "required field is missing / 缺少必填字段",
    "null": "may not be null / 不能为 null",
    "validator_failed": "invalid value / 值无效",
}


class _StrictInt(fields.Integer):
    """A JSON/TOML integer; strings, floats and booleans are refused."""

    default_error_messages = _BASE_MESSAGES | {
        "invalid": "must be a whole number / 必须是整数",
        "not_an_integer": "must be a whole number / 必须是整数",
        "too_large": "number too large / 数值过大",
    }

    def __init__(self, **kw):
        super().__init__(strict=True, **kw)

    def _validated(self, value):
        if isinstance(value, bool) or not isinstance(value, numbers.Integral):
            raise self.make_error("invalid")
        return super()._validated(value)


class _StrictNumber(fields.Float):
    """A JSON/TOML number (integer or decimal); strings, booleans, NaN and infinity are refused."""

    default_error_messages = _BASE_MESSAGES | {
        "invalid": "must be a number / 必须是数字",
        "special": "must be a finite number / 必须是有限的数字",
        "too_large": "number too large / 数值过大",
    }

    def _validated(self, value):
        if isinstance(value, bool) or not isinstance(value, numbers.Real):
            raise self.make_error("invalid")
        if not math.isfinite(value):
            raise self.make_error("special")
        return super()._validated(value)


class _StrictBool(fields.Boolean):
    """``true`` or ``false`` only: not 1/0, not "yes"."""

    default_error_messages = _BASE_MESSAGES | {"invalid": "must be true or false / 必须是 true 或 false"}

    def _deserialize(self, value, attr, data, **kwargs):
        if value is True or value is False:
            return value
        raise self.make_error("invalid")


class _StrictString(fields.String):
    default_error_messages = _BASE_MESSAGES | {"invalid": "must be text / 必须是文本"}


class _List(fields.List):
    default_error_messages = _BASE_MESSAGES | {"invalid": "must be a list / 必须是列表"}


class _Nested(fields.Nested):
    default_error_messages = _BASE_MESSAGES | {"type": "must be an object / 必须是对象"}


def _range(lo, hi, en: str, zh: str) -> validate.Range:
    return validate.Range(min=lo, max=hi, error=f"{en} must be between {lo} and {hi} / {zh}必须在 {lo} 到 {hi} 之间")


def _one_of(choices, zh: str) -> validate.OneOf:
    if len(choices) == 2:
        error = f"must be {choices[0]} or {choices[1]} / {zh}必须是 {choices[0]} 或 {choices[1]}"
    else:
        error = f"must be one of {', '.join(choices)} / {zh}必须是 {'、'.join(choices)} 之一"
    return validate.OneOf(choices, error=error)


# ------------------------------------------------------------------ schemas

class _StrictSchema(ma.Schema):
    class Meta:
        unknown = ma.RAISE

    error_messages = {
        "unknown": "unknown field / 不认识的字段（请检查拼写）",
        "type": "must be an object / 必须是对象",
    }


class ScreenSchema(_StrictSchema):
    width_px = _StrictInt(required=True, validate=_range(320, 7680, "width_px", "屏幕宽度（像素）"))
    height_px = _StrictInt(required=True, validate=_range(320, 7680, "height_px", "屏幕高度（像素）"))
    orientation = _StrictString(required=True, validate=_one_of(ORIENTATIONS, "屏幕方向"))
    diagonal_inch = _StrictNumber(required=True, validate=_range(5, 100, "diagonal_inch", "屏幕尺寸（英寸）"))
    dpi = _StrictInt(required=True, validate=_range(40, 600, "dpi", "屏幕像素密度（dpi）"))
    touch = _StrictBool(required=True)

    @ma.validates_schema
    def _orientation_matches_size(self, data, **kwargs):
        width, height, orientation = data.get("width_px"), data.get("height_px"), data.get("orientation")
        if width is None or height is None or orientation is None:
            return  # already reported
        if width == height:
            raise ma.ValidationError(
                f"a square screen ({width}×{height}) is neither portrait nor landscape / "
                f"方形屏幕（{width}×{height}）既不是竖屏也不是横屏", "orientation")
        actual = "portrait" if height > width else "landscape"
        if orientation != actual:
            actual_zh = "竖屏" if actual == "portrait" else "横屏"
            raise ma.ValidationError(
                f"{width}×{height} is {actual}, not {orientation} / "
                f"屏幕 {width}×{height} 是{actual_zh}，屏幕方向应为 {actual}", "orientation")


class PrinterSchema(_StrictSchema):
    kind = _StrictString(required=True, validate=_one_of(PRINTER_KINDS, "打印机类型"))
    dpi = _StrictInt(required=True, validate=_range(150, 600, "dpi", "打印分辨率（dpi）"))


class PeripheralsSchema(_StrictSchema):
    # null or absent: no printer (TOML has no null, so leaving the key out must work too)
    printer = _Nested(PrinterSchema, allow_none=True, load_default=None)
    id_card_reader = _StrictBool(required=True)
    qr_scanner = _StrictBool(required=True)
    document_scanner = _StrictBool(required=True)
    camera = _StrictBool(required=True)
    speaker = _StrictBool(required=True)


class UiSchema(_StrictSchema):
    font_scale = _StrictNumber(required=True, validate=_range(0.8, 2.0, "font_scale", "字体缩放"))
    elder_mode_default = _StrictBool(required=True)
    languages = _List(_StrictString(validate=_one_of(LANGUAGES, "界面语言")), required=True)
    idle_timeout_seconds = _StrictInt(required=True, validate=_range(30, 600, "idle_timeout_seconds", "无操作超时（秒）"))
    idle_warning_seconds = _StrictInt(required=True, validate=_range(20, 120, "idle_warning_seconds", "超时倒计时（秒）"))
    attract_screen = _StrictBool(required=True)

    @ma.validates("languages")
    def _languages(self, value, **kwargs):
        if "zh-CN" not in value:
            raise ma.ValidationError("must include zh-CN (the default language) / 界面语言必须包含 zh-CN（默认语言）")
        if len(set(value)) != len(value):
            raise ma.ValidationError("a language is listed twice / 界面语言有重复")

    @ma.validates_schema
    def _warning_within_timeout(self, data, **kwargs):
        timeout, warning = data.get("idle_timeout_seconds"), data.get("idle_warning_seconds")
        if timeout is not None and warning is not None and warning >= timeout:
            raise ma.ValidationError(
                f"the countdown ({warning} s) must be shorter than idle_timeout_seconds ({timeout} s) / "
                f"超时倒计时（{warning} 秒）必须短于无操作超时（{timeout} 秒）", "idle_warning_seconds")


class DeviceProfileSchema(_StrictSchema):
    """One device profile file."""

    model = _StrictString(required=True, validate=validate.Regexp(
        MODEL_RE, error="lower-case letters, digits and - only, at most 63 / 型号标识只能由小写字母、数字和 - 组成，最多 63 位"))
    vendor = _StrictString(required=True, validate=validate.Length(
        min=1, max=100, error="1–100 characters / 厂商名称长度须为 1–100 个字"))
    name = _StrictString(required=True, validate=validate.Length(
        min=1, max=100, error="1–100 characters / 显示名称长度须为 1–100 个字"))
    screen = _Nested(ScreenSchema, required=True)
    peripherals = _Nested(PeripheralsSchema, required=True)
    ui = _Nested(UiSchema, required=True)
    features = _List(_StrictString(validate=_one_of(FEATURES, "功能")), required=True)

    @ma.validates("features")
    def _features_unique(self, value, **kwargs):
        if len(set(value)) != len(value):
            raise ma.ValidationError("a feature is listed twice / 功能有重复")

    @ma.validates_schema
    def _printer_features(self, data, **kwargs):
        peripherals, features = data.get("peripherals"), data.get("features")
        if peripherals is None or features is None:
            return
        needs_printer = sorted(PRINTER_FEATURES.intersection(features))
        if needs_printer and peripherals.get("printer") is None:
            shown = ", ".join(needs_printer)
            raise ma.ValidationError(
                f"{shown} needs a printer, but peripherals.printer is null / "
                f"{shown} 需要打印机，但 peripherals.printer 为 null", "features")


# ------------------------------------------------------------------ the profile

@dataclass(frozen=True)
class Screen:
    width_px: int
    height_px: int
    orientation: str
    diagonal_inch: float
    dpi: int
    touch: bool


@dataclass(frozen=True)
class Printer:
    kind: str
    dpi: int


@dataclass(frozen=True)
class Peripherals:
    printer: Printer | None
    id_card_reader: bool
    qr_scanner: bool
    document_scanner: bool
    camera: bool
    speaker: bool


@dataclass(frozen=True)
class UiSettings:
    font_scale: float
    elder_mode_default: bool
    languages: tuple[str, ...]
    idle_timeout_seconds: int
    idle_warning_seconds: int
    attract_screen: bool


@dataclass(frozen=True)
class DeviceProfile:
    model: str
    vendor: str
    name: str
    screen: Screen
    peripherals: Peripherals
    ui: UiSettings
    features: tuple[str, ...]

    @property
    def printer_kind(self) -> str | None:
        """"thermal80", "a4", or None when the model has no printer."""
        printer = self.peripherals.printer
        return printer.kind if printer else None

    @property
    def orientation(self) -> str:
        return self.screen.orientation

    @property
    def idle_seconds(self) -> int:
        """Seconds without a touch before the idle countdown starts."""
        return self.ui.idle_timeout_seconds

    @property
    def idle_warning_seconds(self) -> int:
        """Length of the full-screen "继续办理" countdown."""
        return self.ui.idle_warning_seconds

    def has(self, feature: str) -> bool:
        """Whether the UI offers ``feature`` (one of FEATURES) on this model."""
        return feature in self.features

    def to_dict(self) -> dict[str, Any]:
        """The profile in its file shape (lists, not tuples), e.g. for the kiosk UI."""
        data = asdict(self)
        data["ui"]["languages"] = list(self.ui.languages)
        data["features"] = list(self.features)
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> DeviceProfile:
        """Build from data already loaded by DeviceProfileSchema."""
        per = data["peripherals"]
        return cls(
            model=data["model"],
            vendor=data["vendor"],
            name=data["name"],
            screen=Screen(**data["screen"]),
            peripherals=Peripherals(**(per | {"printer": Printer(**per["printer"]) if per["printer"] else None})),
            ui=UiSettings(**(data["ui"] | {"languages": tuple(data["ui"]["languages"])})),
            features=tuple(data["features"]),
        )


# ------------------------------------------------------------------ loading

class ProfileError(Exception):
    """A broken profile file or directory. ``str()`` is one line per problem::

        device_profiles/community-tablet.json: screen.orientation: must be portrait or landscape / …
    """

    def __init__(self, path: Path, problems: list[tuple[str | None, str]]):
        self.path = Path(path)
        self.problems = problems  # (field path or None for the whole file, bilingual message)
        shown = _display(self.path)
        lines = [f"{shown}: {field}: {message}" if field else f"{shown}: {message}" for field, message in problems]
        super().__init__("\n".join(lines))

    @property
    def fields(self) -> list[str]:
        return [field for field, _ in self.problems if field]


def _display(path: Path) -> str:
    """The path relative to the project (``device_profiles/x.json``) or cwd when possible."""
    path = Path(path)
    for base in (DEFAULT_PROFILE_DIR.parent, Path.cwd()):
        try:
            return path.resolve().relative_to(base.resolve()).as_posix()
        except ValueError:
            continue
    return str(path)


def _flatten(errors, prefix: str = "") -> list[tuple[str | None, str]]:
    """marshmallow's nested error dict → [(dotted.path[index], message)] in a stable order."""
    out: list[tuple[str | None, str]] = []
    if isinstance(errors, dict):
        for key in errors:  # marshmallow's order: declared fields, then whole-schema checks
            if key == "_schema":
                path = prefix
            elif isinstance(key, int):
                path = f"{prefix}[{key}]"
            else:
                path = f"{prefix}.{key}" if prefix else str(key)
            out.extend(_flatten(errors[key], path))
    elif isinstance(errors, (list, tuple)):
        for message in errors:
            out.extend(_flatten(message, prefix) if isinstance(message, (dict, list)) else [(prefix or None, str(message))])
    else:
        out.append((prefix or None, str(errors)))
    return out


def _parse(path: Path) -> Any:
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise ProfileError(path, [(None, "not UTF-8 text / 文件不是 UTF-8 编码的文本")]) from None
    except OSError as exc:
        raise ProfileError(path, [(None, f"cannot read the file ({exc.strerror}) / 无法读取文件")]) from None
    if path.suffix == ".toml":
        try:
            return tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise ProfileError(path, [(None, f"invalid TOML ({exc}) / TOML 格式错误")]) from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise ProfileError(path, [(None, f"invalid JSON at line {exc.lineno}, column {exc.colno} ({exc.msg}) / "
                                         f"JSON 格式错误（第 {exc.lineno} 行第 {exc.colno} 列）")]) from None


def load_profile(path: Path) -> DeviceProfile:
    """Read and validate one profile file (.json or .toml); ProfileError when it is broken."""
    path = Path(path)
    raw = _parse(path)
    if not isinstance(raw, dict):
        raise ProfileError(path, [(None, "the file must hold one object ({...}) / 文件内容必须是一个对象（{...}）")])
    try:
        data = DeviceProfileSchema().load(raw)
    except ma.ValidationError as exc:
        raise ProfileError(path, _flatten(exc.messages)) from None
    if data["model"] != path.stem:
        raise ProfileError(path, [("model", f'"{data["model"]}" must match the file name "{path.stem}" / '
                                            f'型号标识 "{data["model"]}" 必须与文件名 "{path.stem}" 一致')])
    return DeviceProfile.from_dict(data)


def load_profiles(directory: Path = DEFAULT_PROFILE_DIR) -> dict[str, DeviceProfile]:
    """Every *.json and *.toml profile in ``directory`` by model, in file-name order.

    Raises ProfileError for the first broken file (invalid JSON/TOML, schema errors, model
    not matching the file stem, a model defined twice) and for a missing or empty directory.
    """
    directory = Path(directory)
    if not directory.is_dir():
        raise ProfileError(directory, [(None, "not a directory / 目录不存在")])
    files = sorted(p for p in directory.iterdir() if p.suffix in PROFILE_SUFFIXES and p.is_file())
    if not files:
        raise ProfileError(directory, [(None, "no device profiles (*.json, *.toml) / 目录中没有设备配置文件（*.json、*.toml）")])
    profiles: dict[str, DeviceProfile] = {}
    origin: dict[str, Path] = {}
    for path in files:
        profile = load_profile(path)
        if profile.model in profiles:
            raise ProfileError(path, [("model", f'"{profile.model}" is already defined in {origin[profile.model].name} / '
                                                f'型号 "{profile.model}" 已在 {origin[profile.model].name} 中定义')])
        profiles[profile.model] = profile
        origin[profile.model] = path
    return profiles


# ------------------------------------------------------------------ CLI

def describe(profile: DeviceProfile) -> str:
    """One line: model, orientation, size, printer, features."""
    s = profile.screen
    printer = profile.peripherals.printer
    printer_text = f"{printer.kind}@{printer.dpi}dpi" if printer else "no-printer"
    return (f"{profile.model}  {s.orientation}  {s.width_px}x{s.height_px}  "
            f"{printer_text}  features={','.join(profile.features) or '-'}")


@click.group("profiles")
def profiles_cli():
    """Kiosk device profiles (设备配置): one file per hardware model."""


@profiles_cli.command("check")
@click.argument("directory", required=False, type=click.Path(path_type=Path), default=None)
def check(directory: Path | None):
    """Validate every profile in DIRECTORY (default: the project's device_profiles/)."""
    try:
        profiles = load_profiles(directory or DEFAULT_PROFILE_DIR)
    except ProfileError as exc:
        click.echo(str(exc), err=True)
        raise SystemExit(1) from None
    for profile in profiles.values():
        click.echo(describe(profile))
    click.echo(f"{len(profiles)} profile(s) OK / {len(profiles)} 个设备配置有效")


if __name__ == "__main__":  # python -m kiosk_backend.fleet.profiles check [DIR]
    profiles_cli()
