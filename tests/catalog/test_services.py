"""Catalog services against the database: import writes, guides, browsing, synonyms."""
from __future__ import annotations

import json

import pytest
import sqlalchemy as sa

from kiosk_backend.catalog import services
from kiosk_backend.catalog.models import Bundle, BundleItem, CatalogRevision, Department, Item, Theme
from kiosk_backend.core import actors, audit
from kiosk_backend.core.actors import SYSTEM
from kiosk_backend.core.errors import Conflict, NotFound
from tests.conftest import item_row


def check(*rows):
    return services.check_file(json.dumps(list(rows), ensure_ascii=False).encode(), fmt="json")


def count(db, model):
    return db.session.scalar(sa.select(sa.func.count()).select_from(model))


def test_import_creates_items_departments_themes_and_bundles(db):
    result = services.import_items(db.session, check(
        item_row(task_code="A1", theme_natural=["户籍办理"], bundles=["出生一件事"], server_type=["自然人", "法人"]),
        item_row(task_code="A2", task_name="新生儿入户", theme_natural=["户籍办理", "生育收养"], bundles=["出生一件事"]),
    ), actor=SYSTEM)
    db.session.commit()
    assert (result.created, result.updated, result.written) == (2, 0, True)
    assert count(db, Item) == 2 and count(db, Department) == 1 and count(db, Theme) == 2
    item = services.get_item(db.session, "A1")
    assert item.for_natural and item.for_legal
    assert item.name_initials == "jmsfzsl" and item.name_pinyin == "juminshenfenzhengshenling"
    bundle = db.session.scalar(sa.select(Bundle))
    assert [link.item.task_code for link in bundle.items] == ["A1", "A2"]


def test_reimport_updates_by_task_code_and_replaces_themes_and_bundles(db):
    services.import_items(db.session, check(item_row(task_code="A1", theme_natural=["户籍办理"], bundles=["出生一件事"])), actor=SYSTEM)
    db.session.commit()
    result = services.import_items(db.session, check(
        item_row(task_code="A1", task_name="居民身份证换领", theme_natural=["证件办理"], promise_day=20)), actor=SYSTEM)
    db.session.commit()
    assert (result.created, result.updated) == (0, 1)
    guide = services.guide_of(db.session, services.get_item(db.session, "A1"))
    assert guide["task_name"] == "居民身份证换领" and guide["promise_day"] == 20
    assert guide["theme_natural"] == ["证件办理"] and guide["bundles"] == []
    assert count(db, Item) == 1 and count(db, BundleItem) == 0


def test_nothing_is_written_when_any_row_is_invalid(db):
    checked = check(item_row(task_code="OK1"), item_row(task_code="BAD", task_type="99"))
    result = services.import_items(db.session, checked, actor=SYSTEM)
    db.session.commit()
    assert not result.written and count(db, Item) == 0 and count(db, Department) == 0


def test_skip_invalid_writes_the_valid_rows_only(db):
    checked = check(item_row(task_code="OK1"), item_row(task_code="BAD", task_type="99"))
    result = services.import_items(db.session, checked, actor=SYSTEM, skip_invalid=True)
    db.session.commit()
    assert result.written and result.report()["skipped"] == 1
    assert db.session.scalars(sa.select(Item.task_code)).all() == ["OK1"]


def test_dry_run_writes_nothing_even_for_a_valid_file(db):
    result = services.import_items(db.session, check(item_row(task_code="OK1")), actor=SYSTEM, dry_run=True)
    db.session.commit()
    assert not result.written and count(db, Item) == 0


def test_every_import_changes_the_catalog_revision(db):
    services.import_items(db.session, check(item_row(task_code="A1")), actor=SYSTEM)
    first = db.session.scalar(sa.select(CatalogRevision.token))
    services.import_items(db.session, check(item_row(task_code="A1")), actor=SYSTEM)
    assert db.session.scalar(sa.select(CatalogRevision.token)) != first


def test_search_sees_an_import_made_after_the_index_was_built(db, make_items):
    make_items(item_row(task_code="A1", task_name="居民身份证申领"))
    assert services.search(db.session, q="公积金")["total"] == 0
    make_items(item_row(task_code="A2", task_name="住房公积金提取", dept_name="江州市住房公积金管理中心"))
    assert [i["task_code"] for i in services.search(db.session, q="公积金")["items"]] == ["A2"]


def test_department_code_is_kept_and_updated(db, make_items):
    make_items(item_row(task_code="A1"))
    make_items(item_row(task_code="A2", dept_code="91330100704200180L"))
    assert db.session.scalar(sa.select(Department.code)) == "91330100704200180L"


def test_the_guide_carries_every_section(db, make_items):
    make_items(item_row(
        task_code="G1", materials=[{"name": "居民户口簿", "necessity": "必要", "type": "原件", "form": "纸质"}],
        faq=[{"question": "可以代办吗？", "answer": "首次申领须本人到场。"}], is_fee=True,
        fees=[{"name": "工本费", "standard": "20元/证"}], handle_flow="1. 取号\n2. 采集指纹",
        transact_addr="江州市民生服务中心一楼", link_way="0710-12345"))
    guide = services.guide_of(db.session, services.get_item(db.session, "G1"))
    assert guide["materials"][0]["name"] == "居民户口簿"
    assert guide["faq"][0]["answer"] == "首次申领须本人到场。"
    assert guide["fees"][0]["standard"] == "20元/证"
    assert guide["task_type_name"] == "行政确认" and guide["dept_name"] == "江州市公安局"


def test_an_unknown_item_is_not_found(db):
    with pytest.raises(NotFound):
        services.get_item(db.session, "NOPE")


