"""Layers flow downward: ``common`` imports no higher package, ``datamodules`` neither the enhancer
nor the steganography package, the enhancer not steganography; inside ``steganography``, models
know no embedders, embedders and training tasks know no application; nothing imports the
benchmarks."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
EVERY_PACKAGE = ("common", "datamodules", "enhancer", "steganography")
FORBIDDEN = {
    "common": {"datamodules", "enhancer", "steganography", "benchmarks"},
    "datamodules": {"enhancer", "steganography", "benchmarks"},
    "enhancer": {"steganography", "benchmarks"},
    "steganography": {"benchmarks"},
    "steganography/models": {"steganography.embedders", "steganography.tasks", "steganography.app"},
    "steganography/embedders": {"steganography.tasks", "steganography.app"},
    "steganography/tasks": {"steganography.app"},
}


def imported_modules(path: Path) -> set[str]:
    """Dotted names of the modules imported anywhere in a module (function-level imports included)."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names |= {node.module} | {f"{node.module}.{alias.name}" for alias in node.names}
    return names


def forbidden_imports(path: Path, forbidden: set[str]) -> list[str]:
    return sorted(name for name in imported_modules(path) for prefix in forbidden if name == prefix or name.startswith(prefix + "."))


@pytest.mark.parametrize("layer", sorted(FORBIDDEN))
def test_lower_layers_import_no_higher_layer(layer):
    offenders = {
        str(path.relative_to(ROOT)): forbidden_imports(path, FORBIDDEN[layer]) for path in sorted((ROOT / layer).rglob("*.py"))
    }
    assert not {path: names for path, names in offenders.items() if names}


def test_every_package_has_its_rules():
    assert set(EVERY_PACKAGE) <= set(FORBIDDEN)


def test_the_check_sees_a_forbidden_import(tmp_path):
    module = tmp_path / "task.py"
    module.write_text("def f():\n    from steganography.app import api\n")
    assert forbidden_imports(module, FORBIDDEN["steganography/tasks"]) == ["steganography.app", "steganography.app.api"]
