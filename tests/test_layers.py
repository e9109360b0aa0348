"""The dependency rules of DESIGN.md, checked on the source: core imports no domain,
domains import only the domains below them, and only entry points import app.py."""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "kiosk_backend"
# Lower first: a domain may import itself and the domains before it.
DOMAINS = ["sites", "fleet", "identity", "catalog", "applications", "courier"]
ENTRY_POINTS = {"cli", "wsgi", "benchmarks"}


def imported_packages(path: Path) -> set[str]:
    """Top-level kiosk_backend subpackages/modules that ``path`` imports (relative or absolute)."""
    module_parts = path.relative_to(PACKAGE.parent).with_suffix("").parts  # ("kiosk_backend", "fleet", "x")
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = module_parts[:len(module_parts) - node.level]
                target = list(base) + (node.module.split(".") if node.module else [])
                names = [target + [alias.name] for alias in node.names] if not node.module else [target]
            else:
                names = [(node.module or "").split(".")]
            for parts in names:
                if len(parts) > 1 and parts[0] == "kiosk_backend":
                    found.add(parts[1])
        elif isinstance(node, ast.Import):
            for alias in node.names:
                parts = alias.name.split(".")
                if len(parts) > 1 and parts[0] == "kiosk_backend":
                    found.add(parts[1])
    return found


def sources(under: str) -> list[Path]:
    return sorted((PACKAGE / under).rglob("*.py"))


def test_the_checker_sees_relative_and_absolute_imports():
    fleet_module = PACKAGE / "fleet" / "enrolment.py"
    assert {"core", "sites"} <= imported_packages(fleet_module)


def test_core_imports_no_domain():
    for path in sources("core"):
        assert not imported_packages(path) & (set(DOMAINS) | ENTRY_POINTS | {"app"}), path


@pytest.mark.parametrize("domain", DOMAINS)
def test_a_domain_imports_only_the_domains_below_it(domain):
    above = set(DOMAINS[DOMAINS.index(domain) + 1:]) | ENTRY_POINTS | {"app"}
    for path in sources(domain):
        assert not imported_packages(path) & above, f"{path.relative_to(PACKAGE)} imports {imported_packages(path) & above}"


def test_only_entry_points_import_the_composition_root():
    for path in PACKAGE.rglob("*.py"):
        top = path.relative_to(PACKAGE).parts[0].removesuffix(".py")
        if top in ENTRY_POINTS or top == "app" or "migrations" in path.parts:
            continue
        assert "app" not in imported_packages(path), path
