"""One path from `ragtune train` to `ragtune compare`: the same recipes, the same config.

A compare contender and the command a user runs on the same data must train on the same
examples (token for token: ``examples_sha256``) with the same TrainConfig, and so give the same
losses. A tiny random llama with the bundled tokenizer keeps it to seconds; the knowledge base
and the RAFT distractors use the real bundled embedder.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from typer.testing import CliRunner

from ragtune.cli.main import app
from ragtune.config import load_settings
from ragtune.evaluate.datasets import Doc, Question
from ragtune.evaluate.docfiles import write_docs
from ragtune.evaluate.experiment import load_experiment
from ragtune.evaluate.training import ft_contender, raft_contender
from ragtune.train.config import TrainConfig

FACTS = [("lamp", "room 101"), ("key", "room 102"), ("map", "room 103"), ("coin", "room 104"),
         ("book", "room 105"), ("cup", "room 106")]
EXPERIMENT = {"name": "one-path", "task": "qa", "data": {"corpus": "c.jsonl", "questions": "q.jsonl"},
              "train": {"max_steps": 2, "batch_size": 2, "lr": 1e-3, "raft_distractors": 1, "raft_drop_oracle": 0.5,
                        "raft": {"max_seq_len": 1024}}}


@pytest.fixture(scope="module")
def tiny_generator(tmp_path_factory):
    """A random two-layer llama over the bundled tokenizer, saved as a Hugging Face folder."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    from ragtune.registry import resolve
    from ragtune.train.model_io import load_tokenizer

    tok = load_tokenizer(resolve("smollm2-135m-instruct"))
    torch.manual_seed(0)
    model = LlamaForCausalLM(LlamaConfig(vocab_size=len(tok), hidden_size=32, intermediate_size=64,
                                         num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
                                         max_position_embeddings=2048, tie_word_embeddings=True))
    folder = tmp_path_factory.mktemp("tiny-llama")
    model.save_pretrained(folder)
    tok.save_pretrained(folder)
    return folder


@pytest.fixture
def workspace(tmp_path, tiny_generator):
    """Settings on the tiny generator, and a knowledge base 'docs' built the way compare builds it."""
    from ragtune.kb import KnowledgeBase

    cfg = tmp_path / "ragtune.toml"
    cfg.write_text(f'[models]\ngenerator = "tiny"\n[models.registry.tiny]\nkind = "hf"\npath = "{tiny_generator}"\n')
    data = tmp_path / "data"
    s = load_settings(cfg, data_dir=data)
    docs = [Doc(f"d{i}", "", f"Fact {i}: the {w} is kept in {room}, behind the blue door.")
            for i, (w, room) in enumerate(FACTS)]
    write_docs(tmp_path / "docs", docs)
    KnowledgeBase.create(s, "docs").ingest([tmp_path / "docs"], show_progress=False)
    questions = [Question(f"q{i}", f"In which room is the {w} kept?", [room], f"d{i}")
                 for i, (w, room) in enumerate(FACTS)]
    return s, cfg, data, questions


def _cli(cfg, data, *args):
    res = CliRunner().invoke(app, ["--config", str(cfg), "--data-dir", str(data), "train", *args,
                                   "--no-progress", "--json"], catch_exceptions=False)
    assert res.exit_code == 0, res.output
    return json.loads(res.output)


def _same_run(cli: dict, rec: dict) -> None:
    assert len(rec["examples_sha256"]) == 64
    assert cli["extra"]["examples_sha256"] == rec["examples_sha256"]
    assert cli["config"] == rec["config"]
    assert cli["metrics"]["steps"] == rec["metrics"]["steps"] == 2
    assert cli["metrics"]["first_loss"] == pytest.approx(rec["metrics"]["first_loss"], rel=1e-6)
    assert cli["metrics"]["final_loss"] == pytest.approx(rec["metrics"]["final_loss"], rel=1e-6)


def test_compare_raft_contender_is_ragtune_train_raft(workspace, tmp_path):
    s, cfg, data, questions = workspace
    exp = load_experiment(data=EXPERIMENT)
    c = raft_contender(s, "raft", questions, exp.train.config("raft", exp.seed), "docs",
                       k=exp.train.raft_distractors, p_drop=exp.train.raft_drop_oracle)
    rec = c.train(s, tmp_path / "train", progress=False)
    cli = _cli(cfg, data, "raft", "--data", rec["data"], "--kb", "docs", "--name", "raft-cli", "--distractors", "1",
               "--p-drop", "0.5", "--max-steps", "2", "--batch-size", "2", "--lr", "1e-3", "--max-seq-len", "1024",
               "--val-fraction", "0", "--skip-long")
    _same_run(cli, rec)
    assert cli["extra"]["raft"]["dropped"] == 3  # the recipe's exact share: round(0.5 * 6)
    # Another drop share is other examples: the fingerprint tells runs apart.
    other = _cli(cfg, data, "raft", "--data", rec["data"], "--kb", "docs", "--name", "raft-p0", "--distractors", "1",
                 "--p-drop", "0", "--max-steps", "1", "--max-seq-len", "1024", "--val-fraction", "0", "--skip-long")
    assert other["extra"]["examples_sha256"] != rec["examples_sha256"]


