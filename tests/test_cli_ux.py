"""Shell completion of --mode and KB names, and tables piped to a file that are not cut at 80 columns."""

from __future__ import annotations

import os
import subprocess
import sys

from typer.testing import CliRunner

from ragtune.cli.common import complete_compare_mode, complete_mode
from ragtune.cli.main import app
from ragtune.evaluate.experiment import CLS_MODES, CLS_VARIANTS
from ragtune.evaluate.modes import QA_MODES, QA_VARIANTS
from ragtune.pipeline import MODES
from ragtune.runlog import RunLog


def _complete(args: list[str], incomplete: str) -> list[str]:
    """What bash would offer: the app run as the completion script runs it (``_RAGTUNE_COMPLETE``)."""
    words = ["ragtune", *args, incomplete]
    env = {"_RAGTUNE_COMPLETE": "complete_bash", "COMP_WORDS": " ".join(words), "COMP_CWORD": str(len(words) - 1)}
    res = CliRunner().invoke(app, [], prog_name="ragtune", env=env)
    assert res.exit_code == 0, res.output
    return res.output.split()


def test_mode_values_complete():
    assert complete_mode("ft") == [m for m in MODES if m.startswith("ft")] and "ft+rag" in complete_mode("ft")
    assert set(_complete(["ask", "q", "--mode"], "")) == set(MODES)
    assert _complete(["ask", "q", "--mode"], "ra") == [m for m in MODES if m.startswith("ra")]


def test_kb_names_complete_from_the_data_folder(tmp_path):
    for name in ("handbook", "hr-policies", "faq"):
        (tmp_path / "kbs" / name).mkdir(parents=True)
        (tmp_path / "kbs" / name / "kb.json").write_text("{}")
    (tmp_path / "kbs" / "half-made").mkdir()  # no kb.json: not a knowledge base
    base = ["--data-dir", str(tmp_path)]
    assert _complete([*base, "ask", "q", "--kb"], "h") == ["handbook", "hr-policies"]
    assert _complete([*base, "search", "x", "--kb"], "") == ["faq", "handbook", "hr-policies"]
    assert _complete([*base, "delete", "--kb"], "f") == ["faq"]
    assert _complete(["--data-dir", str(tmp_path / "none"), "ask", "q", "--kb"], "") == []
    # the other commands that take a KB name: train --kb, kb info/delete NAME, kb copy SRC
    for recipe in ("sft", "cpt", "raft", "synth", "run"):
        assert _complete([*base, "train", recipe, "--kb"], "h") == ["handbook", "hr-policies"], recipe
    assert _complete([*base, "kb", "info"], "") == ["faq", "handbook", "hr-policies"]
    assert _complete([*base, "kb", "delete"], "hr") == ["hr-policies"]
    assert _complete([*base, "kb", "copy"], "f") == ["faq"]
    assert _complete([*base, "kb", "copy", "faq"], "") == []  # the new name (DST) is not an existing KB


def test_comparison_modes_complete_on_runs_show():
    every = [*QA_MODES, *QA_VARIANTS, *(m for m in CLS_MODES + CLS_VARIANTS if m not in QA_MODES)]
    assert _complete(["runs", "show", "abc123", "--answers", "--mode"], "") == every
    assert _complete(["runs", "show", "abc123", "--mode"], "rag/") == [m for m in QA_VARIANTS if m.startswith("rag/")]
    assert set(complete_compare_mode("ft")) == {"ft", "ft+rag", "ft/embedder"}
    assert complete_compare_mode("zero") == ["zero-shot"] and complete_compare_mode("nope") == []


def test_a_table_piped_to_a_file_is_not_cut_at_80_columns(tmp_path):
    name = "a-very-long-knowledge-base-name-" + "x" * 70  # 100 characters: more than 80 on its own
    with RunLog(tmp_path).run("ingest", name=name):
        pass
    env = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "LINES")}
    out = subprocess.run([sys.executable, "-m", "ragtune.cli.main", "--data-dir", str(tmp_path), "runs", "list"],
                         capture_output=True, text=True, env=env, timeout=300, check=True).stdout
    row = next(line for line in out.splitlines() if name[:20] in line)
    assert name in row and "ingest" in row and "ok" in row  # one line, nothing cut or wrapped
    assert max(len(line) for line in out.splitlines()) > 80
