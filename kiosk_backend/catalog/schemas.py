"""Catalog API schemas (In/Out) and the vocabulary they share with the import format.

The import format itself (national reporting field names) is ``import_schema.ItemImport``.
Messages we write are bilingual, ``English / 中文``; ``core.i18n`` splits them.
"""
from __future__ import annotations

import re

from marshmallow import fields, validate

from ..core.payloads import Schema

TASK_TYPES = {
    "01": "行政许可", "02": "行政处罚", "03": "行政强制", "04": "行政征收", "05": "行政给付",
    "06": "行政检查", "07": "行政确认", "08": "行政奖励", "09": "行政裁决", "10": "其他行政权力",
    "20": "公共服务",
}
SERVER_TYPES = ("自然人", "法人")
HANDLE_AREAS = ("全国", "跨省", "全省", "全市", "全县")
TASK_CODE_RE = re.compile(r"^[A-Za-z0-9._-]{1,64}$")


def one_of(choices, what_en: str, what_zh: str):
    shown = "/".join(str(c) for c in choices)
    return validate.OneOf(choices, error=f"{what_en} must be one of {shown} / {what_zh}必须是 {shown} 之一")


# ---------------------------------------------------------------- API: in

class SearchArgs(Schema):
    q = fields.String(load_default="", validate=validate.Length(max=50, error="At most 50 characters / 搜索词最多 50 个字"))
    page = fields.Integer(load_default=1, validate=validate.Range(min=1, max=10000))
    page_size = fields.Integer(load_default=20, validate=validate.Range(min=1, max=100))
    theme = fields.String(validate=validate.Length(max=64))
    department = fields.String(validate=validate.Length(max=200))
    bundle = fields.String(validate=validate.Length(max=100))
    server_type = fields.String(validate=one_of(SERVER_TYPES, "server_type", "服务对象"))
    handle_area = fields.String(validate=one_of(HANDLE_AREAS, "handle_area", "通办范围"))
    is_online = fields.Boolean()
    is_express = fields.Boolean()
    is_service_terminals = fields.Boolean()


class SuggestArgs(Schema):
    q = fields.String(required=True, validate=validate.Length(min=1, max=50))
    limit = fields.Integer(load_default=8, validate=validate.Range(min=1, max=20))


class ImportArgs(Schema):
    dry_run = fields.Boolean(load_default=False)
    skip_invalid = fields.Boolean(load_default=False)
    format = fields.String(load_default=None, validate=validate.OneOf(["json", "jsonl", "csv"]))


class SynonymIn(Schema):
    term = fields.String(required=True, validate=validate.Length(min=1, max=50))
    expansion = fields.String(required=True, validate=validate.Length(min=1, max=100))
    kind = fields.String(load_default="synonym", validate=validate.OneOf(["synonym", "correction"]))


# ---------------------------------------------------------------- API: out

class ItemSummary(Schema):
    task_code = fields.String()
    task_name = fields.String()
    dept_name = fields.String()
    task_type = fields.String()
    task_type_name = fields.String()
    handle_area = fields.String(allow_none=True)
    is_online = fields.Boolean()
    is_express = fields.Boolean()
    is_service_terminals = fields.Boolean()
    promise_day = fields.Integer(allow_none=True)
    promise_type = fields.String(allow_none=True)
    popularity = fields.Integer()


class SearchHelp(Schema):
    message = fields.String()
    message_zh = fields.String()


class MatchedWord(Schema):
    word = fields.String(metadata={"description": "the query's word as typed (normalised)"})
    matched = fields.String(metadata={"description": "what it matched in the catalog"})
    how = fields.String(metadata={"description": "exact | synonym | pinyin | corrected | dialect"})
    field = fields.String(metadata={"description": "name | keywords | bundle | text | department"})


class MatchExplained(Schema):
    words = fields.List(fields.Nested(MatchedWord))
    highlight = fields.List(fields.String(), metadata={"description": "substrings of task_name to highlight"})


class SearchItem(ItemSummary):
    match = fields.Nested(MatchExplained, metadata={"description": "which words matched this item, and how"})


class LifeEventGroup(Schema):
    key = fields.String()
    name = fields.String(metadata={"description": "e.g. 新生儿出生"})
    source = fields.String(metadata={"description": "the list the event comes from"})
    items = fields.List(fields.Nested(ItemSummary))


class LifeEventRef(Schema):
    key = fields.String()
    name = fields.String()


