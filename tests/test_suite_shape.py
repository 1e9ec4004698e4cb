"""The suite's shape: fixtures live in `tests/fixtures/` and are registered once, by the root
conftest; tests request them by name and import only helpers (`tests/support/`), never a
conftest, a fixture module or another test module."""

from __future__ import annotations

import ast
import re
from collections import Counter
from pathlib import Path

import pytest

TESTS = Path(__file__).parent
FIXTURE_REIMPORT = re.compile(r"#\s*noqa:[^#\n]*\bF(401|811)\b")


def _modules() -> list[Path]:
    return sorted(TESTS.rglob("*.py"))


def _name(path: Path) -> str:
    return ".".join(path.relative_to(TESTS.parent).with_suffix("").parts)


def _imported(path: Path) -> list[tuple[int, str]]:
    """(line, module) of every import in a file, relative imports resolved."""
    package = _name(path).split(".")[:-1]
    found: list[tuple[int, str]] = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = package[: len(package) - node.level + 1] if node.level else []
            module = ".".join([*base, *([node.module] if node.module else [])])
            # `from . import test_x` names the module in the alias
            found += [(node.lineno, f"{module}.{alias.name}") for alias in node.names]
            found.append((node.lineno, module))
    return found


def _forbidden(module: str) -> bool:
    parts = module.split(".")
    if parts[0] != "tests" and "conftest" not in parts:
        return False
    return (
        "conftest" in parts
        or any(part.startswith("test_") for part in parts)
        or parts[:2] == ["tests", "fixtures"]
    )


def _registered_plugins() -> list[str]:
    """The root conftest's `pytest_plugins`, read rather than imported (no test imports it)."""
    for node in ast.parse((TESTS / "conftest.py").read_text(encoding="utf-8")).body:
        if isinstance(node, ast.Assign) and ast.unparse(node.targets[0]) == "pytest_plugins":
            return list(ast.literal_eval(node.value))
    return []


def _fixtures_defined(path: Path) -> list[str]:
    """The names of the fixtures a module defines (`name=` wins over the function's name)."""
    names: list[str] = []
    for node in ast.parse(path.read_text(encoding="utf-8")).body:
        if not isinstance(node, ast.FunctionDef):
            continue
        for decorator in node.decorator_list:
            call = decorator if isinstance(decorator, ast.Call) else None
            target = call.func if call else decorator
            if ast.unparse(target) != "pytest.fixture":
                continue
            named = [k.value for k in (call.keywords if call else []) if k.arg == "name"]
            names.append(
                str(named[0].value) if named and isinstance(named[0], ast.Constant) else node.name
            )
    return names


def test_no_module_imports_a_conftest_a_fixture_module_or_a_test_module() -> None:
    # given every Python file of the suite
    # when its imports are read (relative ones resolved)
    wrong = [
        f"{path.relative_to(TESTS.parent)}:{line} imports {module}"
        for path in _modules()
        for line, module in _imported(path)
        if _forbidden(module)
    ]
    # then none reaches into a conftest, a fixture module or another test module
    assert wrong == []


def test_no_fixture_is_re_imported_with_a_noqa() -> None:
    # given every Python file of the suite
    # when its lines are searched for the noqa that hid a fixture re-import from the linter
    hidden = [
        f"{path.relative_to(TESTS.parent)}:{n}"
        for path in _modules()
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1)
        if FIXTURE_REIMPORT.search(line)
    ]
    # then there is none: fixtures are registered once and requested by name
    assert hidden == []


def test_every_fixture_module_is_registered_once_by_the_root_conftest() -> None:
    # given the fixture modules on disk
    on_disk = {_name(p) for p in (TESTS / "fixtures").glob("*.py") if p.name != "__init__.py"}
    # when the root conftest's plugins are read
    registered = _registered_plugins()
    # then it registers each of them, once, and nothing else
    assert sorted(registered) == sorted(on_disk)
    assert len(set(registered)) == len(registered)


def test_no_two_fixture_modules_define_the_same_fixture() -> None:
    # given the fixtures every module of tests/fixtures defines
    # when they are counted by name
    defined = Counter(
        name for path in (TESTS / "fixtures").glob("*.py") for name in _fixtures_defined(path)
    )
    # then each name means one fixture across the suite (a later plugin would shadow another)
    assert [name for name, n in defined.items() if n > 1] == []
    assert len(defined) > 40


@pytest.mark.parametrize(
    ("module", "forbidden"),
    [
        ("tests.conftest", True),
        ("tests.wechat.conftest", True),
        ("tests.console.test_console", True),
        ("tests.fixtures.pay", True),
        ("conftest", True),
        ("tests.support.wechat", False),
        ("siyu.wechat.service", False),
        ("pytest", False),
    ],
)
def test_the_shape_check_tells_helpers_from_what_tests_must_not_import(
    module: str, forbidden: bool
) -> None:
    # given a module some test could import
    # when the check judges it
    # then only conftests, fixture modules and test modules are refused
    assert _forbidden(module) is forbidden
