"""Long work without a terminal prints plain progress lines that name what is being trained."""

from __future__ import annotations

import io
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from ragtune.progress import Lines

EXAMPLES = Path(__file__).resolve().parents[1] / "examples" / "finetune"


def test_lines_print_counts_and_the_end():
    out = io.StringIO()
    lines = Lines(out, every=0.0)
    task = lines.add_task("embedding", total=4)
    for _ in range(4):
        lines.advance(task)
    text = out.getvalue().splitlines()
    assert text[0].startswith("embedding: 0/4 (0%) started")
    assert text[-1].startswith("embedding: 4/4 (100%)")
    quiet = io.StringIO()
    slow = Lines(quiet, every=3600)
    t = slow.add_task("x", total=10)
    slow.advance(t, 3)
    assert len(quiet.getvalue().splitlines()) == 1  # nothing between lines, only the start ...
    slow.advance(t, 7)
    assert quiet.getvalue().splitlines()[-1].startswith("x: 10/10 (100%)")  # ... and the end


@pytest.mark.slow
def test_piped_training_prints_progress_lines(tmp_path):
    rows = EXAMPLES.joinpath("train.jsonl").read_text().splitlines()[:4]
    data = tmp_path / "four.jsonl"
    data.write_text("\n".join(rows) + "\n")
    env = {**os.environ, "COLUMNS": "200"}
    proc = subprocess.run(
        [sys.executable, "-m", "ragtune.cli.main", "--data-dir", str(tmp_path / "data"), "train", "sft",
         "--data", str(data), "--name", "piped-m", "--max-steps", "3", "--batch-size", "2",
         "--max-seq-len", "128", "--no-export-gguf"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env, timeout=900, check=False)
    assert proc.returncode == 0, proc.stdout[-3000:]
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("train piped-m: ")]
    assert lines, proc.stdout[-3000:]
    assert re.match(r"train piped-m: 0/3 \(0%\)", lines[0])
    assert re.match(r"train piped-m: 3/3 \(100%\) loss \d+\.\d+", lines[-1])
    assert "\x1b[" not in "\n".join(lines)  # plain text, no terminal control codes
