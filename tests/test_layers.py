"""Layers only point down: every ragtune import of every module, read with ``ast``, against the table.

The table is the project's layer plan (each layer imports only the layers below it; a module may
import its own layer). A new top-level module must be given a layer here. Imports inside
functions count too: a lazy import hides a dependency from the reader, not from this test.
"""

from __future__ import annotations

import ast
import subprocess
import sys
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
                      "gguf_header", "_version"}),
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


def import_targets(node: ast.AST, module: str, is_package: bool) -> list[str]:
    """The modules one import statement names, relative ones resolved; [] for any other node."""
    if isinstance(node, ast.Import):
        return [a.name for a in node.names]
    if isinstance(node, ast.ImportFrom):
        if node.level:
            base = module.split(".")
            base = base[: len(base) - node.level + (1 if is_package else 0)]
            return [".".join(base + ([node.module] if node.module else []))]
        return [node.module or ""]
    return []


def is_ragtune(target: str) -> bool:
    return target == "ragtune" or target.startswith("ragtune.")


def ragtune_imports(tree: ast.AST, module: str, is_package: bool) -> list[tuple[str, int]]:
    """(imported module, line) of every ragtune import anywhere in the module, relative ones resolved."""
    out = [(m, node.lineno) for node in ast.walk(tree) for m in import_targets(node, module, is_package)]
    return [(m, line) for m, line in out if is_ragtune(m)]


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


def unmarked_function_imports(source: str, module: str, is_package: bool) -> list[int]:
    """Lines of ragtune imports inside functions that carry no ``# lazy:`` comment saying why."""
    tree, lines = ast.parse(source), source.splitlines()
    found = set()
    for fn in ast.walk(tree):
        if isinstance(fn, (ast.FunctionDef, ast.AsyncFunctionDef)):
            for node in ast.walk(fn):
                if any(is_ragtune(m) for m in import_targets(node, module, is_package)):
                    text = lines[node.lineno - 1: node.end_lineno]
                    if not any("# lazy:" in line for line in text):
                        found.add(node.lineno)
    return sorted(found)


def test_every_function_level_import_says_why_it_is_lazy():
    """Imports go at the top; one kept in a function names its reason (``# lazy: torch (ragtune[train])``,
    ``# lazy: import cycle with X``), so the count of lazy imports only shrinks knowingly."""
    bad = [f"{path.relative_to(SRC.parent)}:{line}" for path in MODULES
           for line in unmarked_function_imports(path.read_text(encoding="utf-8"), module_name(path),
                                                 path.name == "__init__.py")]
    assert not bad, "move these imports to the top of the module, or say why not with '# lazy: ...': " + \
        ", ".join(bad)


def test_an_unmarked_function_import_is_caught():
    """The checker itself: a bare import in a function (relative or nested) is reported, a marked one is not."""
    code = ("from ragtune.errors import DataError\n"
            "def f():\n"
            "    from ragtune.train import sft  # lazy: torch (ragtune[train])\n"
            "    from . import base\n"
            "    def g():\n"
            "        import ragtune.kb\n"
            "    import json\n")
    assert unmarked_function_imports(code, "ragtune.generate.hf", False) == [4, 6]


@pytest.mark.parametrize("module", ["ragtune.cli.main", "ragtune.pipeline"])
def test_start_up_imports_no_torch(module):
    """The CLI (and the Python API) start without torch: training code loads only when it runs."""
    code = (f"import sys, {module}; "
            "print(sorted(m for m in ('torch', 'transformers', 'peft') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


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
