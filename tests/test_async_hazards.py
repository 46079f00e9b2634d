"""Product code does not use `asyncio.wait_for`.

On Python 3.11 (berth's), `wait_for` returns the inner result when a cancellation arrives
in the same loop turn as that result, and the cancellation is lost: a loop around it (an
event stream, a writer waiting for work) then never ends, and shutdown hangs. The framework
hung so once in a dozen stops, in CI. `async with asyncio.timeout(...)` keeps the
cancellation; this check keeps the hazard from coming back.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from tests.test_layering import ALLOWED, ROOT

PRODUCT = (*ALLOWED, "cli")


def _wait_for_calls(path: Path) -> list[int]:
    tree = ast.parse(path.read_text(), filename=str(path))
    return [node.lineno for node in ast.walk(tree)
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
            and node.func.attr == "wait_for"
            and isinstance(node.func.value, ast.Name) and node.func.value.id == "asyncio"]


@pytest.mark.parametrize("package", PRODUCT)
def test_no_asyncio_wait_for_in_product_code(package):
    found = [f"{path.relative_to(ROOT)}:{line}"
             for path in sorted((ROOT / package).rglob("*.py"))
             for line in _wait_for_calls(path)]
    assert found == [], f"asyncio.wait_for can lose a cancellation on 3.11: {found}"


def test_the_check_sees_a_wait_for(tmp_path):
    source = tmp_path / "m.py"
    source.write_text("import asyncio\n\nasync def f(q):\n"
                      "    return await asyncio.wait_for(q.get(), 1)\n")
    assert _wait_for_calls(source) == [4]
