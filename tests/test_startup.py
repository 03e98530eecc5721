"""Commands that need no model start without torch, transformers, lancedb or llama.cpp.

Each command runs in a fresh interpreter through the real CLI entry point, and the modules it
imported are read from ``sys.modules`` as it exits (benchmarks/bench_startup.py times the same
commands against ``python -c pass``).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

HEAVY = ("torch", "transformers", "sentence_transformers", "lancedb", "llama_cpp", "onnxruntime")

RUN = """
import atexit, json, sys
def _report():
    sys.__stderr__.write("\\nMODULES " + json.dumps(sorted(m for m in {heavy!r} if m in sys.modules)) + "\\n")
atexit.register(_report)
sys.argv = ["ragtune", *{args!r}]
from ragtune.cli.main import main
main()
"""


def imported(args: list[str], data_dir) -> tuple[list[str], subprocess.CompletedProcess]:
    code = RUN.format(heavy=HEAVY, args=args)
    env = {**os.environ, "RAGTUNE_DATA_DIR": str(data_dir), "COLUMNS": "120"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=data_dir)
    line = [x for x in out.stderr.splitlines() if x.startswith("MODULES ")]
    assert line, out.stderr[-2000:]
    return json.loads(line[-1].removeprefix("MODULES ")), out


@pytest.mark.parametrize("args", [
    ["--help"], ["kb", "--help"], ["kb", "list"], ["kb", "create", "notes"], ["runs"], ["models", "list"],
    ["kb", "no-such-command"], ["search"], ["ingest", "--kb", "notes", "/no/such/folder"],
    ["ingest", "--kb", "missing-kb", "/tmp"], ["--set", "retrieval.mode=fuzzy", "kb", "list"],
], ids=lambda a: " ".join(a))
def test_commands_that_need_no_model_import_none_of_the_heavy_packages(args, tmp_path):
    if args[0] == "ingest" and args[2] == "notes":
        imported(["kb", "create", "notes"], tmp_path)
    mods, out = imported(args, tmp_path)
    assert mods == [], f"ragtune {' '.join(args)} imported {mods}"
    if args[-1] == "/no/such/folder":
        assert out.returncode == 1 and "/no/such/folder: no such file or folder; check the path" in out.stderr


def test_kb_info_and_list_of_a_kb_need_its_store_but_no_model(tmp_path):
    imported(["kb", "create", "notes"], tmp_path)
    for args in (["kb", "info", "notes"], ["kb", "list"]):
        mods, out = imported(args, tmp_path)
        assert out.returncode == 0 and "notes" in out.stdout
        assert set(mods) <= {"lancedb"}, f"ragtune {' '.join(args)} imported {mods}"


def test_ingest_and_search_with_the_onnx_backend_import_no_torch(tmp_path):
    """With the ONNX file cached (the first run may export it, which needs torch), a later ingest and a
    search run on ONNX Runtime and the Rust tokenizer alone."""
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "a.txt").write_text("The Normans gave their name to Normandy, a region in France.\n")
    first = ["--set", "embedding.backend=onnx", "ingest", "--create", "--kb", "k", str(docs)]
    assert imported(first, tmp_path)[1].returncode == 0
    (docs / "b.txt").write_text("Rollo was the first ruler of Normandy.\n")
    for args in (["--set", "embedding.backend=onnx", "ingest", "--kb", "k", str(docs)],
                 ["--set", "embedding.backend=onnx", "search", "--kb", "k", "who ruled Normandy first"]):
        mods, out = imported(args, tmp_path)
        assert out.returncode == 0, out.stderr[-1000:]
        assert set(mods) <= {"lancedb", "onnxruntime"}, f"ragtune {' '.join(args)} imported {mods}"
    assert "Rollo" in out.stdout
