"""What every recipe does around its training: name check, base model, run log, artefact.

A generative recipe only has to say how to turn its data into ``Example``s (``build``);
``run_recipe`` loads the base model, applies LoRA or full fine-tuning, runs ``train_loop``
inside a run-log entry, and saves the named model. Under ``accelerate launch`` every process
runs it; only the main process touches the model folder and the run log. ``run_classifier``
does the same around the classify recipe, and ``export_for_llamacpp`` is the GGUF export that
follows a LoRA run. ``ragtune train`` and ``ragtune compare`` both go through these functions,
so a contender of a comparison is exactly the model the command would train.

The examples a run trained on are fingerprinted (``examples_sha256``: their token ids and loss
masks), so two runs can be shown to have seen the same data token for token.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Sequence
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ragtune.registry import resolve
from ragtune.runlog import RunLog
from ragtune.train.artifacts import ModelInfo, begin_model, export_model, finish_model, model_dir, save_weights
from ragtune.train.classify import train_classifier
from ragtune.train.config import TrainConfig
from ragtune.train.data import Example, check_lengths, load_labeled, sha256_files, split_train_val
from ragtune.train.loop import TrainResult, prepare_model, train_loop
from ragtune.train.model_io import load_causal_lm


@dataclass
class Dataset:
    """What a recipe hands the runner: examples, the data's identity, and anything worth recording."""

    train: list[Example]
    val: list[Example] = field(default_factory=list)
    data_sha256: str = ""
    data_files: list[str] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass
class Outcome:
    info: ModelInfo | None  # None on the non-main processes of a multi-process run
    result: TrainResult


def split_examples(examples: list[Example], val: list[Example] | None, cfg: TrainConfig
                   ) -> tuple[list[Example], list[Example]]:
    """Use the given validation set, else a seeded share of the examples."""
    if val:
        return examples, val
    return split_train_val(examples, cfg.val_fraction, cfg.seed)


def examples_sha256(train: Sequence[Example], val: Sequence[Example] = ()) -> str:
    """One SHA-256 over the token ids and labels of the training, then the validation examples."""
    h = hashlib.sha256()
    for part in (train, val):
        for ex in part:
            h.update(json.dumps([ex.input_ids, ex.labels]).encode("ascii"))
        h.update(b"|")
    return h.hexdigest()


def _state():
    import torch
    from accelerate import PartialState

    return PartialState(cpu=not torch.cuda.is_available())


def run_recipe(
    settings: Any,
    recipe: str,
    name: str,
    build: Callable[[Any], Dataset],
    cfg: TrainConfig,
    *,
    base: str | None = None,
    overwrite: bool = False,
    progress: bool | None = None,
    prepare: Callable[[Any], None] | None = None,
) -> Outcome:
    """Train ``name`` with ``recipe``; ``build(tokenizer) -> Dataset`` makes the examples.

    ``prepare(folder)``, if given, runs on the main process after the name check and before the
    model loads (a recipe that generates data writes it into the model folder there).
    """
    state = _state()
    spec = resolve(base or settings.models.generator, settings)
    if state.is_main_process:
        folder = begin_model(settings, name, overwrite=overwrite, resume=cfg.resume)
        if prepare is not None:
            prepare(folder)
    state.wait_for_everyone()
    folder = model_dir(settings, name)

    model, tok = load_causal_lm(spec)
    data = build(tok)
    context = int(getattr(model.config, "max_position_embeddings", 0) or 0) or None
    train = check_lengths(data.train, cfg.max_seq_len, context, cfg.skip_long)
    val = check_lengths(data.val, cfg.max_seq_len, context, cfg.skip_long) if data.val else []
    extra = {**data.extra, "examples_sha256": examples_sha256(train, val)}
    config = {"recipe": recipe, "name": name, "base": spec.name, "train": cfg.model_dump(),
              "n_train": len(train), "n_val": len(val), "data_sha256": data.data_sha256, **extra}
    main = state.is_main_process
    log = RunLog(settings.data_dir).run("train", config, name=name) if main else nullcontext()
    with log as run:
        model = prepare_model(model, cfg)
        result = train_loop(model, train, val, cfg, folder, pad_id=int(tok.pad_token_id), run=run,
                            progress=progress)
        info = None
        if state.is_main_process:
            save_weights(model, tok, folder, cfg.full)
            metrics = {**result.metrics(), "n_train": len(train), "n_val": len(val)}
            info = finish_model(
                settings, name, recipe=recipe, task="generate", weights="full" if cfg.full else "lora",
                base_spec=spec, metrics=metrics, config=cfg.model_dump(), data_sha256=data.data_sha256,
                data_files=data.data_files, extra=extra,
            )
            run.update({"model": name, "path": info.path, **metrics})
    state.wait_for_everyone()
    return Outcome(info, result)


def export_for_llamacpp(settings: Any, outcome: Outcome) -> Outcome:
    """Export a LoRA model on a GGUF base as a GGUF adapter, so llama.cpp answers with it."""
    info = outcome.info
    if info is not None and info.weights == "lora" and info.base_model["kind"] == "gguf":
        outcome.info = export_model(settings, info.name, gguf=True)
    return outcome


def run_classifier(settings: Any, name: str, data: Sequence[str | Path], val_data: Sequence[str | Path],
                   method: str, cfg: TrainConfig, *, text_field: str = "text", label_field: str = "label",
                   base: str | None = None, overwrite: bool = False, progress: bool | None = None) -> ModelInfo:
    """Train a classifier (``train.classify``) into the named model folder and record it like every model.

    Validation comes from ``val_data``, else a seeded ``cfg.val_fraction`` share of ``data``.
    """
    rows = load_labeled([str(p) for p in data], text_field, label_field)
    val = load_labeled([str(p) for p in val_data], text_field, label_field) if val_data else []
    if not val:
        rows, val = split_train_val(rows, cfg.val_fraction, cfg.seed)
    folder = begin_model(settings, name, overwrite=overwrite, resume=cfg.resume)
    base_spec = resolve(base or settings.models.generator, settings)
    embedder = resolve(settings.models.embedder, settings)
    files = [str(p) for p in [*data, *val_data]]
    config = {"recipe": "classify", "name": name, "method": method, "train": cfg.model_dump()}
    with RunLog(settings.data_dir).run("train", config, name=name) as run:
        metrics = train_classifier(rows, val, folder, method, base=base_spec.name, embedder=embedder.name, cfg=cfg,
                                   settings=settings, run=run, progress=progress)
        return finish_model(
            settings, name, recipe="classify", task="classify",
            weights="embedder-head" if method == "embedder" else ("full" if cfg.full else "lora"),
            base_spec=embedder if method == "embedder" else base_spec, metrics=metrics, config=cfg.model_dump(),
            data_sha256=sha256_files(files), data_files=files, labels=list(metrics.get("labels") or []),
            extra={"method": method},
        )
