"""A small public surface: what users may import is declared in ``__all__`` and nowhere else.

Implementation modules are private (a leading underscore: ``_transport``, ``_wire``, ...); every
other module is public and declares its names in ``__all__``. This test fails when a public module
has no ``__all__``, lists a name it does not have, or defines a public function or class it does
not list (so a helper cannot become API by accident), and when the package root's lazy names do
not resolve.
"""

from __future__ import annotations

import ast
import importlib
import pkgutil
from pathlib import Path

import pytest

import llmswitch

SRC = Path(llmswitch.__file__).resolve().parent

_OPTIONAL = {"llmswitch.integrations.pydantic_ai"}
"""Public modules whose import needs an optional extra; checked by source, not imported."""


def _modules() -> list[str]:
    names = ["llmswitch"]
    for info in pkgutil.walk_packages([str(SRC)], prefix="llmswitch."):
        names.append(info.name)
    return sorted(names)


def _is_private(module: str) -> bool:
    return any(part.startswith("_") and part != "__init__" and part != "__main__" for part in module.split(".")[1:]) or module.endswith(
        "__main__"
    )


PUBLIC = [m for m in _modules() if not _is_private(m) and not m.startswith("llmswitch.cli")]
"""``llmswitch.cli`` is the command line: an application, reached through its entry point."""


def _source(module: str) -> ast.Module:
    spec = importlib.util.find_spec(module)
    assert spec is not None and spec.origin is not None
    return ast.parse(Path(spec.origin).read_text(encoding="utf-8"))


def _declared_all(tree: ast.Module) -> list[str] | None:
    for node in tree.body:
        targets = node.targets if isinstance(node, ast.Assign) else [node.target] if isinstance(node, ast.AnnAssign) else []
        if any(isinstance(t, ast.Name) and t.id == "__all__" for t in targets):
            return [] if node.value is None else _literal_names(node.value)
    return None


def _literal_names(value: ast.expr) -> list[str]:
    try:
        names = ast.literal_eval(value)
    except ValueError:  # computed (the package root): checked by importing it
        return ["<computed>"]
    return list(names)


def _defined_public(tree: ast.Module) -> set[str]:
    return {
        node.name
        for node in tree.body
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) and not node.name.startswith("_")
    }


def test_implementation_modules_are_private() -> None:
    for name in ("transport", "bridge", "classify", "limits", "paths", "streaming", "wire", "bundled"):
        assert not (SRC / f"{name}.py").exists() and not (SRC / name).is_dir(), f"llmswitch.{name} should be llmswitch._{name}"
        assert (SRC / f"_{name}.py").exists() or (SRC / f"_{name}").is_dir()


@pytest.mark.parametrize("module", PUBLIC)
def test_a_public_module_declares_its_names(module: str) -> None:
    tree = _source(module)
    declared = _declared_all(tree)
    assert declared is not None, f"{module} is public but has no __all__ (make it private, or declare its names)"
    if declared == ["<computed>"]:
        declared = list(importlib.import_module(module).__all__)
    assert len(declared) == len(set(declared)), f"{module}.__all__ names something twice"
    missing = _defined_public(tree) - set(declared)
    assert not missing, f"{module} defines public {sorted(missing)} without listing them in __all__ (list them or add a leading _)"
    if module in _OPTIONAL:
        return
    mod = importlib.import_module(module)
    absent = [n for n in declared if not hasattr(mod, n)]
    assert not absent, f"{module}.__all__ lists {absent}, which it does not have"


def test_the_package_roots_names_all_resolve() -> None:
    for name in llmswitch.__all__:
        if name in ("pydantic_ai_model", "pydantic_ai_model_async", "fallback_model"):
            continue  # need the pydantic-ai extra only when called, but resolve lazily all the same
        assert getattr(llmswitch, name) is not None, name


def test_the_check_sees_an_undeclared_public_function(tmp_path: Path) -> None:
    tree = ast.parse("__all__ = ['a']\ndef a(): ...\ndef b(): ...\ndef _c(): ...\nclass D: ...\n")
    assert _defined_public(tree) - set(_declared_all(tree) or []) == {"b", "D"}
    assert _declared_all(ast.parse("x = 1\n")) is None
