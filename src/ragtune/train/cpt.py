"""Continued pre-training: put the documents of a knowledge base (or a folder) into the weights.

Each chunk (title first when it has one) is a plain-text example ending with the end-of-text
token, split into blocks of ``max_seq_len`` tokens when longer; the loss is on every token.

Augmentation (``augment=N``): the generator rewrites each chunk N times, each time in another
style (own words, a list of facts, simple sentences, ...). Knowledge-injection studies find a
fact seen in one phrasing is poorly recalled when asked differently (Allen-Zhu & Li 2023,
"Physics of Language Models 3.1"; Ovadia et al. 2024, "Fine-Tuning or Retrieval?"), and that
paraphrases help. Each style's first rewrite is greedy; further rounds sample with a seed. The
paraphrases are written to ``paraphrases.jsonl`` in the model folder, kept with the model and
reused by ``--resume``, so what the model was trained on can be read.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ragtune.errors import DataError
from ragtune.progress import progress as bar
from ragtune.text import normalize_answer
from ragtune.train.artifacts import check_name_free
from ragtune.train.config import TrainConfig
from ragtune.train.data import Example, sha256_texts, write_jsonl
from ragtune.train.runner import Dataset, Outcome, run_recipe, split_examples
from ragtune.train.sources import GenerateFn, make_generate
from ragtune.types import Chunk

STYLES = [
    "Rewrite the following text in your own words. Keep every fact, name, date and number.",
    "Rewrite the following text as a list of short, complete factual statements.",
    "Explain the facts in the following text to a student, in simple sentences. Keep every name and number.",
    "Rewrite the following text as a short encyclopedia paragraph. Keep every fact.",
]
PARAPHRASE_FILE = "paraphrases.jsonl"


def chunk_text(c: Chunk) -> str:
    title = c.title.strip()
    return f"{title}\n\n{c.text.strip()}" if title and not c.text.lstrip().startswith(title) else c.text.strip()


def text_blocks(text: str, tokenizer: Any, block_size: int, where: str = "") -> list[Example]:
    """``text`` + end-of-text as blocks of at most ``block_size`` tokens, every token trained."""
    ids = tokenizer(text, add_special_tokens=False)["input_ids"] + [tokenizer.eos_token_id]
    return [Example(ids[i:i + block_size], ids[i:i + block_size], where)
            for i in range(0, len(ids), block_size) if len(ids[i:i + block_size]) > 1]


def paraphrase(chunks: Sequence[Chunk], generate: GenerateFn, n: int, seed: int = 0,
               progress: bool | None = None) -> list[dict[str, Any]]:
    """``n`` rewrites of each chunk; empty, tiny or verbatim outputs are dropped."""
    rows = []
    with bar(progress) as p:
        task = p.add_task("paraphrase", total=len(chunks) * n)
        for c in chunks:
            src = chunk_text(c)
            for k in range(n):
                style = STYLES[k % len(STYLES)]
                rnd = k // len(STYLES)
                msgs = [{"role": "user", "content": f"{style}\n\nText:\n{src}"}]
                out = generate(msgs, 0.0 if rnd == 0 else 0.8, seed + k, max(64, len(src) // 2))
                p.advance(task)
                if len(out.split()) < 5 or normalize_answer(out) == normalize_answer(c.text):
                    continue
                rows.append({"chunk_id": c.chunk_id, "style": k, "text": out.strip()})
    return rows


def build_examples(chunks: Sequence[Chunk], tokenizer: Any, block_size: int,
                   paraphrases: Sequence[dict[str, Any]] = ()) -> list[Example]:
    exs = []
    for c in chunks:
        exs += text_blocks(chunk_text(c), tokenizer, block_size, f"{c.source}#{c.chunk_id}")
    for r in paraphrases:
        exs += text_blocks(r["text"], tokenizer, block_size, f"paraphrase {r['style']} of {r['chunk_id']}")
    return exs


def train(settings: Any, chunks: Sequence[Chunk], name: str, cfg: TrainConfig, *, augment: int = 0,
          generate: GenerateFn | None = None, base: str | None = None, overwrite: bool = False,
          progress: bool | None = None) -> Outcome:
    """Continued pre-training on ``chunks`` (+ ``augment`` paraphrases of each)."""
    folder = check_name_free(settings, name, overwrite, cfg.resume)
    chunks = list(chunks)
    if not chunks:
        raise DataError("no documents to train on; point at a knowledge base or files with text")
    saved = folder / PARAPHRASE_FILE
    paraphrases: list[dict[str, Any]] = []
    if augment and cfg.resume and saved.exists():
        paraphrases = [json.loads(x) for x in saved.read_text(encoding="utf-8").splitlines() if x.strip()]
    elif augment:
        paraphrases = paraphrase(chunks, generate or make_generate(settings), augment, cfg.seed, progress)
    sha = sha256_texts([c.text for c in chunks] + [r["text"] for r in paraphrases])
    extra = {"cpt": {"chunks": len(chunks), "augment": augment, "paraphrases": len(paraphrases)}}

    def build(tok: Any) -> Dataset:
        exs = build_examples(chunks, tok, cfg.max_seq_len, paraphrases)
        train_ex, val_ex = split_examples(exs, [], cfg)
        return Dataset(train_ex, val_ex, sha, [], extra)

    def keep(folder: Path) -> None:
        if paraphrases:
            write_jsonl(folder / PARAPHRASE_FILE, paraphrases)

    return run_recipe(settings, "cpt", name, build, cfg, base=base, overwrite=overwrite, progress=progress,
                      prepare=keep)
