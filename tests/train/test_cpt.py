from __future__ import annotations

import pytest

from ragtune.config import load_settings
from ragtune.train.cpt import STYLES, build_examples, chunk_text, paraphrase, text_blocks
from ragtune.types import Chunk

CHUNKS = [
    Chunk("c1", "d1", "a.txt", "The Zorblat fruit is bright teal and grows only in Quenvik.", title="Zorblat"),
    Chunk("c2", "d2", "b.txt", "Mara Oduya designed the Trelling bridge, which opened in 1847."),
]


def test_blocks_train_every_token_and_end_with_eos(tokenizer):
    text = "one two three four five six seven eight nine ten"
    ids = tokenizer(text, add_special_tokens=False)["input_ids"] + [tokenizer.eos_token_id]
    blocks = text_blocks(text, tokenizer, 4, "w")
    assert [b.input_ids for b in blocks] == [ids[i:i + 4] for i in range(0, len(ids), 4) if len(ids[i:i + 4]) > 1]
    assert all(b.labels == b.input_ids for b in blocks) and blocks[-1].input_ids[-1] == tokenizer.eos_token_id
    assert len(text_blocks(text, tokenizer, 512)) == 1


def test_titles_lead_the_text():
    assert chunk_text(CHUNKS[0]).startswith("Zorblat\n\nThe Zorblat")
    assert chunk_text(CHUNKS[1]) == CHUNKS[1].text


def test_paraphrases_use_each_style_then_sample_and_drop_junk():
    calls = []

    def gen(messages, temperature, seed, max_tokens):
        calls.append((messages[0]["content"].split("\n\n")[0], temperature, seed))
        return ["ok", "Quenvik grows the teal Zorblat fruit, nowhere else, as people say."][len(calls) % 2]

    rows = paraphrase(CHUNKS[:1], gen, n=len(STYLES) + 1, seed=3, progress=False)
    assert [c[0] for c in calls] == STYLES + STYLES[:1]
    assert [c[1] for c in calls] == [0.0] * len(STYLES) + [0.8]
    assert [c[2] for c in calls] == [3, 4, 5, 6, 7]
    assert [r["style"] for r in rows] == [0, 2, 4]  # the "ok" replies (too short) are dropped
    exs = build_examples(CHUNKS, _WordTok(), 64, rows)
    assert len(exs) == 2 + 3 and exs[-1].where == "paraphrase 4 of c1"


class _WordTok:
    eos_token_id = 0

    def __call__(self, text, add_special_tokens=False):
        return {"input_ids": [len(w) for w in text.split()]}


@pytest.mark.slow
def test_cpt_loss_falls_on_a_few_chunks(tmp_path):
    from ragtune.train.config import TrainConfig
    from ragtune.train.cpt import train

    settings = load_settings(overrides=[f"data_dir='{tmp_path}'"], env={})
    cfg = TrainConfig(max_steps=6, batch_size=2, lr=2e-3, max_seq_len=64, val_fraction=0.0, seed=0)
    out = train(settings, CHUNKS, "cpt-test", cfg, progress=False)
    losses = [loss for _, loss in out.result.train_losses]
    assert losses[-1] < 0.6 * losses[0]
    assert out.info.recipe == "cpt" and out.info.extra["cpt"]["chunks"] == 2
