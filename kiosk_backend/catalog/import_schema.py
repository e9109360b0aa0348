"""The catalog import format: one row per item, in the national reporting field names.

``ItemImport`` validates and normalises one row (JSON object or CSV row) for
``importer.validate_rows``; the consistency rules of DOMAIN.md live here too.
Messages we write are bilingual, ``English / 中文``; ``core.i18n`` splits them.
"""
from __future__ import annotations

import re

import marshmallow as ma
from marshmallow import fields, validate
from stdnum.cn import uscc

from ..core.payloads import Schema
from .schemas import HANDLE_AREAS, SERVER_TYPES, TASK_CODE_RE, TASK_TYPES, one_of

TASK_TYPE_BY_NAME = {name: code for code, name in TASK_TYPES.items()} | {
    name[2:]: code for code, name in TASK_TYPES.items() if name.startswith("行政")
}
DAY_TYPES = ("工作日", "自然日")
PROJECT_TYPES = ("即办件", "承诺件")
DEPTHS = ("I", "II", "III", "IV")
NECESSITY = ("必要", "非必要", "容缺")
MATERIAL_FORMS = ("纸质", "电子", "纸质+电子")
MATERIAL_TYPES = ("原件", "复印件", "原件和复印件")

TRUTHY = {"1", "true", "True", "TRUE", "y", "Y", "yes", "Yes", "是", 1}
FALSY = {"0", "false", "False", "FALSE", "n", "N", "no", "No", "否", "", 0}
_LIST_SPLIT = re.compile(r"[;；,，|、]")
# catalog_item.popularity is an INTEGER column: 32 bits on PostgreSQL (SQLite would take more).
MAX_POPULARITY = 2**31 - 1
# catalog_theme.name is VARCHAR(64), catalog_bundle.name VARCHAR(100).
THEME_NAME_MAX, BUNDLE_NAME_MAX = 64, 100


class Flag(fields.Boolean):
    """是/否, true/false, 1/0, Y/N; empty CSV cells count as 否."""

    default_error_messages = {"invalid": "Not a yes/no value / 不是有效的是/否值（可填 是/否、1/0、true/false）"}

    def __init__(self, **kw):
        super().__init__(truthy=TRUTHY, falsy=FALSY, **kw)


class TextList(fields.List):
    """A JSON list of strings, or one CSV cell separated by ; ， | 、 (each at most ``max_len``)."""

    def __init__(self, max_len: int = 100, **kw):
        super().__init__(fields.String(validate=validate.Length(
            max=max_len, error=f"Each at most {max_len} characters / 每项最多 {max_len} 个字")), **kw)

    def _deserialize(self, value, attr, data, **kwargs):
        if isinstance(value, str):
            value = [part.strip() for part in _LIST_SPLIT.split(value) if part.strip()]
        return super()._deserialize(value, attr, data, **kwargs)


class LooseInt(fields.Integer):
    """Integers that may arrive as CSV text; an empty cell means "not given"."""

    default_error_messages = {"invalid": "Not a valid whole number / 不是有效的整数"}

    def _deserialize(self, value, attr, data, **kwargs):
        if isinstance(value, str) and not value.strip():
            return None
        return super()._deserialize(value, attr, data, **kwargs)


def _text(max_len: int | None = None, **kw):
    validators = [validate.Length(max=max_len, error=f"At most {max_len} characters / 最多 {max_len} 个字")] if max_len else []
    return fields.String(allow_none=True, validate=validators, **kw)


class MaterialSchema(Schema):
    class Meta:
        unknown = ma.EXCLUDE

    name = fields.String(required=True, validate=validate.Length(min=1, max=200))
    necessity = fields.String(load_default="必要", validate=one_of(NECESSITY, "necessity", "材料必要性"))
    form = fields.String(load_default="纸质", validate=one_of(MATERIAL_FORMS, "form", "材料形式"))
    type = fields.String(load_default="原件", validate=one_of(MATERIAL_TYPES, "type", "材料类型"))
    source = _text(100, load_default="申请人自备")
    paper_copies = LooseInt(allow_none=True, load_default=1, validate=validate.Range(min=0, max=99))
    paper_size = _text(20, load_default=None)
    blank_form = _text(500, load_default=None)
    sample = _text(500, load_default=None)
    note = _text(2000, load_default=None)


