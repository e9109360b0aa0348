"""Administrative divisions (GB/T 2260) from the copy shipped inside the package."""
from __future__ import annotations

from pathlib import Path

from kiosk_backend.sites import divisions
from kiosk_backend.sites.divisions import children, city, county, full_name, province, validate_codes


def fields_of(problems):
    return [field for field, _en, _zh in problems]


def test_the_data_ships_inside_the_package_with_its_source():
    data = Path(divisions.__file__).parent / "data" / "divisions"
    assert {"provinces.csv", "cities.csv", "areas.csv", "LICENSE", "SOURCE.md"} <= {p.name for p in data.iterdir()}
    assert "57a0aa9cef47169a2eb74cf057b0245052a34e8c" in (data / "SOURCE.md").read_text(encoding="utf-8")
    assert "shared" not in str(divisions.DATA_DIR)


def test_the_whole_2023_edition_is_loaded():
    assert len(children()) == 31
    assert sum(len(children(code)) for code, _ in children()) == 342


def test_beijing_chaoyang_is_found_at_every_level():
    assert province("11") == "北京市"
    assert city("1101") == "市辖区"
    assert county("110105") == "朝阳区"


def test_nanjing_xuanwu_is_found_at_every_level():
    assert (province("32"), city("3201"), county("320102")) == ("江苏省", "南京市", "玄武区")


def test_integer_codes_are_accepted_like_strings():
    assert county(320102) == "玄武区"


def test_unknown_or_malformed_codes_give_none():
    assert province("99") is None
    assert city("3299") is None
    assert county("320199") is None
    assert county("32010X") is None
    assert county(None) is None


def test_full_name_skips_the_shixiaqu_placeholder_city():
    assert full_name("110105") == "北京市朝阳区"


def test_full_name_joins_province_city_and_county():
    assert full_name("320102") == "江苏省南京市玄武区"


def test_full_name_of_a_city_code_is_province_and_city():
    assert full_name("3201") == "江苏省南京市"


def test_full_name_skips_the_province_administered_placeholder_and_repeated_names():
    assert full_name("419001") == "河南省济源市"  # city 4190 is 省直辖县级行政区划
    assert full_name("441900") == "广东省东莞市"  # county 东莞市 under city 东莞市


def test_full_name_of_an_unknown_code_is_none():
    assert full_name("320199") is None
    assert full_name("abc") is None


def test_consistent_codes_have_no_problems():
    assert validate_codes("11", "1101", "110105") == []
    assert validate_codes("32", "3201", "320102") == []


def test_the_county_is_optional():
    assert validate_codes("32", "3201", None) == []
    assert validate_codes("32", "3201", "") == []


def test_a_city_from_another_province_is_refused():
    problems = validate_codes("11", "3201", None)
    assert fields_of(problems) == ["city_code"]
    _field, en, zh = problems[0]
    assert "not in province 11" in en and "南京市" in zh and "北京市" in zh


def test_a_county_from_another_city_is_refused():
    problems = validate_codes("32", "3201", "110105")
    assert fields_of(problems) == ["county_code"]
    assert "朝阳区" in problems[0][2]


def test_an_unknown_county_is_refused():
    problems = validate_codes("32", "3201", "320199")
    assert problems == [("county_code", "Unknown county code 320199", "区县代码 320199 不存在")]


def test_unknown_and_malformed_province_and_city_are_refused():
    assert fields_of(validate_codes("99", "9901")) == ["province_code", "city_code"]
    assert fields_of(validate_codes("320", "3201")) == ["province_code"]
    assert fields_of(validate_codes("32", None)) == ["city_code"]


def test_children_lists_the_cities_of_a_province():
    cities = children("32")
    assert ("3201", "南京市") in cities
    assert len(cities) == 13
    assert [code for code, _ in cities] == sorted(code for code, _ in cities)


def test_children_lists_the_counties_of_a_city():
    counties = dict(children("1101"))
    assert counties["110105"] == "朝阳区"
    assert len(counties) == 16


def test_children_of_a_county_or_unknown_code_is_empty():
    assert children("110105") == []
    assert children("99") == []
    assert children("x") == []
