"""The tests mirror the packages: ``tests/<package>/<sub-package>/test_*.py`` tests ``<package>/<sub-package>``.
Fixtures used by several folders live in the one root conftest; a folder's conftest holds only its own
fixtures; no module imports a conftest or a test module (shared code lives in ``helpers`` modules)."""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

TESTS = Path(__file__).resolve().parent
ROOT = TESTS.parent
SUPPORT = {"fakes"}  # test support packages: no tests of their own, no package they mirror


def _python_files() -> list[Path]:
    return sorted(p for p in TESTS.rglob("*.py") if "__pycache__" not in p.parts)


def _fixtures(conftest: Path) -> set[str]:
    """Names of the functions decorated with ``pytest.fixture`` (called or not) in a conftest."""
    names = set()
    for node in ast.parse(conftest.read_text(encoding="utf-8")).body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and any(
            ast.unparse(d).startswith("pytest.fixture") for d in node.decorator_list
        ):
            names.add(node.name)
    return names


def _test_parameters(path: Path) -> set[str]:
    """Every parameter name of a test or fixture function in a module: the fixtures it asks for."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    return {
        arg.arg
        for node in ast.walk(tree)
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
        for arg in node.args.args + node.args.kwonlyargs
    }


def test_every_test_folder_mirrors_a_package() -> None:
    stray = []
    for test_file in TESTS.rglob("test_*.py"):
        folder = test_file.parent.relative_to(TESTS)
        if folder == Path("."):
            continue  # tests of the whole tree (layers, this file)
        if not (ROOT / folder / "__init__.py").is_file():
            stray.append(f"{test_file.relative_to(ROOT)}: no package {folder.as_posix()}/ to mirror")
    assert not stray, "\n".join(sorted(stray))


def test_support_folders_hold_no_tests() -> None:
    for name in SUPPORT:
        assert (TESTS / name).is_dir(), f"tests/{name} is listed as support but missing"
        assert not list((TESTS / name).rglob("test_*.py")), f"tests/{name} holds tests but mirrors no package"


def test_no_module_imports_a_conftest_or_a_test_module() -> None:
    offences = []
    for path in _python_files():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom):
                modules = [node.module or ""]
            elif isinstance(node, ast.Import):
                modules = [alias.name for alias in node.names]
            else:
                continue
            for module in modules:
                last = module.rsplit(".", 1)[-1]
                if last == "conftest" or last.startswith("test_"):
                    offences.append(f"{path.relative_to(ROOT)}:{node.lineno} imports {module or '.'}")
    assert not offences, "\n".join(offences)


def test_a_fixture_is_defined_in_one_conftest() -> None:
    where: dict[str, list[str]] = defaultdict(list)
    for conftest in TESTS.rglob("conftest.py"):
        for name in _fixtures(conftest):
            where[name].append(str(conftest.relative_to(ROOT)))
    twice = {name: places for name, places in where.items() if len(places) > 1}
    assert not twice, f"fixtures defined in several conftests: {twice}"


def test_root_conftest_holds_only_fixtures_shared_by_several_folders() -> None:
    """A root fixture asked for by a single folder belongs in that folder's conftest."""
    users: dict[str, set[str]] = defaultdict(set)
    for path in _python_files():
        folder = path.parent.relative_to(TESTS).as_posix()
        if folder == ".":
            continue
        for name in _test_parameters(path):
            users[name].add(folder)
    root_fixtures = _fixtures(TESTS / "conftest.py")
    assert {"workspace", "tiny_llama"} <= root_fixtures  # the parse found the fixtures
    lonely = {name: sorted(users[name]) for name in root_fixtures if len(users[name]) < 2}
    assert not lonely, f"root fixtures used by fewer than two folders: {lonely}"