class SearchResult(Schema):
    query = fields.String()
    understood_as = fields.List(fields.String(), metadata={"description": "how words were read: corrections, "
                                                                          "pinyin, synonyms (from→to)"})
    did_you_mean = fields.String(allow_none=True, metadata={
        "description": "the query in catalog words when a word was corrected or read from pinyin (您是不是要找)"})
    total = fields.Integer()
    page = fields.Integer()
    page_size = fields.Integer()
    items = fields.List(fields.Nested(SearchItem))
    life_events = fields.List(fields.Nested(LifeEventGroup), metadata={
        "description": "life events (一件事) the query describes, each with its items; shown before the results"})
    popular = fields.List(fields.Nested(ItemSummary), metadata={"description": "offered when nothing matched"})
    help = fields.Nested(SearchHelp, allow_none=True)
    nearest_words = fields.List(fields.String(), metadata={
        "description": "when nothing matched: catalog words nearest to the query"})
    nearest_life_events = fields.List(fields.Nested(LifeEventRef), metadata={
        "description": "when nothing matched: the closest life events"})


class SuggestionOut(Schema):
    task_code = fields.String()
    task_name = fields.String()


class SuggestResult(Schema):
    suggestions = fields.List(fields.Nested(SuggestionOut))


class MaterialOut(Schema):
    name = fields.String()
    necessity = fields.String()
    form = fields.String()
    type = fields.String()
    source = fields.String(allow_none=True)
    paper_copies = fields.Integer(allow_none=True)
    paper_size = fields.String(allow_none=True)
    blank_form = fields.String(allow_none=True)
    sample = fields.String(allow_none=True)
    note = fields.String(allow_none=True)


class FeeOut(Schema):
    name = fields.String()
    standard = fields.String(allow_none=True)
    basis = fields.String(allow_none=True)
    reduction = fields.String(allow_none=True)


class FaqOut(Schema):
    question = fields.String()
    answer = fields.String()


class ItemGuide(ItemSummary):
    """The whole 办事指南."""

    catalog_code = fields.String(allow_none=True)
    task_version = fields.String(allow_none=True)
    task_state = fields.String()
    dept_code = fields.String(allow_none=True)
    entrust_dept = fields.String(allow_none=True)
    server_type = fields.List(fields.String())
    accept_condition = fields.String(allow_none=True)
    by_law = fields.String(allow_none=True)
    anticipate_day = fields.Integer(allow_none=True)
    anticipate_type = fields.String(allow_none=True)
    project_type = fields.String(allow_none=True)
    handle_flow = fields.String(allow_none=True)
    special_procedure = fields.String(allow_none=True)
    limit_scene_num = fields.Integer(allow_none=True)
    limit_scene_explain = fields.String(allow_none=True)
    is_fee = fields.Boolean()
    fees = fields.List(fields.Nested(FeeOut))
    transact_addr = fields.String(allow_none=True)
    transact_time = fields.String(allow_none=True)
    link_way = fields.String(allow_none=True)
    supervise_way = fields.String(allow_none=True)
    online_handle_depth = fields.String(allow_none=True)
    is_schedule = fields.Boolean()
    theme_natural = fields.List(fields.String())
    theme_legal = fields.List(fields.String())
    materials = fields.List(fields.Nested(MaterialOut))
    faq = fields.List(fields.Nested(FaqOut))
    bundles = fields.List(fields.String())
    updated_at = fields.DateTime()


class ThemeOut(Schema):
    audience = fields.String(metadata={"description": "natural (自然人) or legal (法人)"})
    name = fields.String()
    item_count = fields.Integer()


class DepartmentOut(Schema):
    name = fields.String()
    code = fields.String(allow_none=True)
    item_count = fields.Integer()


class BundleOut(Schema):
    id = fields.Integer()
    name = fields.String()
    description = fields.String(allow_none=True)
    items = fields.List(fields.Nested(ItemSummary))


class ImportProblem(Schema):
    line = fields.Integer(metadata={"description": "line (CSV/JSONL) or 1-based position (JSON array)"})
    task_code = fields.String(allow_none=True)
    field = fields.String()
    message = fields.String()
    message_zh = fields.String()


class ImportReport(Schema):
    rows = fields.Integer()
    valid = fields.Integer()
    created = fields.Integer()
    updated = fields.Integer()
    skipped = fields.Integer()
    dry_run = fields.Boolean()
    written = fields.Boolean()
    problems = fields.List(fields.Nested(ImportProblem), metadata={
        "description": "The first problems found (KIOSK_IMPORT_MAX_PROBLEMS, 200 by default)"})
    problems_total = fields.Integer(metadata={"description": "How many problems were found in all"})


class SynonymOut(Schema):
    id = fields.Integer()
    term = fields.String()
    expansion = fields.String()
    kind = fields.String()
    created_by = fields.String(allow_none=True)
