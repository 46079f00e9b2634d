"""DESIGN.md's folder table, checked: each top-level package imports only what its row
allows, `offers/` stays pure, no module imports itself in a circle, and each role that runs
as a process has its `driver.py` (so its process code is not in `api/`).

Imports are read with `ast` from the source, every one (inside functions and
`TYPE_CHECKING` blocks too): a lazy import is still a dependency.
"""

from __future__ import annotations

import ast
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

# DESIGN.md, "The top-level packages": what each folder may import besides itself.
ALLOWED: dict[str, set[str]] = {
    "offers": set(),
    "persistence": {"offers"},
    "access": {"offers", "persistence"},
    "executor": {"offers", "persistence"},
    "master": {"offers", "persistence"},
    "framework": {"offers", "persistence"},
    "api": {"offers", "persistence", "access", "executor", "master", "framework"},
    "simulator": {"offers", "master", "framework"},
}
EVERYTHING = ("cli", "benchmarks", "tests")  # may import any package
OFFERS_THIRD_PARTY = {"numpy", "pydantic"}
ROLES_WITH_A_PROCESS = ("framework", "master")


def _packages() -> set[str]:
    return {p.parent.name for p in ROOT.glob("*/__init__.py")}


def _modules(package: str) -> Iterator[Path]:
    yield from sorted((ROOT / package).rglob("*.py"))


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _imports(path: Path) -> Iterator[tuple[int, str]]:
    """(line, absolute dotted name) of every import in the file; for `from x import y`
    both `x` and `x.y` (y may be a submodule), relative imports resolved."""
    tree = ast.parse(path.read_text(), filename=str(path))
    package = _module_name(path).split(".")
    if path.name != "__init__.py":
        package = package[:-1]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom):
            base = package[:len(package) - node.level + 1] if node.level else []
            module = ".".join([*base, *([node.module] if node.module else [])])
            yield node.lineno, module
            for alias in node.names:
                yield node.lineno, f"{module}.{alias.name}"


def _violations(package: str, allowed: set[str]) -> list[str]:
    ours = _packages()
    found = []
    for path in _modules(package):
        for line, name in _imports(path):
            top = name.split(".")[0]
            if top in ours and top != package and top not in allowed:
                found.append(f"{path.relative_to(ROOT)}:{line} imports {name}")
    return sorted(set(found))


@pytest.mark.parametrize("package", sorted(ALLOWED))
def test_each_package_imports_only_what_its_row_allows(package):
    if not (ROOT / package / "__init__.py").exists():
        pytest.skip(f"no {package}/ package yet")
    assert _violations(package, ALLOWED[package]) == []


def test_every_package_has_a_row():
    assert _packages() - set(ALLOWED) - set(EVERYTHING) == set()


def test_offers_uses_only_numpy_pydantic_and_the_standard_library():
    ours = _packages()
    found = []
    for path in _modules("offers"):
        for line, name in _imports(path):
            top = name.split(".")[0]
            if (top not in ours and top not in sys.stdlib_module_names
                    and top not in OFFERS_THIRD_PARTY and top != "__future__"):
                found.append(f"{path.relative_to(ROOT)}:{line} imports {name}")
    assert sorted(set(found)) == []


def test_no_import_cycles_between_modules():
    graph: dict[str, set[str]] = {}
    for package in _packages():
        for path in _modules(package):
            graph[_module_name(path)] = set()
    for package in _packages():
        for path in _modules(package):
            me = _module_name(path)
            for _, name in _imports(path):
                if name in graph and name != me and not me.startswith(name + "."):
                    graph[me].add(name)  # a package's __init__ above it is not a cycle
    cycles = []
    state: dict[str, int] = {}  # 1 on the stack, 2 done
    stack: list[str] = []

    def visit(node: str) -> None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                cycles.append(" -> ".join([*stack[stack.index(nxt):], nxt]))
            elif nxt not in state:
                visit(nxt)
        stack.pop()
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            visit(node)
    assert cycles == []


@pytest.mark.parametrize("role", ROLES_WITH_A_PROCESS)
def test_a_role_that_runs_as_a_process_has_its_driver(role):
    """Its process code (I/O in, commands out) lives in the role, not in `api/`: a
    `driver.py`, or a `driver/` package when the I/O has several parts."""
    assert (ROOT / role / "driver.py").exists() or (ROOT / role / "driver" / "__init__.py").exists()


def test_the_checks_see_a_forbidden_import(tmp_path, monkeypatch):
    """The parser resolves relative and lazy imports: a function-level `from ..api import x`
    inside framework/ counts."""
    (tmp_path / "framework").mkdir()
    (tmp_path / "api").mkdir()
    for package in ("framework", "api"):
        (tmp_path / package / "__init__.py").write_text("")
    (tmp_path / "framework" / "bad.py").write_text(
        "def f():\n    from ..api import serving\n    from api.x import y\n")
    monkeypatch.setattr(sys.modules[__name__], "ROOT", tmp_path)
    assert _violations("framework", ALLOWED["framework"]) == [
        "framework/bad.py:2 imports api", "framework/bad.py:2 imports api.serving",
        "framework/bad.py:3 imports api.x", "framework/bad.py:3 imports api.x.y"]
