"""Every refusal siyu can give is listed in its area's `errors.py`, with the Chinese an
operator reads; raise sites name listed codes and fill the slots of their text."""

from __future__ import annotations

import ast
import importlib
import pkgutil
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

import siyu
from siyu.core.errors import ErrorCode, SiyuError, all_error_codes, error_code

SRC = Path(siyu.__file__).parent
ERROR_CLASSES = {"SiyuError", "NotFound", "Conflict", "Invalid", "Forbidden", "Unauthorized"}
CJK = re.compile(r"[\u4e00-\u9fff]")
CODE_SHAPE = re.compile(r"^[a-z][a-z0-9_]*(\.[a-z0-9_]+)+$|^internal$")


def _load_every_module() -> None:
    for info in pkgutil.walk_packages(siyu.__path__, "siyu."):
        if not info.name.startswith("siyu.migrations") and not info.name.endswith("__main__"):
            importlib.import_module(info.name)


_load_every_module()


@dataclass(frozen=True)
class Site:
    path: Path
    line: int
    call: ast.Call

    def __str__(self) -> str:
        return f"{self.path.relative_to(SRC.parent)}:{self.line}"


def _sources() -> Iterator[tuple[Path, ast.Module]]:
    for path in sorted(SRC.rglob("*.py")):
        # `__main__` modules run their program when imported (`_code_calls` imports each one)
        if "migrations" not in path.parts and path.name != "__main__.py":
            yield path, ast.parse(path.read_text(encoding="utf-8"))


def _callee_name(call: ast.Call) -> str | None:
    if isinstance(call.func, ast.Name):
        return call.func.id
    if isinstance(call.func, ast.Attribute):
        return call.func.attr
    return None


def _literal_code_sites() -> list[Site]:
    sites = []
    for path, tree in _sources():
        if path == SRC / "core" / "errors.py":
            continue
        for node in ast.walk(tree):
            if (
                isinstance(node, ast.Call)
                and _callee_name(node) in ERROR_CLASSES
                and node.args
                and isinstance(node.args[0], ast.Constant)
                and isinstance(node.args[0].value, str)
            ):
                sites.append(Site(path, node.lineno, node))
    return sites


def _module_of(path: Path) -> str:
    parts = list(path.relative_to(SRC.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _code_calls() -> Iterator[tuple[Site, ErrorCode]]:
    """Calls of a listed code (`errors.NOT_FOUND(...)`, `NOT_FOUND(...)`), resolved through the
    module's own namespace, so two areas' codes of the same name are told apart."""
    for path, tree in _sources():
        namespace = vars(importlib.import_module(_module_of(path)))
        for node in ast.walk(tree):
            if not isinstance(node, ast.Call):
                continue
            target: object = None
            if isinstance(node.func, ast.Name):
                target = namespace.get(node.func.id)
            elif isinstance(node.func, ast.Attribute) and isinstance(node.func.value, ast.Name):
                target = getattr(namespace.get(node.func.value.id), node.func.attr, None)
            if isinstance(target, ErrorCode):
                yield Site(path, node.lineno, node), target


def test_every_listed_code_is_well_formed_and_has_chinese_for_operators() -> None:
    codes = list(all_error_codes())
    assert len(codes) > 100  # every area lists its codes
    problems = []
    for entry in codes:
        if not CODE_SHAPE.match(entry.code):
            problems.append(f"{entry.code}: not <area>.<name>")
        if not 400 <= entry.status < 600:
            problems.append(f"{entry.code}: status {entry.status} is not an error")
        if not entry.api_only and not CJK.search(entry.zh):
            problems.append(f"{entry.code}: an operator can meet it, but its text is not Chinese")
    assert not problems, "\n".join(problems)


def test_no_raise_site_names_a_code_by_a_bare_string() -> None:
    sites = _literal_code_sites()
    assert not sites, "raise a listed code (errors.py) instead:\n" + "\n".join(
        f"{s}: {ast.unparse(s.call)[:120]}" for s in sites
    )


def test_every_raise_site_fills_the_slots_of_its_chinese_text() -> None:
    problems = []
    calls = list(_code_calls())
    assert calls, "no raise site of a listed code was found"
    for site, entry in calls:
        if any(k.arg is None for k in site.call.keywords):
            continue  # **params: checked where they are built
        given = {k.arg for k in site.call.keywords} - {"data"}
        missing = entry.slots() - given
        if missing:
            problems.append(f"{site}: {entry.code} needs {sorted(missing)}")
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("lang", ["zh-CN", "en"])
def test_the_console_says_a_listed_refusal_in_the_operators_language(lang: str) -> None:
    from siyu.console.i18n import Translator

    # given a listed code raised with its slots filled
    entry = next(e for e in all_error_codes() if e.slots() and not e.api_only)
    refusal = entry("the API's words", **dict.fromkeys(entry.slots(), "某值"))
    # when the console renders it
    shown = Translator(lang).refusal(refusal)
    # then Chinese operators read the listed text, English ones the service's words
    if lang == "zh-CN":
        assert shown == entry.text(dict.fromkeys(entry.slots(), "某值"))
        assert "…" not in shown
    else:
        assert "the API's words" in shown


def test_a_code_is_raised_as_the_error_class_of_its_status() -> None:
    for entry in all_error_codes():
        refusal = entry("message")
        assert isinstance(refusal, SiyuError)
        assert (refusal.code, refusal.status) == (entry.code, entry.status)
        assert error_code(entry.code) is entry
