"""The package's shape: arrows only point down (no import cycle, module-level or inside
a function) and no module grows past what one reader holds in mind."""

from pathlib import Path

from bnopt import imports

MAX_LINES = 400


def test_the_package_has_no_import_cycle():
    assert imports.cycles() == []


def test_the_cycle_finder_finds_a_cycle(monkeypatch):
    graph = {"a": frozenset({"b"}), "b": frozenset({"c"}), "c": frozenset({"a"}), "d": frozenset({"a"})}
    monkeypatch.setattr(imports, "graph", lambda: graph)
    assert imports.cycles() == [["a", "b", "c"]]


def test_relative_and_lazy_imports_are_read():
    # claims/lr_range.py: "from ..sensitivity import ..."; claims/__init__.py: "from . import smoothness, ..."
    assert "analysis.sensitivity" in imports.imports_of("analysis.claims.lr_range")
    assert "analysis.claims.smoothness" in imports.imports_of("analysis.claims")
    # cli.py imports its subcommands inside functions
    assert "tools.bench" in imports.imports_of("cli")


def test_no_module_is_over_400_lines():
    sizes = {name: len(imports.source(name).read_text().splitlines()) for name in imports.modules()}
    assert {name: n for name, n in sizes.items() if n > MAX_LINES} == {}


def test_every_module_is_in_the_graph():
    package = Path(imports.__file__).parent
    assert len(imports.modules()) == len(list(package.rglob("*.py")))
