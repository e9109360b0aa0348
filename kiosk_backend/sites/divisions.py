"""Administrative divisions of China (GB/T 2260): provinces, cities, counties.

The data ships inside the package (``data/divisions``, modood/Administrative-divisions-of-China,
2023 edition, WTFPL; see its SOURCE.md) and is read once per process.

Codes are strings: 2-digit province, 4-digit city, 6-digit county. Functions accept ints too
(``110105``) but never guess at malformed input: an unknown or malformed code gives ``None``,
an empty list, or a problem from :func:`validate_codes`.
"""
from __future__ import annotations

import csv
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

DATA_DIR = Path(__file__).resolve().parent / "data" / "divisions"

# City rows that are not a real name but a grouping: left out of full names.
PLACEHOLDER_CITY_NAMES = frozenset({"市辖区", "县", "省直辖县级行政区划", "自治区直辖县级行政区划"})

Problem = tuple[str, str, str]  # (field, English, 中文)


@dataclass(frozen=True)
class Division:
    code: str
    name: str
    parent: str | None  # the province code of a city, the city code of a county


@dataclass(frozen=True)
class _Tables:
    provinces: dict[str, Division]
    cities: dict[str, Division]
    counties: dict[str, Division]
    children: dict[str | None, tuple[Division, ...]]


def _read(name: str) -> list[dict[str, str]]:
    with open(DATA_DIR / name, encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh))


@lru_cache(maxsize=1)
def _tables() -> _Tables:
    provinces = {r["code"]: Division(r["code"], r["name"], None) for r in _read("provinces.csv")}
    cities = {r["code"]: Division(r["code"], r["name"], r["provinceCode"]) for r in _read("cities.csv")}
    counties = {r["code"]: Division(r["code"], r["name"], r["cityCode"]) for r in _read("areas.csv")}
    children: dict[str | None, list[Division]] = {None: list(provinces.values())}
    for division in (*cities.values(), *counties.values()):
        children.setdefault(division.parent, []).append(division)
    return _Tables(
        provinces, cities, counties,
        {parent: tuple(sorted(kids, key=lambda d: d.code)) for parent, kids in children.items()},
    )


def _norm(code) -> str | None:
    """The code as a string of digits, or None when it is missing or not digits."""
    if code is None or isinstance(code, bool):
        return None
    text = str(code).strip()
    return text if text.isdigit() else None


def province(code) -> str | None:
    """The name of a 2-digit province code (``"32"`` → 江苏省), else None."""
    division = _tables().provinces.get(_norm(code) or "")
    return division.name if division else None


def city(code) -> str | None:
    """The name of a 4-digit city code (``"3201"`` → 南京市; ``"1101"`` → 市辖区), else None."""
    division = _tables().cities.get(_norm(code) or "")
    return division.name if division else None


def county(code) -> str | None:
    """The name of a 6-digit county code (``"320102"`` → 玄武区), else None."""
    division = _tables().counties.get(_norm(code) or "")
    return division.name if division else None


def children(code=None) -> list[tuple[str, str]]:
    """``(code, name)`` pairs sorted by code: the provinces (no code), the cities of a
    province, or the counties of a city. Unknown codes and county codes give ``[]``.

    Placeholder cities (市辖区, 县, 省直辖县级行政区划) are listed as they are: they are the
    only way to reach the counties below them.
    """
    key = None if code is None else _norm(code)
    if code is not None and key is None:
        return []
    return [(d.code, d.name) for d in _tables().children.get(key, ())]


def full_name(code) -> str | None:
    """The full name of a county, city or province code, e.g. ``"320102"`` → 江苏省南京市玄武区,
    ``"110105"`` → 北京市朝阳区 (placeholder city names are skipped, and a county named like
    its city is not repeated: ``"441900"`` → 广东省东莞市). None for an unknown code."""
    key = _norm(code)
    if key is None:
        return None
    t = _tables()
    parts: list[str] = []
    if len(key) == 6:
        if key not in t.counties:
            return None
        county_division = t.counties[key]
        parts.append(county_division.name)
        key = county_division.parent
    if key is not None and len(key) == 4:
        if key not in t.cities:
            return None
        city_division = t.cities[key]
        if city_division.name not in PLACEHOLDER_CITY_NAMES and city_division.name not in parts:
            parts.insert(0, city_division.name)
        key = city_division.parent
    if key is None or len(key) != 2 or key not in t.provinces:
        return None
    parts.insert(0, t.provinces[key].name)
    return "".join(parts)


def validate_codes(province_code, city_code, county_code=None) -> list[Problem]:
    """Problems with an address's division codes, as ``(field, English, 中文)``.

    Province and city are required, the county is optional; each given code must exist,
    the city must belong to the province and the county to the city. An empty list means
    the codes are consistent.
    """
    t = _tables()
    problems: list[Problem] = []

    def check(field, raw, digits, table, what_en, what_zh) -> str | None:
        if raw is None or (isinstance(raw, str) and not raw.strip()):
            problems.append((field, f"{what_en} code is required", f"请选择{what_zh}"))
            return None
        code = _norm(raw)
        if code is None or len(code) != digits:
            problems.append((field, f"{what_en} code must be {digits} digits", f"{what_zh}代码必须是 {digits} 位数字"))
            return None
        if code not in table:
            problems.append((field, f"Unknown {what_en.lower()} code {code}", f"{what_zh}代码 {code} 不存在"))
            return None
        return code

    p = check("province_code", province_code, 2, t.provinces, "Province", "省份")
    c = check("city_code", city_code, 4, t.cities, "City", "城市")
    if c is not None and p is not None and t.cities[c].parent != p:
        problems.append(("city_code", f"City {c} ({t.cities[c].name}) is not in province {p} ({t.provinces[p].name})",
                         f"城市 {t.cities[c].name}（{c}）不属于 {t.provinces[p].name}（{p}）"))
    has_county = not (county_code is None or (isinstance(county_code, str) and not county_code.strip()))
    if has_county:
        k = check("county_code", county_code, 6, t.counties, "County", "区县")
        if k is not None and c is not None and t.counties[k].parent != c:
            city_name = full_name(c) or t.cities[c].name
            problems.append(("county_code", f"County {k} ({t.counties[k].name}) is not in city {c} ({city_name})",
                             f"区县 {t.counties[k].name}（{k}）不属于 {city_name}（{c}）"))
    return problems