class FeeSchema(Schema):
    class Meta:
        unknown = ma.EXCLUDE

    name = fields.String(required=True, validate=validate.Length(min=1, max=200))
    standard = _text(500, load_default=None)
    basis = _text(2000, load_default=None)
    reduction = _text(1000, load_default=None)


class FaqSchema(Schema):
    class Meta:
        unknown = ma.EXCLUDE

    question = fields.String(required=True, validate=validate.Length(min=1, max=500))
    answer = fields.String(required=True, validate=validate.Length(min=1, max=5000))


class ItemImport(Schema):
    """One item in the import format: the national reporting field names.

    Only ``task_name``, ``task_code``, ``dept_name`` and ``task_type`` are required.
    Unknown keys are ignored so exports from provincial platforms import as they are.
    """

    class Meta:
        unknown = ma.EXCLUDE

    task_name = fields.String(required=True, validate=validate.Length(min=1, max=200, error="1–200 characters / 长度须为 1–200 个字"))
    task_code = fields.String(required=True, validate=validate.Regexp(
        TASK_CODE_RE, error="Letters, digits, . _ - only, at most 64 / 实施编码只能由字母、数字和 . _ - 组成，最多 64 位"))
    catalog_code = fields.String(allow_none=True, load_default=None, validate=validate.Regexp(
        r"^(\d{12})?$", error="Must be 12 digits / 基本编码必须是 12 位数字"))
    task_type = fields.String(required=True)
    task_version = _text(32, load_default=None)
    task_state = _text(16, load_default="在用")

    dept_name = fields.String(required=True, validate=validate.Length(min=1, max=200))
    dept_code = fields.String(allow_none=True, load_default=None)
    entrust_dept = _text(200, load_default=None)

    server_type = TextList(load_default=lambda: ["自然人"])
    accept_condition = _text(20000, load_default=None)
    by_law = _text(20000, load_default=None)

    anticipate_day = LooseInt(allow_none=True, load_default=None, validate=validate.Range(min=0, max=3650))
    anticipate_type = fields.String(allow_none=True, load_default=None, validate=one_of(DAY_TYPES, "anticipate_type", "法定时限单位"))
    promise_day = LooseInt(allow_none=True, load_default=None, validate=validate.Range(min=0, max=3650))
    promise_type = fields.String(allow_none=True, load_default=None, validate=one_of(DAY_TYPES, "promise_type", "承诺时限单位"))

    project_type = fields.String(allow_none=True, load_default=None, validate=one_of(PROJECT_TYPES, "project_type", "办件类型"))
    handle_flow = _text(20000, load_default=None)
    special_procedure = _text(5000, load_default=None)
    limit_scene_num = LooseInt(allow_none=True, load_default=None, validate=validate.Range(min=0, max=20))
    limit_scene_explain = _text(2000, load_default=None)

    is_fee = Flag(load_default=False)
    fees = fields.List(fields.Nested(FeeSchema), load_default=list)

    transact_addr = _text(2000, load_default=None)
    transact_time = _text(2000, load_default=None)
    link_way = _text(1000, load_default=None)
    supervise_way = _text(1000, load_default=None)

    is_online = Flag(load_default=False)
    online_handle_depth = fields.String(allow_none=True, load_default=None)
    is_express = Flag(load_default=False)
    is_schedule = Flag(load_default=False)
    is_service_terminals = Flag(load_default=False)
    handle_area = fields.String(allow_none=True, load_default=None, validate=one_of(HANDLE_AREAS, "handle_area", "通办范围"))

    theme_natural = TextList(THEME_NAME_MAX, load_default=list)
    theme_legal = TextList(THEME_NAME_MAX, load_default=list)
    materials = fields.List(fields.Nested(MaterialSchema), load_default=list)
    faq = fields.List(fields.Nested(FaqSchema), load_default=list)
    keywords = TextList(load_default=list)
    popularity = LooseInt(load_default=0, validate=validate.Range(
        min=0, max=MAX_POPULARITY, error=f"A whole number from 0 to {MAX_POPULARITY} / 须为 0 到 {MAX_POPULARITY} 之间的整数"))
    bundles = TextList(BUNDLE_NAME_MAX, load_default=list)

    @ma.pre_load
    def _blank_cells_are_missing(self, data, **kwargs):
        # CSV gives "" for every empty cell; treat it as "not given" for optional fields.
        if isinstance(data, dict):
            return {k: v for k, v in data.items() if not (isinstance(v, str) and v.strip() == "")}
        return data

    @ma.validates("task_type")
    def _task_type(self, value, **kwargs):
        if value not in TASK_TYPES and value not in TASK_TYPE_BY_NAME:
            raise ma.ValidationError(
                "Unknown task type; use a code 01–10, 20 or its name / 事项类型无效，请填写 01–10、20 或其名称（如 行政许可、公共服务）")

    @ma.validates("task_name", "dept_name")
    def _not_blank(self, value, **kwargs):
        if not value.strip():
            raise ma.ValidationError("Must not be blank / 不能只有空白")

    @ma.validates("dept_code")
    def _dept_code(self, value, **kwargs):
        if value and not uscc.is_valid(value):
            raise ma.ValidationError("Not a valid unified social credit code / 不是有效的统一社会信用代码")

    @ma.validates("server_type")
    def _server_type(self, value, **kwargs):
        bad = [v for v in value if v not in SERVER_TYPES]
        if bad or not value:
            raise ma.ValidationError("Must be 自然人 and/or 法人 / 服务对象只能是 自然人 或 法人")

    @ma.validates("online_handle_depth")
    def _depth(self, value, **kwargs):
        if value is not None and str(value).upper() not in DEPTHS and str(value) not in ("1", "2", "3", "4"):
            raise ma.ValidationError("Must be I, II, III or IV / 网上办理深度必须是 I、II、III 或 IV")

    @ma.validates_schema
    def _consistency(self, data, **kwargs):
        """The consistency rules of DOMAIN.md, each naming the field to fix."""
        errors: dict[str, str] = {}
        promise, project = data.get("promise_day"), data.get("project_type")
        if promise == 0 and project == "承诺件":
            errors["project_type"] = "A promise of 0 days (即办) requires 即办件 / 承诺时限为即办（0天）时办件类型必须是即办件"
        if project == "即办件" and promise not in (None, 0):
            errors["promise_day"] = "即办件 must have promise_day 0 / 即办件的承诺时限必须为 0（即办）"
        scenes = data.get("limit_scene_num")
        if scenes and not (data.get("limit_scene_explain") or "").strip():
            errors["limit_scene_explain"] = "Give the reason for on-site visits / 到办事现场次数大于 0 时必须说明原因"
        if scenes == 0 and not data.get("is_online") and not data.get("is_express"):
            errors["is_express"] = ("Zero visits and not online requires courier submission / "
                                    "到现场次数为 0 且不支持网办时，必须支持物流快递（is_express）")
        if data.get("fees") and not data.get("is_fee"):
            errors["is_fee"] = "Fees are listed but is_fee is 否 / 列出了收费项目，是否收费却为否"
        if errors:
            raise ma.ValidationError(errors)

    @ma.post_load
    def _normalize(self, data, **kwargs):
        data["task_type"] = data["task_type"] if data["task_type"] in TASK_TYPES else TASK_TYPE_BY_NAME[data["task_type"]]
        depth = data.get("online_handle_depth")
        if depth is not None:
            depth = str(depth).upper()
            data["online_handle_depth"] = {"1": "I", "2": "II", "3": "III", "4": "IV"}.get(depth, depth)
        data["task_name"] = data["task_name"].strip()
        data["dept_name"] = data["dept_name"].strip()
        return data

