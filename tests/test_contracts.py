"""The import contracts in pyproject.toml cover the whole tree and list no exceptions: a module
added to a domain is either part of its public face or protected by its contract."""

from __future__ import annotations

import pkgutil
import tomllib
from pathlib import Path
from typing import Any

import siyu

PYPROJECT = Path(__file__).parent.parent / "pyproject.toml"
# A domain's public face (see the comment above the contracts in pyproject.toml).
PUBLIC = {"service", "schemas", "enums", "errors"}
EXTRA_PUBLIC = {"security": {"auth"}, "wechat": {"crypto", "paycrypto", "pay"}}


def _contracts() -> list[dict[str, Any]]:
    config = tomllib.loads(PYPROJECT.read_text(encoding="utf-8"))
    contracts: list[dict[str, Any]] = config["tool"]["importlinter"]["contracts"]
    return contracts


def _protected() -> dict[str, set[str]]:
    """Domain → the modules its contract protects."""
    out = {}
    for contract in _contracts():
        if contract["type"] == "protected":
            domain = contract["allowed_importers"][0]
            out[domain.removeprefix("siyu.")] = set(contract["protected_modules"])
    return out


def _children(package: str) -> set[str]:
    module = __import__(f"siyu.{package}", fromlist=["_"])
    return {info.name for info in pkgutil.iter_modules(module.__path__)}


def test_no_contract_lists_an_exception() -> None:
    for contract in _contracts():
        assert not contract.get("ignore_imports"), contract["name"]
        assert not contract.get("unmatched_ignore_imports_alerting"), contract["name"]


def test_every_domain_module_is_public_or_protected() -> None:
    protected = _protected()
    assert set(protected) >= {"security", "workspaces", "identity", "wechat", "wechat.pay"}
    problems = []
    for domain, listed in protected.items():
        public = PUBLIC | EXTRA_PUBLIC.get(domain, set())
        for name in sorted(_children(domain) - public):
            if f"siyu.{domain}.{name}" not in listed:
                problems.append(f"siyu.{domain}.{name}: add it to the contract of {domain}")
    assert not problems, "\n".join(problems)


def test_every_top_level_package_has_a_place_in_the_layers() -> None:
    (layers,) = [c for c in _contracts() if c["type"] == "layers"]
    placed = {m.strip() for layer in layers["layers"] for m in layer.replace(":", "|").split("|")}
    top = {f"siyu.{info.name}" for info in pkgutil.iter_modules(siyu.__path__)}
    assert top <= placed, f"not in the layers: {sorted(top - placed)}"
