"""No import cycles among syncpay's modules (docs/architecture.md: imports flow one way).

Every module under ``syncpay/`` is read with :mod:`ast`; each import of a syncpay module
is an edge, wherever it is written (inside functions too), except the type-only imports
under ``if TYPE_CHECKING:``. Importing a package is importing its ``__init__``; ``from
.x import y`` where ``y`` is a submodule is importing that submodule (else ``x``). Each
group of modules that import each other is reported by one of its cycles (fix it and
run again: the rest of the group, if any, shows next).
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import syncpay

ROOT = Path(syncpay.__file__).resolve().parent
PACKAGE = "syncpay"


def module_names() -> dict[str, Path]:
    """Every module of the package by dotted name (a package by its own name)."""
    modules: dict[str, Path] = {}
    for path in sorted(ROOT.rglob("*.py")):
        parts = [PACKAGE, *path.relative_to(ROOT).with_suffix("").parts]
        if parts[-1] == "__init__":
            parts.pop()
        modules[".".join(parts)] = path
    return modules


def _is_type_checking(test: ast.expr) -> bool:
    if isinstance(test, ast.Name):
        return test.id == "TYPE_CHECKING"
    if isinstance(test, ast.Attribute):
        return test.attr == "TYPE_CHECKING"
    return False


def _imports(tree: ast.AST) -> Iterator[ast.Import | ast.ImportFrom]:
    """The import statements of ``tree``, anywhere, outside ``if TYPE_CHECKING:``."""
    for node in ast.iter_child_nodes(tree):
        if isinstance(node, ast.If) and _is_type_checking(node.test):
            for child in node.orelse:
                yield from _imports_of(child)
            continue
        yield from _imports_of(node)


def _imports_of(node: ast.AST) -> Iterator[ast.Import | ast.ImportFrom]:
    if isinstance(node, ast.Import | ast.ImportFrom):
        yield node
    yield from _imports(node)


def imported_by(name: str, path: Path, modules: dict[str, Path]) -> set[str]:
    """The syncpay modules that module ``name`` (at ``path``) imports: the module each
    statement names (a package: its ``__init__``); for ``from x import y``, ``x.y`` in
    place of ``x`` when ``y`` is a submodule (the name then comes from it, not from
    ``x``'s ``__init__``)."""
    is_package = path.name == "__init__.py"
    package = name if is_package else name.rpartition(".")[0]
    found: set[str] = set()
    for node in _imports(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names} & modules.keys()
            continue
        if node.level:
            parts = package.split(".")
            base = ".".join(parts[: len(parts) - (node.level - 1)])
            target = f"{base}.{node.module}" if node.module else base
        else:
            target = node.module or ""
        for alias in node.names:
            sub = f"{target}.{alias.name}"
            if sub in modules:
                found.add(sub)
            elif target in modules:
                found.add(target)
    found.discard(name)
    return found


def import_graph() -> dict[str, set[str]]:
    modules = module_names()
    return {
        name: {m for m in imported_by(name, path, modules) if m.startswith(PACKAGE)}
        for name, path in modules.items()
    }


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """One cycle per strongly connected component of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[list[str]] = []
    counter = 0

    def connect(node: str) -> None:
        nonlocal counter
        index[node] = low[node] = counter
        counter += 1
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(graph.get(node, ())):
            if nxt not in index:
                connect(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component: list[str] = []
            while True:
                item = stack.pop()
                on_stack.discard(item)
                component.append(item)
                if item == node:
                    break
            if len(component) > 1:
                components.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            connect(node)
    return [_one_cycle(graph, set(c)) for c in components]


def _one_cycle(graph: dict[str, set[str]], members: set[str]) -> list[str]:
    """A shortest cycle through the first module of a component (breadth first)."""
    start = min(members)
    previous: dict[str, str] = {}
    queue = [start]
    while queue:
        node = queue.pop(0)
        for nxt in sorted(graph[node] & members):
            if nxt == start:
                path = [node]
                while path[-1] != start:
                    path.append(previous[path[-1]])
                return [*reversed(path), start]
            if nxt not in previous:
                previous[nxt] = node
                queue.append(nxt)
    return sorted(members)


def test_no_import_cycles() -> None:
    cycles = _cycles(import_graph())
    described = [" → ".join(cycle) for cycle in cycles]
    assert not cycles, "import cycles among syncpay modules:\n" + "\n".join(described)


def test_the_walk_sees_function_imports_and_skips_type_checking(tmp_path: Path) -> None:
    pkg = tmp_path / "syncpay"
    (pkg / "sub").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "sub" / "__init__.py").write_text("")
    (pkg / "sub" / "leaf.py").write_text("")
    (pkg / "a.py").write_text(
        "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n"
        "    from .b import X\n"
        "def f() -> None:\n"
        "    from .sub import leaf\n"
    )
    (pkg / "b.py").write_text("import syncpay.a\n")
    modules = {
        "syncpay": pkg / "__init__.py",
        "syncpay.a": pkg / "a.py",
        "syncpay.b": pkg / "b.py",
        "syncpay.sub": pkg / "sub" / "__init__.py",
        "syncpay.sub.leaf": pkg / "sub" / "leaf.py",
    }
    assert imported_by("syncpay.a", pkg / "a.py", modules) == {"syncpay.sub.leaf"}
    assert imported_by("syncpay.b", pkg / "b.py", modules) == {"syncpay.a"}
    (pkg / "c.py").write_text("from . import __version__\nfrom .sub import leaf, name\n")
    modules["syncpay.c"] = pkg / "c.py"
    assert imported_by("syncpay.c", pkg / "c.py", modules) == {
        "syncpay",
        "syncpay.sub",
        "syncpay.sub.leaf",
    }
    graph = {
        "syncpay.a": {"syncpay.b"},
        "syncpay.b": {"syncpay.c"},
        "syncpay.c": {"syncpay.a"},
        "syncpay.d": set(),
    }
    assert _cycles(graph) == [["syncpay.a", "syncpay.b", "syncpay.c", "syncpay.a"]]