def test_themes_and_departments_are_listed_with_counts(db, make_items):
    make_items(item_row(task_code="A1", theme_natural=["户籍办理"]),
               item_row(task_code="A2", theme_natural=["户籍办理", "证件办理"]),
               item_row(task_code="A3", dept_name="江州市民政局", theme_legal=["设立变更"], server_type=["法人"]))
    assert services.list_themes(db.session, "natural") == [
        {"audience": "natural", "name": "户籍办理", "item_count": 2},
        {"audience": "natural", "name": "证件办理", "item_count": 1}]
    assert services.list_themes(db.session, "legal")[0]["name"] == "设立变更"
    assert [(d["name"], d["item_count"]) for d in services.list_departments(db.session)] == [
        ("江州市公安局", 2), ("江州市民政局", 1)]


def test_filters_narrow_a_search(db, make_items):
    make_items(item_row(task_code="A1", task_name="异地就医备案", handle_area="跨省", is_online=True, dept_name="江州市医疗保障局"),
               item_row(task_code="A2", task_name="门诊慢特病备案", handle_area="全市", dept_name="江州市医疗保障局"),
               item_row(task_code="A3", task_name="企业设立登记", server_type=["法人"], dept_name="江州市市场监督管理局"))
    codes = lambda **f: sorted(i["task_code"] for i in services.search(db.session, **f)["items"])  # noqa: E731
    assert codes(q="备案", handle_area="跨省") == ["A1"]
    assert codes(q="备案", is_online=False) == ["A2"]
    assert codes(server_type="法人") == ["A3"]
    assert codes(department="江州市医疗保障局") == ["A1", "A2"]


def test_an_empty_result_offers_popular_items_and_a_human(db, make_items):
    make_items(item_row(task_code="A1", popularity=50), item_row(task_code="A2", task_name="结婚登记", popularity=900))
    result = services.search(db.session, q="火星移民")
    assert result["total"] == 0
    assert [i["task_code"] for i in result["popular"]] == ["A2", "A1"]
    assert "服务台" in result["help"]["message_zh"]


def test_admin_synonyms_extend_the_shipped_dictionary(db, make_items):
    make_items(item_row(task_code="A1", task_name="城乡居民基本养老保险参保登记", dept_name="江州市人力资源和社会保障局"))
    assert services.search(db.session, q="农保")["total"] == 0
    services.add_synonym(db.session, term="农保", expansion="城乡居民基本养老保险", kind="synonym", actor="admin")
    db.session.commit()
    result = services.search(db.session, q="农保")
    assert [i["task_code"] for i in result["items"]] == ["A1"]
    assert result["understood_as"] == ["农保→城乡居民基本养老保险"]
    with pytest.raises(Conflict):
        services.add_synonym(db.session, term="农保", expansion="城乡居民基本养老保险", kind="synonym", actor="admin")


def test_deleting_a_synonym_takes_it_out_of_search(db, make_items):
    make_items(item_row(task_code="A1", task_name="城乡居民基本养老保险参保登记"))
    synonym = services.add_synonym(db.session, term="农保", expansion="城乡居民基本养老保险", kind="synonym", actor=SYSTEM)
    db.session.commit()
    services.delete_synonym(db.session, synonym.id, actor=SYSTEM)
    db.session.commit()
    assert services.search(db.session, q="农保")["total"] == 0
    with pytest.raises(NotFound):
        services.delete_synonym(db.session, synonym.id, actor=SYSTEM)


def test_a_change_made_by_another_app_server_is_seen_after_the_revision_check(db, make_items, monkeypatch):
    make_items(item_row(task_code="A1", task_name="居民身份证申领"))
    assert services.search(db.session, q="结婚")["total"] == 0
    # Another server renames the item and bumps the token; this process has not been told.
    db.session.execute(sa.update(Item).where(Item.task_code == "A1").values(task_name="结婚登记"))
    db.session.execute(sa.update(CatalogRevision).values(token="from-another-server"))
    db.session.commit()
    assert services.search(db.session, q="结婚")["total"] == 0  # within the check interval
    monkeypatch.setattr(services, "REVISION_CHECK_SECONDS", 0.0)
    assert services.search(db.session, q="结婚")["total"] == 1


def test_a_large_reimport_updates_every_item_instead_of_duplicating(db):
    from kiosk_backend.catalog.generate import generate_items

    rows = list(generate_items(2100, seed=7))
    first = services.import_items(db.session, check(*rows), actor=SYSTEM)
    again = services.import_items(db.session, check(*rows), actor=SYSTEM)
    db.session.commit()
    assert (first.created, again.created, again.updated) == (2100, 0, 2100)
    assert count(db, Item) == 2100


def test_imports_and_synonym_changes_are_audited_with_their_actor(db):
    admin = actors.staff("admin", ip="10.0.0.9")
    services.import_items(db.session, check(item_row(task_code="AU1")), actor=admin, source="items.json")
    synonym = services.add_synonym(db.session, term="农保", expansion="城乡居民基本养老保险", kind="synonym", actor=admin)
    services.delete_synonym(db.session, synonym.id, actor=admin)
    db.session.commit()
    entries = {e.action: e for e in audit.search(db.session, actor="admin")}
    assert set(entries) == {"catalog.import", "synonym.add", "synonym.delete"}
    assert entries["catalog.import"].target == "items.json" and entries["catalog.import"].details["created"] == 1
    assert entries["synonym.delete"].details["term"] == "农保" and entries["synonym.add"].ip == "10.0.0.9"


def test_a_dry_run_import_writes_no_audit_entry(db):
    services.import_items(db.session, check(item_row(task_code="AU2")), actor=SYSTEM, dry_run=True)
    db.session.commit()
    assert audit.search(db.session) == []
