"""The kiosks' own usage as a prior of search: items opened from search results."""
from __future__ import annotations

import sqlalchemy as sa

from kiosk_backend.catalog import services
from kiosk_backend.catalog.models import ItemUse
from kiosk_backend.catalog.pinyin import pinyin_keys
from kiosk_backend.catalog.search import SearchIndex, make_entry

from ..conftest import item_row
from ..races import run_in_threads


def entry(code, name, popularity=100, item_id=None):
    pinyin, initials = pinyin_keys(name)
    return make_entry(id=item_id or abs(hash(code)), task_code=code, task_name=name, keywords=(), department="江州市公安局",
                      pinyin=pinyin, initials=initials, popularity=popularity, summary={"task_code": code})


def codes(index, q):
    return [e.task_code for e in index.search(q, limit=5).entries]


def test_items_opened_from_search_come_first_among_equal_matches():
    index = SearchIndex([entry("A", "居民身份证申领", item_id=1), entry("B", "居民身份证补领", item_id=2)])
    assert codes(index, "居民身份证")[0] == "A"  # equal matches and popularity: the tie-break
    index.set_usage({2: 500})
    assert codes(index, "居民身份证")[0] == "B"
    index.set_usage({})
    assert codes(index, "居民身份证")[0] == "A"


def test_usage_is_bounded_and_never_lifts_a_worse_match():
    index = SearchIndex([entry("NAME", "养犬登记", item_id=1), entry("OTHER", "犬只免疫证明", item_id=2),
                         entry("NOISE", "居民身份证申领", item_id=3)])
    index.set_usage({2: 10**9})
    assert codes(index, "养犬登记")[0] == "NAME"
    assert float(index._prior.max() - index._base_prior.max()) <= 2.0


def test_an_opening_from_search_is_counted_and_others_are_not(kiosk_client, make_items, db):
    make_items(item_row(task_code="HK1", task_name="户口迁移（迁入）"))
    assert kiosk_client.get("/kiosk/items/HK1?from=search").status_code == 200
    assert kiosk_client.get("/kiosk/items/HK1?from=search").status_code == 200
    assert kiosk_client.get("/kiosk/items/HK1").status_code == 200  # from home or a theme: not counted
    assert kiosk_client.get("/kiosk/items/NOPE?from=search").status_code == 404
    db.session.remove()
    assert services.item_usage(db.session) == {db.session.scalar(sa.text("select id from catalog_item")): 2}


def test_parallel_openings_lose_no_count(app, make_items, db):
    make_items(item_row(task_code="HK1", task_name="户口迁移（迁入）"))
    results = run_in_threads(app, 12, lambda i: services.record_search_open(db.session, "HK1"), commit=True)
    assert not [r for r in results if isinstance(r, Exception)]
    db.session.remove()
    assert db.session.scalar(sa.select(ItemUse.opened_from_search)) == 12


def test_the_index_picks_usage_up_when_it_is_built(db, make_items, monkeypatch):
    make_items(item_row(task_code="A1", task_name="居民身份证申领"), item_row(task_code="B1", task_name="居民身份证补领"))
    assert services.search(db.session, q="居民身份证")["items"][0]["task_code"] == "A1"
    for _ in range(30):
        services.record_search_open(db.session, "B1")
    db.session.commit()
    services.forget_search_index()
    assert services.search(db.session, q="居民身份证")["items"][0]["task_code"] == "B1"


def test_search_results_link_with_from_search_and_other_lists_do_not(kiosk_client, make_items):
    make_items(item_row(task_code="HK1", task_name="户口迁移（迁入）", popularity=10))
    assert "/kiosk/items/HK1?from=search" in kiosk_client.get("/kiosk/search?q=户口迁移").get_data(as_text=True)
    home = kiosk_client.get("/kiosk/").get_data(as_text=True)
    assert "/kiosk/items/HK1" in home and "from=search" not in home
