"""Supervised fine-tuning on question/answer or chat data, with the loss on the answers only.

Each example is rendered with the model's own chat template, exactly as ``ragtune ask --mode ft``
will prompt it: question/answer rows go through the closed-book prompt (``[prompts] base_system``
and ``base_template``), prompt/completion rows are one user turn, chat rows are used as they are.
The tokens of everything but the assistant replies get the label -100, so the model is not
trained to predict the questions (which would waste capacity and teach it to ask, not answer)::

    <|im_start|>system ... <|im_start|>user Question: Who? <|im_start|>assistant\\n  Ada.<|im_end|>\\n
    -100 -100 ...                                                      -100         Ada . <|im_end|> \\n

With ``chunks`` (``--kb KB`` or ``--corpus PATH``) the documents' text is mixed in as plain
continued-pre-training blocks (``cpt.build_examples``, loss on every token): knowledge in the
weights and the question format in one adapter, the ``ft`` contender of ``ragtune compare``.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ragtune.config import PromptSettings
from ragtune.generate.prompts import base_messages
from ragtune.train import cpt
from ragtune.train.config import TrainConfig
from ragtune.train.data import Example, QAItem, load_qa, sha256_files, sha256_texts
from ragtune.train.model_io import chat_segments
from ragtune.train.runner import Dataset, Outcome, run_recipe, split_examples
from ragtune.types import Chunk


def item_messages(item: QAItem, prompts: PromptSettings | None = None) -> list[dict[str, str]]:
    """The chat an item becomes: the same prompt the fine-tuned model will be asked with."""
    if item.kind == "chat":
        return list(item.messages or [])
    if item.kind == "prompt":
        return [{"role": "user", "content": item.question}, {"role": "assistant", "content": item.answer}]
    msgs = base_messages(item.question, prompts or PromptSettings())
    return msgs + [{"role": "assistant", "content": item.answer}]


def tokenize_chat(tokenizer: Any, messages: list[dict[str, str]], where: str = "") -> Example:
    """Tokens of the rendered chat, with labels only on the assistant replies.

    Each piece is tokenised on its own, as the prompt is at inference, so the boundary between
    prompt and answer is exact (no token straddles it).
    """
    ids: list[int] = []
    labels: list[int] = []
    for text, trained in chat_segments(tokenizer, messages):
        piece = tokenizer(text, add_special_tokens=False)["input_ids"]
        ids += piece
        labels += piece if trained else [-100] * len(piece)
    return Example(ids, labels, where)


def build_examples(items: Sequence[QAItem], tokenizer: Any, prompts: PromptSettings | None = None
                   ) -> list[Example]:
    return [tokenize_chat(tokenizer, item_messages(i, prompts), i.where) for i in items]


def train(
    settings: Any,
    data: Sequence[str | Path],
    name: str,
    cfg: TrainConfig,
    *,
    val_data: Sequence[str | Path] | None = None,
    base: str | None = None,
    overwrite: bool = False,
    progress: bool | None = None,
    recipe: str = "sft",
    extra: dict[str, Any] | None = None,
    chunks: Sequence[Chunk] | None = None,
) -> Outcome:
    """Fine-tune on QA/chat JSONL files (+ the text of ``chunks``); validation from ``val_data`` or a
    seeded split."""
    items = load_qa(list(data))  # validate before anything slow happens
    val_items = load_qa(list(val_data)) if val_data else []
    files = [*data, *(val_data or [])]
    docs = list(chunks or [])
    sha = sha256_files(files) if not docs else sha256_texts([sha256_files(files), *(c.text for c in docs)])
    extra = {**(extra or {}), **({"docs": {"chunks": len(docs)}} if docs else {})}

    def build(tok: Any) -> Dataset:
        exs = build_examples(items, tok, settings.prompts) + cpt.build_examples(docs, tok, cfg.max_seq_len)
        val = build_examples(val_items, tok, settings.prompts)
        train_ex, val_ex = split_examples(exs, val, cfg)
        return Dataset(train_ex, val_ex, sha, [str(f) for f in files], extra)

    return run_recipe(settings, recipe, name, build, cfg, base=base, overwrite=overwrite, progress=progress)
