"""Data-parallel training through ``accelerate launch``: two CPU processes (gloo) give the same
losses as one process accumulating the same two micro-batches per step."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).with_name("ddp_script.py")


@pytest.mark.slow
def test_two_processes_match_one_process_with_accumulation(tmp_path):
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONWARNINGS": "ignore"}
    accelerate = Path(sys.executable).with_name("accelerate")
    # --multi_gpu is accelerate's torchrun launcher; on a machine without GPUs the loop's
    # Accelerator(cpu=True) joins a gloo process group (`--cpu` alone needs mpirun).
    two = subprocess.run(
        [str(accelerate), "launch", "--multi_gpu", "--num_processes", "2", "--num_machines", "1",
         "--mixed_precision", "no", "--dynamo_backend", "no", str(SCRIPT), str(tmp_path / "two.json"), "1"],
        env=env, capture_output=True, text=True, timeout=240,
    )
    assert two.returncode == 0, two.stderr[-2000:]
    one = subprocess.run([sys.executable, str(SCRIPT), str(tmp_path / "one.json"), "2"], env=env,
                         capture_output=True, text=True, timeout=240)
    assert one.returncode == 0, one.stderr[-2000:]
    a, b = json.loads((tmp_path / "two.json").read_text()), json.loads((tmp_path / "one.json").read_text())
    assert a["processes"] == 2 and a["backend"] == "gloo" and b["processes"] == 1
    assert a["tokens"] == b["tokens"]
    assert [s for s, _ in a["losses"]] == [1, 2, 3, 4]
    for (_, la), (_, lb) in zip(a["losses"], b["losses"], strict=True):
        assert la == pytest.approx(lb, abs=1e-4)
    assert a["losses"][-1][1] < a["losses"][0][1]
