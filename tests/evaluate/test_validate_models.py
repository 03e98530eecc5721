"""A comparison whose fine-tuned modes cannot be trained on its generator (an HTTP endpoint) fails at once,
in one line naming the mode, the model and the fix, before any knowledge base, model or run is made."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

from ragtune.config import load_settings
from ragtune.errors import ConfigError
from ragtune.evaluate.compare import run_comparison
from ragtune.evaluate.experiment import load_experiment
from ragtune.evaluate.validate import check_models, training_modes
from ragtune.runlog import RunLog

KNOWLEDGE = Path(__file__).resolve().parents[2] / "examples" / "knowledge" / "data"
REMOTE = 'models.registry.remote={kind="http", base_url="http://127.0.0.1:9/v1", model="some-llm"}'


def _qa(name: str, modes: list[str], **more) -> dict:
    return {"name": name, "task": "qa", "modes": modes,
            "data": {"corpus": str(KNOWLEDGE / "corpus.jsonl"), "questions": str(KNOWLEDGE / "qa.jsonl")}, **more}


def _remote_settings(data_dir: Path):
    return load_settings(env={}, overrides=[REMOTE, "models.generator=remote"], data_dir=data_dir)


def _nothing_built(data_dir: Path) -> None:
    assert not (data_dir / "experiments").exists() and not (data_dir / "reports").exists()
    assert not (data_dir / "kbs").exists() and not (data_dir / "models").exists()
    assert RunLog(data_dir).list("compare", 10) == []


def test_an_ft_mode_with_an_http_generator_fails_at_once(tmp_path):
    exp = load_experiment(data=_qa("http-ft", ["base", "rag", "ft"]))
    t0 = time.perf_counter()
    with pytest.raises(ConfigError) as e:
        run_comparison(exp, _remote_settings(tmp_path), show_progress=False)
    assert time.perf_counter() - t0 < 1.0
    msg = str(e.value)
    assert "\n" not in msg
    assert msg.startswith("mode 'ft' of experiment http-ft fine-tunes the generator, but 'remote' is an HTTP endpoint")
    assert 'drop the ft modes (modes = ["base", "rag"])' in msg and "use a local model" in msg
    _nothing_built(tmp_path)


def test_a_raft_only_experiment_set_up_in_its_own_settings_fails_at_once(tmp_path):
    # the generator comes from the experiment's [settings] table, not from the user's settings
    exp = load_experiment(data=_qa("http-raft", ["raft"], settings={
        "models": {"generator": "remote", "registry": {"remote": {
            "kind": "http", "base_url": "http://127.0.0.1:9/v1", "model": "some-llm"}}}}))
    t0 = time.perf_counter()
    with pytest.raises(ConfigError, match=r"^mode 'raft' of experiment http-raft fine-tunes the generator, "
                                          r"but 'remote' is an HTTP endpoint .*modes = \[\]"):
        run_comparison(exp, load_settings(env={}, data_dir=tmp_path), show_progress=False)
    assert time.perf_counter() - t0 < 1.0
    _nothing_built(tmp_path)


def test_every_training_mode_is_named():
    exp = load_experiment(data=_qa("all", ["base", "rag", "ft", "ft+rag", "raft"], variants=["rag/top1"]))
    assert training_modes(exp) == ["ft", "ft+rag", "raft"]
    with pytest.raises(ConfigError, match=r"^modes 'ft', 'ft\+rag', 'raft' of experiment all fine-tune the generator"):
        check_models(exp, _remote_settings(Path("unused")))


def test_modes_that_do_not_train_run_on_an_http_generator():
    settings = _remote_settings(Path("unused"))
    check_models(load_experiment(data=_qa("http-rag", ["base", "rag"], variants=["rag/top1"])), settings)
    cls = {"name": "cls", "task": "classification", "data": {"train": "t.jsonl", "test": "t.jsonl"}}
    check_models(load_experiment(data={**cls, "modes": ["zero-shot", "rag"], "variants": ["ft/embedder"]}),
                 settings)
    check_models(load_experiment(data={**cls, "modes": ["ft"], "train": {"classifier": "embedder"}}), settings)
    with pytest.raises(ConfigError, match=r"^mode 'ft' of experiment cls .*set train.classifier = \"embedder\""):
        check_models(load_experiment(data={**cls, "modes": ["zero-shot", "ft"]}), settings)


def test_the_cli_prints_one_line_and_exits_non_zero(tmp_path):
    exp = tmp_path / "exp.toml"
    exp.write_text(f'name = "http-ft"\ntask = "qa"\nmodes = ["base", "ft+rag"]\n[data]\n'
                   f'corpus = "{KNOWLEDGE / "corpus.jsonl"}"\nquestions = "{KNOWLEDGE / "qa.jsonl"}"\n')
    run = subprocess.run([sys.executable, "-m", "ragtune.cli.main", "--data-dir", str(tmp_path / "d"), "--set", REMOTE,
                          "--set", "models.generator=remote", "compare", "--config", str(exp)],
                         capture_output=True, text=True, timeout=300)
    assert run.returncode != 0 and run.stdout == ""
    lines = run.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: mode 'ft+rag' of experiment http-ft"), run.stderr
    assert "'remote' is an HTTP endpoint" in lines[0] and 'modes = ["base"]' in lines[0]
    _nothing_built(tmp_path / "d")
