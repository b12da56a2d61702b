"""The three floors (docs/design.md, "Layout"): every import arrow points down, and no circle.

Read from the source with ``ast`` (module-level and function-level imports alike, so a lazy import
cannot hide a back arrow):

* floor 0, the kernel (``charm_kernel``): imports no project package;
* floor 1, ``schemas``: imports only the kernel;
* floor 2, the stages: ``charm_builder``'s data stages, then ``annotation``, then ``training``, each
  importing only the floors below and the stages before it in that order;
* floor 3, the apps (``charm_apps``): may import anything; nothing imports them.

Inside the stages a unit is a sub-package (``charm_builder.export``, ``training.rm``, ...): the units'
import graph has no cycle.
"""

from __future__ import annotations

import ast
import itertools
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("charm_kernel", "schemas", "charm_builder", "annotation", "training", "charm_apps")
# rank: an import from rank a to rank b is allowed only when b <= a (equal ranks: no cycle, checked below)
RANK = {"charm_kernel": 0, "schemas": 1, "charm_builder": 2, "annotation": 3, "training": 4, "charm_apps": 5}
# `python -m charm_builder` starts the app: an entry point like [project.scripts], which nothing imports
ENTRY_POINTS = {"charm_builder.__main__"}


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imports_of(path: Path) -> Iterator[tuple[str, int]]:
    """(imported module, line) for every import in the file, relative ones resolved."""
    name = module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, node.lineno
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            for alias in node.names:  # `from pkg import sub` may name a sub-module
                yield (f"{base}.{alias.name}" if alias.name != "*" else base), node.lineno


def unit(module: str) -> str | None:
    """The unit a module belongs to: the package for kernel/schemas/apps/annotation, the sub-package for
    charm_builder and training (``charm_builder.export.card`` -> ``charm_builder.export``)."""
    parts = module.split(".")
    if parts[0] not in RANK:
        return None
    if parts[0] in ("charm_builder", "training") and len(parts) > 1:
        return ".".join(parts[:2])
    return parts[0]


def arrows() -> list[tuple[str, str, str]]:
    """(from unit, to unit, 'file:line') for every import between two different units."""
    found = []
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            src = module_name(path)
            if src in ENTRY_POINTS:
                continue
            for target, line in imports_of(path):
                a, b = unit(src), unit(target)
                if b is not None and a != b:
                    found.append((a, b, f"{path.relative_to(ROOT)}:{line}"))
    return found


ARROWS = arrows()


def test_the_graph_is_read():
    """A guard against a vacuous pass: arrows we know exist are found."""
    pairs = {(a, b) for a, b, _ in ARROWS}
    assert ("charm_apps", "training.rm") in pairs
    assert ("charm_builder.export", "charm_kernel") in pairs
    assert ("annotation", "charm_builder.store") in pairs
    assert len(ARROWS) > 200


def test_no_arrow_points_up():
    up = [f"{where}: {a} -> {b}" for a, b, where in ARROWS if RANK[b.split(".")[0]] > RANK[a.split(".")[0]]]
    assert not up, "imports from a lower floor (or an earlier stage) to a higher one:\n" + "\n".join(up)


def find_cycle(edges: dict[str, set[str]]) -> list[str] | None:
    """One cycle of the directed graph as a list of nodes (first == last), or None."""
    state: dict[str, int] = {}  # 1 on the stack, 2 done
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(edges.get(node, ())):
            if state.get(nxt) == 1:
                return [*stack[stack.index(nxt) :], nxt]
            if nxt not in state and (cycle := visit(nxt)):
                return cycle
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(edges):
        if node not in state and (cycle := visit(node)):
            return cycle
    return None


@pytest.mark.parametrize(
    ("edges", "has_cycle"),
    [({"a": {"b"}, "b": {"c"}}, False), ({"a": {"b"}, "b": {"c"}, "c": {"a"}}, True), ({"a": {"a"}}, True)],
)
def test_find_cycle(edges: dict[str, set[str]], has_cycle: bool):
    cycle = find_cycle(edges)
    assert (cycle is not None) == has_cycle
    if cycle:
        assert cycle[0] == cycle[-1]
        assert all(b in edges[a] for a, b in itertools.pairwise(cycle))


def test_no_circle_between_units():
    edges: dict[str, set[str]] = {}
    where: dict[tuple[str, str], str] = {}
    for a, b, at in ARROWS:
        edges.setdefault(a, set()).add(b)
        where.setdefault((a, b), at)
    cycle = find_cycle(edges)
    assert cycle is None, (
        "import cycle: "
        + " -> ".join(cycle)
        + "\n"
        + "\n".join(f"  {a} -> {b} at {where[(a, b)]}" for a, b in itertools.pairwise(cycle))
    )


MAX_CLI_LOGIC_LINES = 60  # issue 24: a command function parses, calls the library and prints


def logic_lines(path: Path) -> list[tuple[int, str]]:
    """(body lines without docstring, blank and comment lines; 'file:line name') per function in ``path``."""
    src = path.read_text(encoding="utf-8").splitlines()
    sizes = []
    for node in ast.walk(ast.parse("\n".join(src))):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
                body = body[1:]
            if body:
                lines = src[body[0].lineno - 1 : node.end_lineno]
                n = sum(1 for line in lines if line.strip() and not line.strip().startswith("#"))
                sizes.append((n, f"{path.relative_to(ROOT)}:{node.lineno} {node.name}"))
    return sizes


def test_cli_functions_are_thin():
    cli_modules = [
        p
        for package in PACKAGES
        for p in (ROOT / package).rglob("*.py")
        if p.name == "cli.py" or p.name.endswith("_cli.py") or package == "charm_apps"
    ]
    sizes = [size for path in cli_modules for size in logic_lines(path)]
    assert len(sizes) > 50  # the command modules were found
    assert max(sizes)[0] > 20  # and measured
    too_long = [f"{where}: {n} lines" for n, where in sizes if n > MAX_CLI_LOGIC_LINES]
    assert not too_long, f"CLI functions over {MAX_CLI_LOGIC_LINES} lines of logic:\n" + "\n".join(too_long)
