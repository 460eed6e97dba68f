"""Imports only point down: the layer table below, checked against every import in the package.

The walk is static (``ast``): module-level imports and the lazy ones inside functions and
methods count alike (a lazy import is still a dependency, it only moves when the cost is paid),
and so does a string that names one of our modules (``importlib.import_module`` targets, the
lazy-name and provider tables); imports under ``if TYPE_CHECKING:`` do not (they never run).
Imports of other packages (aiohttp, pydantic-ai, genai-prices, ...) are irrelevant here.

A *unit* is a top-level module (``api``, ``bridge``) or subpackage (``providers``, ``wire``) of
``llmswitch``; ``llmswitch`` itself is the package root (``__init__.py``). Units in one row are
siblings: they import nothing from each other. A unit imports only from rows below its own.

This table mirrors ``DESIGN.md`` ("Layers (imports only point down)"); where they differ, the
reason is in the comment. A new module or subpackage must be given a row here.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = "llmswitch"
SRC = Path(__file__).resolve().parents[1] / "src" / PACKAGE

LAYERS: list[tuple[str, ...]] = [
    ("__main__",),  # `python -m llmswitch` → the CLI
    # The package root: the public names (loaded lazily through importlib), and the stand-ins it
    # sets in `hooks` for the pricer (usage.pricing) and the model factory (integrations), which
    # import their module on first use.
    ("llmswitch",),
    ("cli",),
    ("gateway",),  # `llmswitch serve`: the HTTP face over the registry (README "Gateway")
    # Not in DESIGN.md: the pydantic-ai integration resolves "auto" and config names through the
    # module API and the registry, so it sits above them, beside the other front ends.
    ("integrations",),
    ("api", "doors"),  # doors: the design documents' module-level functions (over providers/)
    ("resolve",),  # references → providers; hands `auto` to detection
    ("auto",),  # detection: probes, then the cloud key list and the bundled runtime
    ("registry",),  # failover over an agent's chain (routing.failover) is offered here
    ("telemetry",),  # OpenTelemetry spans and metrics; subscribes through `hooks`
    ("usage",),  # subscribes through `hooks`; nothing below imports it
    # Above providers, not at the bottom as DESIGN.md drew it: a config file is validated against
    # the provider types and each type's option names (entry-point types included).
    ("config",),
    ("providers",),
    # Below providers, not above them as DESIGN.md first drew it: retries and the CircuitBreaker
    # are applied inside the one call path, BaseProvider.complete()/stream(), so providers/ must
    # be able to import them. routing/ imports no provider (failover takes any object with
    # complete/stream); the registry above runs agents' chains through it.
    ("routing",),
    ("state",),  # shared counters for routing (memory | redis)
    # `local` (the bundled llama.cpp runtime manager) is not in DESIGN.md: the llamacpp provider
    # reads its state file for the runtime's URL; like management/, it talks to no provider.
    ("management", "local"),
    # Not in DESIGN.md: `bundled` (the bundled GGUF models: which packages, checksum, assembly
    # into the cache dir); `local` serves them.
    ("_bundled",),
    # The sync bridge closes the pooled sessions on its loop at shutdown, so it sits above transport.
    ("_bridge",),
    ("_wire", "_transport"),  # siblings: wire/ does no I/O and imports nothing from transport
    # Not in DESIGN.md: the lean HTTP/1.1 exchange the transport sends plain requests through.
    ("_h1",),
    # Not in DESIGN.md: `observe` runs the call hooks and writes the `llmswitch.calls` log records
    # for providers/ and routing/ (the slow path of a watched call); it reads `hooks`.
    ("_observe",),
    # Not in DESIGN.md: `hooks` (the extension points the call path offers: call observers, the
    # pricer, the model factory), `streaming` (ResponseStream), `limits` (read bounds), `paths`.
    # `_json`: the JSON codec of the hot paths (pydantic_core, json's verdict on what it refuses).
    ("_classify", "_streaming", "hooks", "_limits", "_paths", "_env", "_json"),
    ("types",),
    ("errors",),
]

RANK: dict[str, int] = {unit: i for i, row in enumerate(LAYERS) for unit in row}


# --- the walk ------------------------------------------------------------------------------------


def module_name(path: Path, src: Path = SRC) -> str:
    parts = [PACKAGE, *path.relative_to(src).with_suffix("").parts]
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def all_modules(src: Path = SRC) -> dict[str, Path]:
    return {module_name(p, src): p for p in sorted(src.rglob("*.py"))}


def unit_of(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else parts[0]


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def imports_of(source: str, module: str, is_package: bool, known: set[str]) -> list[tuple[str, int]]:
    """``(imported llmswitch module, line)`` for every import that runs, at any depth."""
    found: list[tuple[str, int]] = []

    def resolve(name: str) -> str:
        """The module an import loads: the longest known prefix (``a.b.Name`` → ``a.b``)."""
        while name not in known and "." in name:
            name = name.rsplit(".", 1)[0]
        return name

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.If) and _is_type_checking(node.test):
            for child in node.orelse:
                visit(child)
            return
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name == PACKAGE or alias.name.startswith(PACKAGE + "."):
                    found.append((resolve(alias.name), node.lineno))
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = module.split(".") if is_package else module.split(".")[:-1]
                base = base[: len(base) - (node.level - 1)]
                target = ".".join([*base, node.module] if node.module else base)
            else:
                target = node.module or ""
            if target == PACKAGE or target.startswith(PACKAGE + "."):
                for alias in node.names:
                    sub = f"{target}.{alias.name}"
                    found.append((sub if sub in known else resolve(target), node.lineno))
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            # a module named in a string is imported by name (importlib, the lazy-name and
            # provider tables): "llmswitch.x.y" or "llmswitch.x.y:Attr"
            named = node.value.partition(":")[0]
            if named.startswith(PACKAGE + ".") and named in known:
                found.append((named, node.lineno))
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(ast.parse(source))
    return found


def edges(src: Path = SRC) -> list[tuple[str, str, int]]:
    """Every ``(importer, imported, line)`` between two llmswitch modules."""
    modules = all_modules(src)
    known = set(modules)
    out = []
    for name, path in modules.items():
        for target, line in imports_of(path.read_text(), name, path.name == "__init__.py", known):
            if target != name:
                out.append((name, target, line))
    return out


def upward_edges(src: Path = SRC) -> list[str]:
    bad = []
    for a, b, line in edges(src):
        ua, ub = unit_of(a), unit_of(b)
        if ua == ub or ua not in RANK or ub not in RANK:
            continue
        if RANK[ua] >= RANK[ub]:
            where = "in the same row as" if RANK[ua] == RANK[ub] else "in a higher row than"
            bad.append(f"{a} (line {line}) imports {b}: {ub!r} is {where} {ua!r}")
    return bad


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one node (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    out: list[list[str]] = []

    def strong(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                strong(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            strong(v)
    return out


def unit_graph(src: Path = SRC) -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {}
    for a, b, _ in edges(src):
        if unit_of(a) != unit_of(b):
            graph.setdefault(unit_of(a), set()).add(unit_of(b))
    return graph


def module_graph(src: Path = SRC) -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {}
    for a, b, _ in edges(src):
        graph.setdefault(a, set()).add(b)
    return graph


# --- the rules -----------------------------------------------------------------------------------


def test_every_unit_has_a_layer() -> None:
    units = {unit_of(m) for m in all_modules()}
    missing = sorted(units - set(RANK))
    assert not missing, f"give these a row in LAYERS (tests/test_layers.py) and DESIGN.md: {missing}"


def test_imports_only_point_down() -> None:
    bad = upward_edges()
    assert not bad, "imports that do not point down:\n  " + "\n  ".join(bad)


def test_no_import_cycle_between_units() -> None:
    found = cycles(unit_graph())
    assert not found, f"import cycles between units: {found}"


def test_no_import_cycle_between_modules() -> None:
    found = cycles(module_graph())
    assert not found, f"import cycles between modules: {found}"


def test_no_row_names_a_unit_twice() -> None:
    names = [u for row in LAYERS for u in row]
    assert len(names) == len(set(names))


# --- the walk itself, on small sources -----------------------------------------------------------

KNOWN = {"llmswitch", "llmswitch.errors", "llmswitch.usage", "llmswitch.usage.pricing", "llmswitch.providers",
         "llmswitch.providers.base", "llmswitch.integrations", "llmswitch.integrations.pydantic_ai"}


def test_walk_sees_lazy_imports_and_resolves_names() -> None:
    source = '''
from .. import errors as E
from ..usage.pricing import price_usage
import llmswitch.integrations.pydantic_ai as pa

class P:
    def create_model(self):
        from ..integrations.pydantic_ai import create_model
        return create_model

async def f():
    if True:
        try:
            from llmswitch.usage import pricing
        except ImportError:
            pass
'''
    got = sorted({m for m, _ in imports_of(source, "llmswitch.providers.base", False, KNOWN)})
    assert got == ["llmswitch.errors", "llmswitch.integrations.pydantic_ai", "llmswitch.usage.pricing"]


def test_walk_sees_modules_named_in_strings() -> None:
    source = '''
import importlib
"""Docs may mention llmswitch.usage.pricing freely."""
TABLE = {"x": "llmswitch.integrations.pydantic_ai:create_model"}
def f():
    return importlib.import_module("llmswitch.usage.pricing")
SERVICE = "llmswitch"
'''
    got = sorted(m for m, _ in imports_of(source, "llmswitch.providers.base", False, KNOWN))
    assert got == ["llmswitch.integrations.pydantic_ai", "llmswitch.usage.pricing"]


def test_walk_skips_type_checking_but_not_its_else() -> None:
    source = '''
import typing
from typing import TYPE_CHECKING
if TYPE_CHECKING:
    from ..usage.pricing import price_usage
if typing.TYPE_CHECKING:
    from ..integrations import pydantic_ai
else:
    from . import base
'''
    got = [m for m, _ in imports_of(source, "llmswitch.providers", True, KNOWN)]
    assert got == ["llmswitch.providers.base"]


@pytest.mark.parametrize(
    "graph, expected",
    [
        ({"a": {"b"}, "b": {"c"}}, []),
        ({"a": {"b"}, "b": {"a"}}, [["a", "b"]]),
        ({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}, [["a", "b", "c"]]),
    ],
)
def test_cycles(graph: dict[str, set[str]], expected: list[list[str]]) -> None:
    assert cycles(graph) == expected
