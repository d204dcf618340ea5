"""The package's own import graph, read from the source (no module is imported): which
bnopt modules each bnopt module imports, at module level or inside a function. Two
uses: a rule's code fingerprint follows it (editing a module an analysis rule reaches
reruns that rule), and a test checks it has no cycle.
"""

from __future__ import annotations

import ast
from functools import cache
from pathlib import Path

PACKAGE_DIR = Path(__file__).parent


def source(name: str) -> Path:
    """The source file of module `name`, dotted within bnopt ("training.train"; a
    subpackage such as "norms" is its ``__init__.py``; "" is bnopt itself)."""
    path = PACKAGE_DIR.joinpath(*name.split(".")) if name else PACKAGE_DIR
    return path / "__init__.py" if path.is_dir() else path.with_suffix(".py")


def modules() -> list[str]:
    """Every module of the package, dotted within it ("" for bnopt's __init__)."""
    found = []
    for path in sorted(PACKAGE_DIR.rglob("*.py")):
        parts = path.relative_to(PACKAGE_DIR).with_suffix("").parts
        found.append(".".join(parts[:-1] if parts[-1] == "__init__" else parts))
    return found


def _is_module(name: str) -> bool:
    return source(name).is_file()


def _resolve(importer: str, node: ast.ImportFrom) -> list[str]:
    """The bnopt modules a `from ... import ...` names: the module itself, or each
    imported name that is a submodule."""
    if node.level == 0:
        if not (node.module or "").startswith("bnopt"):
            return []
        base = node.module.split(".")[1:]
    else:
        package = importer.split(".") if importer else []
        if not source(importer).name == "__init__.py":
            package = package[:-1]  # a plain module's relative imports start from its package
        base = package[:len(package) - (node.level - 1)] + (node.module.split(".") if node.module else [])
    target = ".".join(base)
    found = [f"{target}.{alias.name}".lstrip(".") for alias in node.names if _is_module(f"{target}.{alias.name}".lstrip("."))]
    if len(found) < len(node.names):  # some names are attributes of `target` itself
        found.append(target)
    return found


@cache
def imports_of(name: str) -> frozenset[str]:
    """The bnopt modules that module `name` imports (anywhere in its source)."""
    tree = ast.parse(source(name).read_text(), filename=str(source(name)))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            found.update(_resolve(name, node))
        elif isinstance(node, ast.Import):
            found.update(".".join(a.name.split(".")[1:]) for a in node.names if a.name.split(".")[0] == "bnopt")
    return frozenset(m for m in found if m != name and _is_module(m))


def graph() -> dict[str, frozenset[str]]:
    """{module: the bnopt modules it imports} for the whole package."""
    return {name: imports_of(name) for name in modules()}


def reachable(*names: str, within: str = "") -> list[str]:
    """`names` and every module they import, directly or not, that lies in the
    subpackage `within` (dotted; "" for the whole package), sorted."""
    seen, todo = set(), list(names)
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        todo += [m for m in imports_of(name) if m == within or m.startswith(within + ".") or not within]
    return sorted(seen)


def cycles() -> list[list[str]]:
    """The import cycles of the package: its strongly connected components of more
    than one module (Tarjan's algorithm), each sorted; [] when there are none."""
    edges, index, low, stack, on_stack, found = graph(), {}, {}, [], set(), []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in edges.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in edges:
        if v not in index:
            visit(v)
    return sorted(found)
