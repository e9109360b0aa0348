"""No input produces a 500: odd strings through every catalog entry point."""
from __future__ import annotations

from urllib.parse import quote

import pytest

from tests.conftest import item_row

NASTY = [
    "", " ", "%", "%%", "_", "'", "\"", "\\", "' OR 1=1 --", "<script>alert(1)</script>", "\x00", "\x1f\u200b",
    "🙂🙂", "𠀀𠀁", "ｓｆｚ", "ﾃｽﾄ", "Ⅻ", "ǅ", "İ", "ß", "a" * 50, "社" * 50, "a b\tc\nd", "１２３", "00000000000",
    "../../etc/passwd", "?page=2", "&q=x", "#", "null", "[]", "{}", "\ud7ff", "\ufeff社保",
]


@pytest.fixture
def catalog(make_items):
    make_items(item_row(task_code="ID1"), item_row(task_code="HK1", task_name="户口迁移（迁入）"))


@pytest.mark.parametrize("text", NASTY)
def test_odd_queries_never_break_search(kiosk_client, catalog, text):
    q = quote(text, safe="")
    for path in (f"/api/v1/catalog/items?q={q}", f"/api/v1/catalog/suggest?q={q}", f"/kiosk/search?q={q}",
                 f"/kiosk/search?q={q}&partial=1", f"/api/v1/catalog/items?theme={q}&department={q}&bundle={q}"):
        response = kiosk_client.get(path)
        assert response.status_code in (200, 422), (path, response.status_code)


@pytest.mark.parametrize("text", NASTY[1:])
def test_odd_codes_and_names_in_paths_are_404_not_500(kiosk_client, catalog, text):
    segment = quote(text, safe="")
    for path in (f"/api/v1/catalog/items/{segment}", f"/kiosk/items/{segment}", f"/m/items/{segment}",
                 f"/kiosk/themes/{segment}", f"/kiosk/departments/{segment}", f"/kiosk/items/{segment}/print.png"):
        assert kiosk_client.get(path).status_code in (404, 308), path


@pytest.mark.parametrize("args", ["page=-1", "page=abc", "page=99999999999999999999", "page_size=1e3", "is_express=2"])
def test_odd_paging_and_flags_are_refused_or_ignored_cleanly(kiosk_client, catalog, args):
    assert kiosk_client.get(f"/api/v1/catalog/items?{args}").status_code == 422
    assert kiosk_client.get(f"/kiosk/search?q=sfz&{args}").status_code == 200
