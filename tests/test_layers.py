"""Layers only point down: every ragtune import of every module, read with ``ast``, against the table.

The table is the project's layer plan (each layer imports only the layers below it; a module may
import its own layer). A new top-level module must be given a layer here. Imports inside
functions count too: a lazy import hides a dependency from the reader, not from this test.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "ragtune"

# Highest first; each module or package of src/ragtune sits in exactly one layer.
LAYERS: list[tuple[str, set[str]]] = [
    ("faces", {"cli", "serve"}),
    ("evaluate", {"evaluate"}),
    ("python api", {"pipeline", "kb"}),
    ("train", {"train"}),
    ("engines, retrievers, loaders", {"generate", "retrieve", "ingest"}),
    ("storage, embedders, named models", {"store", "embedding", "registry", "modeling", "runlog"}),
    ("ground floor", {"config", "types", "errors", "text", "scoring", "threads", "names", "files", "progress",
                      "_version"}),
]
LEVEL = {name: len(LAYERS) - i for i, (_, names) in enumerate(LAYERS) for name in names}

# Upward imports that remain today, each with why it is still there. Fix one, then delete it here:
# the test fails when this list holds an import that no longer exists, so it can only shrink.
KNOWN_UPWARD: dict[tuple[str, str], str] = {}


def module_name(path: Path) -> str:
    parts = list(path.relative_to(SRC.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def ragtune_imports(tree: ast.AST, module: str, is_package: bool) -> list[tuple[str, int]]:
    """(imported module, line) of every ragtune import anywhere in the module, relative ones resolved."""
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out += [(a.name, node.lineno) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = module.split(".")
                base = base[: len(base) - node.level + (1 if is_package else 0)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            out.append((target, node.lineno))
    return [(m, line) for m, line in out if m == "ragtune" or m.startswith("ragtune.")]


def layer_of(module: str) -> int | None:
    parts = module.split(".")
    return LEVEL.get(parts[1]) if len(parts) > 1 else None


MODULES = sorted(SRC.rglob("*.py"))


def test_the_source_tree_is_found():
    assert len(MODULES) > 50 and (SRC / "generate" / "base.py") in MODULES


def test_every_module_has_a_layer():
    top = {p.relative_to(SRC).parts[0].removesuffix(".py") for p in MODULES} - {"__init__"}
    assert top - set(LEVEL) == set(), "give each new top-level module a layer in LAYERS"
    assert set(LEVEL) - top == set(), "LAYERS names a module that no longer exists"


def upward_imports() -> dict[tuple[str, str], str]:
    found = {}
    for path in MODULES:
        mod = module_name(path)
        mine = layer_of(mod)
        if mine is None:  # the package root: only ``__version__``
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
        for target, line in ragtune_imports(tree, mod, path.name == "__init__.py"):
            theirs = layer_of(target)
            if theirs is not None and theirs > mine:
                found[(mod, ".".join(target.split(".")[:2]))] = f"{path.relative_to(SRC.parent)}:{line}"
    return found


def test_no_import_points_upward():
    found = upward_imports()
    new = {k: v for k, v in found.items() if k not in KNOWN_UPWARD}
    assert not new, "imports that point up a layer (move the helper down, or pass the value in): " + ", ".join(
        f"{where} {a} -> {b}" for (a, b), where in sorted(new.items()))


def test_the_list_of_known_exceptions_only_shrinks():
    gone = set(KNOWN_UPWARD) - set(upward_imports())
    assert not gone, f"fixed, so delete from KNOWN_UPWARD: {sorted(gone)}"


def test_the_package_root_imports_only_the_version():
    tree = ast.parse((SRC / "__init__.py").read_text(encoding="utf-8"))
    assert {m for m, _ in ragtune_imports(tree, "ragtune", True)} <= {"ragtune._version"}


def module_level_graph() -> dict[str, set[str]]:
    """Imports run at import time (module body, not functions or ``if TYPE_CHECKING``), module to module."""
    names = {module_name(p) for p in MODULES}
    graph: dict[str, set[str]] = {}
    for path in MODULES:
        mod = module_name(path)
        tree = ast.parse(path.read_text(encoding="utf-8"))
        body = [n for n in tree.body if not (isinstance(n, ast.If) and "TYPE_CHECKING" in ast.unparse(n.test))]
        edges = set()
        for node in body:
            if isinstance(node, ast.Import):
                edges |= {a.name for a in node.names if a.name in names}
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                subs = {f"{node.module}.{a.name}" for a in node.names} & names
                edges |= subs or ({node.module} & names)
        graph[mod] = edges - {mod}
    return graph


def find_cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    state: dict[str, int] = {}
    cycles: list[list[str]] = []

    def visit(m: str, stack: list[str]) -> None:
        state[m] = 1
        for n in sorted(graph.get(m, ())):
            if state.get(n) == 1:
                cycles.append(stack[stack.index(n):] + [n])
            elif n not in state:
                visit(n, [*stack, n])
        state[m] = 2

    for m in sorted(graph):
        if m not in state:
            visit(m, [m])
    return cycles


def test_no_import_cycles_at_import_time():
    cycles = find_cycles(module_level_graph())
    assert not cycles, "import cycles: " + "; ".join(" -> ".join(c) for c in cycles)


@pytest.mark.parametrize("engine", ["ragtune.generate.llamacpp", "ragtune.generate.hf", "ragtune.generate.http"])
def test_the_engine_contract_imports_no_engine(engine):
    tree = ast.parse((SRC / "generate" / "base.py").read_text(encoding="utf-8"))
    assert engine not in {m for m, _ in ragtune_imports(tree, "ragtune.generate.base", False)}


def test_a_planted_upward_import_is_caught():
    """The checker itself: an import of train from generate is seen, even inside a function."""
    code = "def f():\n    from ragtune.train.model_io import load_causal_lm\n"
    found = ragtune_imports(ast.parse(code), "ragtune.generate.hf", False)
    assert found == [("ragtune.train.model_io", 2)]
    assert layer_of(found[0][0]) > layer_of("ragtune.generate.hf")


def test_a_planted_cycle_is_caught():
    """The cycle check itself: base importing an engine that imports base would be reported."""
    graph = module_level_graph()
    assert "ragtune.generate.base" in graph["ragtune.generate.hf"]
    graph["ragtune.generate.base"].add("ragtune.generate.hf")
    assert ["ragtune.generate.base", "ragtune.generate.hf", "ragtune.generate.base"] in find_cycles(graph)
