"""Integration: the real bundled model, a few steps on tiny data (overfitting four examples)."""

from __future__ import annotations

import json

import pytest

from ragtune.config import load_settings
from ragtune.train.config import TrainConfig
from ragtune.types import Chunk

from .test_raft import bow_embed

pytestmark = pytest.mark.slow

FACTS = [("What colour is the Zorblat fruit?", "Bright teal"), ("Who founded Quenvik?", "Mara Oduya"),
         ("When did the Trelling bridge open?", "In 1847"), ("What is Pell's favourite tool?", "A brass awl")]


def _settings(tmp_path):
    return load_settings(overrides=[f"data_dir='{tmp_path / 'data'}'"], env={})


def test_resume_on_the_real_model_matches_one_uninterrupted_run(tmp_path, base_spec):
    from ragtune.train.data import QAItem
    from ragtune.train.loop import prepare_model, train_loop
    from ragtune.train.model_io import load_causal_lm
    from ragtune.train.sft import build_examples

    cfg = TrainConfig(max_steps=6, checkpoint_every=3, batch_size=2, lr=1e-3, max_seq_len=128, seed=0,
                      precision="fp32")

    def run(work, **kw):
        model, tok = load_causal_lm(base_spec)
        exs = build_examples([QAItem(f"f:{i}", "qa", q, a) for i, (q, a) in enumerate(FACTS)], tok)
        return train_loop(prepare_model(model, kw.pop("cfg", cfg)), exs, [], kw.pop("c", cfg), work,
                          pad_id=tok.pad_token_id, progress=False, **kw)

    straight = run(tmp_path / "a")

    def stop(step, loss):
        if step == 4:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run(tmp_path / "b", on_step=stop)
    resumed = run(tmp_path / "b", c=cfg.with_(resume=True))
    assert resumed.resumed_from == 3
    a, b = [x for _, x in straight.train_losses], [x for _, x in resumed.train_losses]
    assert len(a) == len(b) == 6
    assert max(abs(x - y) for x, y in zip(a, b, strict=True)) < 1e-4


def test_raft_loss_falls_and_rows_are_kept_with_the_model(tmp_path):
    from ragtune.train import raft

    corpus = [Chunk(f"c{i}", f"d{i}", "corpus", f"Fact {i}: the {w} is kept in room {100 + i}.")
              for i, w in enumerate(["lamp", "key", "map", "coin", "book", "cup", "ring", "bell"])]
    qa = tmp_path / "qa.jsonl"
    qa.write_text("".join(json.dumps({"question": f"In which room is the {w} kept?", "answer": f"room {100 + i}",
                                      "chunk_id": f"c{i}"}) + "\n"
                          for i, w in enumerate(["lamp", "key", "map", "coin"])))
    cfg = TrainConfig(max_steps=8, batch_size=4, lr=2e-3, max_seq_len=256, seed=0, val_fraction=0.0)
    out = raft.train(_settings(tmp_path), [qa], "raft-t", cfg, chunks=corpus, k=2, p_drop=0.25,
                     progress=False, embed=bow_embed)
    losses = [x for _, x in out.result.train_losses]
    assert losses[-1] < 0.5 * losses[0]
    rows = [json.loads(x) for x in (out.info.folder / "raft_examples.jsonl").read_text().splitlines()]
    assert len(rows) == 4 and sum(r["oracle_position"] is None for r in rows) == 1
    assert out.info.extra["raft"]["dropped"] == 1


def test_synth_with_a_scripted_generator_trains_on_the_kept_pairs(tmp_path):
    from ragtune.train import synth

    chunks = [Chunk("c1", "d1", "s", "The Zorblat fruit is bright teal."),
              Chunk("c2", "d2", "s", "Mara Oduya founded Quenvik in 1790.")]
    replies = iter(["Question: What colour is the Zorblat fruit?\nAnswer: bright teal",
                    "Question: Who founded Quenvik?\nAnswer: Mara Oduya",
                    "Question: Who founded Quenvik?\nAnswer: Pell"])  # not in the source

    cfg = TrainConfig(max_steps=5, batch_size=2, lr=2e-3, max_seq_len=128, val_fraction=0.0)
    out, rep = synth.train(_settings(tmp_path), chunks, tmp_path / "qa.jsonl", "synth-t", cfg, per_chunk=1,
                           generate=lambda m, t, s, n: next(replies), progress=False)
    assert len(rep.kept) == 2 and out.info.recipe == "synth"
    losses = [x for _, x in out.result.train_losses]
    assert losses[-1] < 0.5 * losses[0]


def test_classify_command_records_a_model_with_its_labels(tmp_path):
    from typer.testing import CliRunner

    from ragtune.cli.main import app

    rows = [("I love it, wonderful", "positive"), ("great phone, very happy", "positive"),
            ("awful, broke in a day", "negative"), ("terrible support, angry", "negative")] * 3
    data = tmp_path / "s.jsonl"
    data.write_text("".join(json.dumps({"text": t, "label": lab}) + "\n" for t, lab in rows))
    res = CliRunner().invoke(app, ["--data-dir", str(tmp_path / "data"), "train", "classify", "--data", str(data),
                                   "--name", "senti", "--method", "embedder", "--val-fraction", "0.25",
                                   "--no-progress", "--json"])
    assert res.exit_code == 0, res.output
    info = json.loads(res.output)
    assert info["task"] == "classify" and info["labels"] == ["negative", "positive"]
    assert info["weights"] == "embedder-head" and info["metrics"]["n_val"] == 3