def test_a_focus_raft_contender_is_train_raft_reader_focus_and_answers_with_that_prompt(workspace, tmp_path):
    from ragtune.pipeline import Pipeline

    s, cfg, data, questions = workspace
    exp = load_experiment(data={**EXPERIMENT, "train": {**EXPERIMENT["train"], "raft_reader": "focus",
                                                        "raft_focus_sentences": 1}})
    c = raft_contender(s, "raft-focus", questions, exp.train.config("raft", exp.seed), "docs",
                       **exp.train.raft_options())
    rec = c.train(s, tmp_path / "train", progress=False)
    cli = _cli(cfg, data, "raft", "--data", rec["data"], "--kb", "docs", "--name", "raft-focus-cli", "--distractors",
               "1", "--p-drop", "0.5", "--max-steps", "2", "--batch-size", "2", "--lr", "1e-3", "--max-seq-len",
               "1024", "--val-fraction", "0", "--skip-long", "--reader", "focus", "--focus-sentences", "1")
    _same_run(cli, rec)
    assert cli["extra"]["raft"]["reader"]["method"] == "focus"
    # The plain contender trains on other examples (whole passages).
    plain = raft_contender(s, "raft-plain", questions, exp.train.config("raft", exp.seed), "docs", k=1, p_drop=0.5)
    assert plain.fingerprint(s) != c.fingerprint(s)
    # `ask --mode raft` reads the prompt the model was trained on; a plain RAFT model reads whole passages.
    pipe = Pipeline(s, log=False)
    q = questions[0].question
    focus = pipe.ask(q, mode="raft", kb="docs", model="raft-focus", max_tokens=2)
    assert focus.reader == "focus"
    by_cli = pipe.ask(q, mode="raft", kb="docs", model="raft-focus-cli", max_tokens=2)
    assert by_cli.reader == "focus" and by_cli.prompt == focus.prompt
    plain_rec = plain.train(s, tmp_path / "train", progress=False)
    assert plain_rec["examples_sha256"] != rec["examples_sha256"]
    unfocused = pipe.ask(q, mode="raft", kb="docs", model="raft-plain", max_tokens=2)
    assert unfocused.reader == "plain"
    assert len(unfocused.prompt) > len(focus.prompt)
    assert all(h.chunk.text.strip() in unfocused.prompt for h in unfocused.hits)


def test_compare_ft_contender_is_ragtune_train_sft_with_the_kb(workspace, tmp_path):
    s, cfg, data, questions = workspace
    exp = load_experiment(data=EXPERIMENT)
    rec = ft_contender("ft", questions, exp.train.config("ft", exp.seed), "docs").train(s, tmp_path / "train",
                                                                                        progress=False)
    cli = _cli(cfg, data, "sft", "--data", rec["data"], "--kb", "docs", "--name", "ft-cli", "--max-steps", "2",
               "--batch-size", "2", "--lr", "1e-3", "--val-fraction", "0", "--skip-long")
    _same_run(cli, rec)
    assert cli["extra"]["docs"] == {"chunks": len(FACTS)} and rec["examples"] == 2 * len(FACTS)


def test_the_cli_and_the_experiment_start_from_trainconfig_defaults():
    import typer

    defaults = TrainConfig()
    assert defaults.checkpoint_every == 100  # the Python API checkpoints like the command does
    train = typer.main.get_command(app).commands["train"]
    for recipe in ("sft", "cpt", "synth", "raft", "classify"):
        flags = {p.name: p.default for p in train.commands[recipe].params if p.name in TrainConfig.model_fields}
        assert len(flags) == 24, recipe
        assert flags == {k: getattr(defaults, k) for k in flags}, recipe
    exp = load_experiment(data={**EXPERIMENT, "seed": 7, "train": {}})
    # ... with the comparison's own: long examples are skipped (and counted in the notes), not fatal.
    assert exp.train.config("ft", exp.seed) == defaults.with_(seed=7, val_fraction=0.0, skip_long=True)
    assert not load_experiment(data={**EXPERIMENT, "train": {"skip_long": False}}).train.config("ft").skip_long
    exp = load_experiment(data=EXPERIMENT, overrides=["train.epochs=4", "train.ft.lr=5e-4"])
    ft, raft = exp.train.config("ft"), exp.train.config("raft")
    assert (ft.epochs, ft.lr, ft.max_seq_len, ft.checkpoint_every) == (4, 5e-4, defaults.max_seq_len, 100)
    assert (raft.epochs, raft.lr, raft.max_seq_len) == (4, 1e-3, 1024)


@pytest.mark.parametrize("table, expected", [
    ("[train]\nlr = -1", "error: train.lr: Input should be greater than 0 (got -1)"),
    ("[train.raft]\nbatch = 2", "error: train.raft.batch: unknown training setting; see `ragtune train --help`"),
    ("[train]\nprecision = \"fp8\"", "error: train.precision: 'fp8' is not allowed; use one of 'auto', 'bf16'"),
    ("[train]\nseed = 3", "error: train.seed: set by the experiment"),
])
def test_a_bad_train_value_in_an_experiment_is_one_line(tmp_path, table, expected):
    f = tmp_path / "experiment.toml"
    f.write_text(f'name = "x"\ntask = "qa"\n[data]\ncorpus = "c.jsonl"\nquestions = "q.jsonl"\n{table}\n')
    res = subprocess.run([sys.executable, "-m", "ragtune.cli.main", "--data-dir", str(tmp_path / "d"), "compare",
                          "--config", str(f)], capture_output=True, text=True, timeout=120)
    assert res.returncode == 2
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(expected), res.stderr
