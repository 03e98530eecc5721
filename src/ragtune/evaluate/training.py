"""The fine-tuned contenders of a comparison, built from the train package's parts.

``ft`` puts the knowledge in the weights: LoRA on the documents' text (continued
pre-training) together with the training questions in the very chat format the ``ft`` mode
is asked in. ``raft`` (Zhang et al. 2024) trains on the RAG prompt itself: each training
question with its source passage and distractors retrieved from the same knowledge base,
the source left out for a share of the examples, the answer citing the source.
Both are exported as GGUF adapters, so every mode answers with the same llama.cpp engine.
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ragtune.config import Settings
from ragtune.registry import ModelSpec, resolve
from ragtune.train.data import Example


@dataclass
class Trained:
    name: str
    seconds: float  # training + export wall time
    adapter_bytes: int
    gguf_bytes: int
    metrics: dict[str, Any]


def chat_example(tok: Any, messages: list[dict[str, str]], max_len: int, where: str = "") -> Example:
    """Tokenise a conversation; the loss is on the assistant replies only."""
    from ragtune.train.model_io import chat_segments

    ids: list[int] = []
    labels: list[int] = []
    for text, trained in chat_segments(tok, messages):
        piece = tok(text, add_special_tokens=False)["input_ids"]
        ids += piece
        labels += piece if trained else [-100] * len(piece)
    return Example(ids[:max_len], labels[:max_len], where)


def text_examples(tok: Any, texts: list[str], max_len: int) -> list[Example]:
    """Plain documents as language-model blocks (continued pre-training), loss on every token."""
    out = []
    eos = [tok.eos_token_id] if tok.eos_token_id is not None else []
    for i, t in enumerate(texts):
        ids = tok(t, add_special_tokens=False)["input_ids"] + eos
        for j in range(0, len(ids), max_len):
            block = ids[j:j + max_len]
            if len(block) > 8:
                out.append(Example(block, list(block), f"doc{i}:{j}"))
    return out


def train_adapter(settings: Settings, name: str, examples: list[Example], train_cfg: Any, seed: int,
                  show_progress: bool | None = None, recipe: str = "compare") -> Trained:
    """LoRA-train the configured generator on ``examples``, save it as a named model, export GGUF."""
    from ragtune.runlog import RunLog
    from ragtune.train.artifacts import begin_model, dir_size, finish_model, record_export, save_weights
    from ragtune.train.config import TrainConfig
    from ragtune.train.export import export_gguf_adapter
    from ragtune.train.loop import prepare_model, train_loop
    from ragtune.train.model_io import load_causal_lm

    spec: ModelSpec = resolve(settings.models.generator, settings)
    t0 = time.perf_counter()
    cfg = TrainConfig(epochs=train_cfg.epochs, max_steps=train_cfg.max_steps, lr=train_cfg.lr,
                      batch_size=train_cfg.batch_size, grad_accum=train_cfg.grad_accum, lora_r=train_cfg.lora_r,
                      lora_alpha=train_cfg.lora_alpha, max_seq_len=train_cfg.max_seq_len,
                      warmup_steps=train_cfg.warmup_steps, precision=train_cfg.precision, seed=seed,
                      val_fraction=0.0)
    random.Random(seed).shuffle(examples)
    folder = begin_model(settings, name, overwrite=True)
    model, tok = load_causal_lm(spec)
    model = prepare_model(model, cfg)
    with RunLog(settings.data_dir).run("train", {"recipe": recipe, "name": name, **cfg.model_dump()},
                                       name=name) as run:
        result = train_loop(model, examples, [], cfg, folder, pad_id=tok.pad_token_id or 0, run=run,
                            progress=show_progress)
        run.update(result.metrics())
    save_weights(model, tok, folder, full=False)
    finish_model(settings, name, recipe=recipe, task="generate", weights="lora", base_spec=spec,
                 metrics=result.metrics(), config=cfg.model_dump())
    gguf = export_gguf_adapter(folder / "adapter", spec, folder / "exports" / "adapter.gguf")
    record_export(settings, name, "gguf-adapter", gguf)
    return Trained(name, time.perf_counter() - t0, dir_size(folder / "adapter"), Path(gguf).stat().st_size,
                   result.metrics())
