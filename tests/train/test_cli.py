"""The train and models commands, through the real ``ragtune`` app."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from ragtune.cli.main import app
from ragtune.errors import ConfigError, DataError, ModelNotFoundError, TrainingError

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "finetune"
runner = CliRunner()


def _run(tmp_path, *args):
    return runner.invoke(app, ["--data-dir", str(tmp_path / "data"), *args])


def _four(tmp_path) -> Path:
    rows = EXAMPLES.joinpath("train.jsonl").read_text().splitlines()[:4]
    f = tmp_path / "four.jsonl"
    f.write_text("\n".join(rows) + "\n")
    return f


def test_models_list_is_empty_at_first(tmp_path):
    res = _run(tmp_path, "models", "list")
    assert res.exit_code == 0 and "no trained models yet" in res.output
    assert json.loads(_run(tmp_path, "models", "list", "--json").output) == []
    assert isinstance(_run(tmp_path, "models", "info", "nope").exception, ModelNotFoundError)


def test_bad_flags_and_bad_data_fail_before_any_model_loads(tmp_path):
    res = _run(tmp_path, "train", "sft", "--data", str(_four(tmp_path)), "--name", "m", "--lr", "-1")
    assert isinstance(res.exception, ConfigError) and "lr" in str(res.exception)
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"question": "q"}\n')
    res = _run(tmp_path, "train", "sft", "--data", str(bad), "--name", "m")
    assert isinstance(res.exception, DataError) and f"{bad}:1" in str(res.exception)
    res = _run(tmp_path, "train", "sft", "--data", str(_four(tmp_path)), "--name", "../x")
    assert isinstance(res.exception, TrainingError)


@pytest.mark.slow
def test_train_sft_then_list_info_and_delete(tmp_path):
    res = _run(tmp_path, "train", "sft", "--data", str(_four(tmp_path)), "--name", "sb50", "--max-steps", "4",
               "--batch-size", "2", "--lr", "1e-3", "--max-seq-len", "128", "--no-progress", "--json")
    assert res.exit_code == 0, res.output
    info = json.loads(res.output)
    assert info["name"] == "sb50" and info["recipe"] == "sft" and info["metrics"]["steps"] == 4
    assert info["config"]["lr"] == 1e-3 and len(info["training_data_sha256"]) == 64
    gguf = Path(info["exports"]["gguf-adapter"])  # exported by default, for llama.cpp
    assert gguf.is_file() and gguf.read_bytes()[:4] == b"GGUF"
    res = _run(tmp_path, "models", "export", "sb50")
    assert res.exit_code == 0 and "gguf-adapter" in res.output
    listed = _run(tmp_path, "models", "list")
    assert "sb50" in listed.output and "sft" in listed.output
    again = _run(tmp_path, "train", "sft", "--data", str(_four(tmp_path)), "--name", "sb50", "--max-steps", "1")
    assert isinstance(again.exception, TrainingError) and "--overwrite" in str(again.exception)
    assert json.loads(_run(tmp_path, "models", "info", "sb50").output)["name"] == "sb50"
    assert _run(tmp_path, "models", "delete", "sb50", "--yes").exit_code == 0
    assert json.loads(_run(tmp_path, "models", "list", "--json").output) == []


@pytest.mark.slow
def test_two_process_training_through_accelerate_launch(tmp_path):
    """The real CLI and model under ``accelerate launch`` with two CPU processes (gloo)."""
    accelerate = Path(sys.executable).with_name("accelerate")
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONWARNINGS": "ignore"}
    cmd = [str(accelerate), "launch", "--multi_gpu", "--num_processes", "2", "--num_machines", "1",
           "--mixed_precision", "no", "--dynamo_backend", "no", "-m", "ragtune.cli.main",
           "--data-dir", str(tmp_path / "data"), "train", "sft", "--data", str(_four(tmp_path)), "--name", "ddp",
           "--max-steps", "3", "--batch-size", "1", "--lr", "2e-3", "--max-seq-len", "128", "--threads", "1",
           "--no-progress", "--json"]
    res = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr[-3000:]
    info = json.loads(res.stdout[res.stdout.index("{"):])
    assert info["metrics"]["processes"] == 2 and info["metrics"]["steps"] == 3
    # each step saw two micro-batches (one per process) of the four examples
    assert info["metrics"]["n_train"] == 4
    assert info["metrics"]["final_loss"] < info["metrics"]["first_loss"]
