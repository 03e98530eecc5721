"""The two classifier heads, each trained and loaded here; ``classify.py`` is the recipe around them.

- ``embedder``: a linear (multinomial logistic regression) head on frozen sentence embeddings,
  trained full batch in torch, saved as ``head.safetensors``;
- ``llm``: the causal LM's body with a fresh ``score`` layer (``AutoModelForSequenceClassification``),
  trained through the shared loop with LoRA (the head fully trainable) or in full.

A ``train_*_head`` returns ``(meta, extra)``: what ``labels.json`` must record to load the head
again, and the training numbers. A ``load_*_head`` returns ``logits(texts) -> array (n, k)``.

torch, transformers and safetensors (core dependencies) and the training loop are imported inside
the functions, as they take seconds to import; peft comes with the ``train`` extra: pip install 'ragtune[train]'.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from ragtune.embedding import get_embedder
from ragtune.errors import ModelNotFoundError
from ragtune.modeling import hf_model_dir, load_tokenizer, quiet_transformers
from ragtune.registry import ModelSpec, resolve
from ragtune.train.config import TrainConfig
from ragtune.train.data import Example, LabeledText, check_lengths

Logits = Callable[[list[str]], np.ndarray]


# --------------------------------------------------------------------------- embedder method
def _embed(embedder: str, texts: list[str], settings: Any) -> np.ndarray:
    return get_embedder(resolve(embedder, settings)).encode(texts)


def train_embedder_head(train, val, labels, weights, out, embedder, settings, run, steps, lr, l2):
    """Multinomial logistic regression on frozen sentence embeddings, full batch, weighted CE."""
    import torch
    import torch.nn.functional as F
    from safetensors.torch import save_file

    torch.manual_seed(0)
    x = torch.from_numpy(_embed(embedder, [r.text for r in train], settings))
    y = torch.tensor([labels.index(r.label) for r in train])
    xv = torch.from_numpy(_embed(embedder, [r.text for r in val], settings)) if val else None
    yv = torch.tensor([labels.index(r.label) for r in val]) if val else None
    w = torch.tensor(weights, dtype=torch.float32)
    head = torch.nn.Linear(x.shape[1], len(labels))
    opt = torch.optim.Adam(head.parameters(), lr=lr)
    best = (math.inf, None, 0)
    first = last = None
    for step in range(1, steps + 1):
        loss = F.cross_entropy(head(x), y, weight=w) + l2 * head.weight.pow(2).sum()
        opt.zero_grad()
        loss.backward()
        opt.step()
        last = float(loss.detach())
        first = last if first is None else first
        if run is not None and step % 10 == 0:
            run.metric("train_loss", last, step)
        if xv is not None and (step % 10 == 0 or step == steps):
            with torch.no_grad():
                vl = float(F.cross_entropy(head(xv), yv, weight=w))
            if run is not None:
                run.metric("val_loss", vl, step)
            if vl < best[0]:
                best = (vl, {k: v.detach().clone() for k, v in head.state_dict().items()}, step)
    state = best[1] if best[1] is not None else head.state_dict()
    save_file({k: v.contiguous() for k, v in state.items()}, str(out / "head.safetensors"))
    spec = resolve(embedder, settings)
    meta = {"embedder": spec.name, "embedder_path": spec.path, "dim": int(x.shape[1])}
    extra = {"first_loss": first, "final_loss": last, "best_step": best[2] or steps,
             "best_val_loss": best[0] if math.isfinite(best[0]) else None}
    return meta, extra


def load_embedder_head(folder: Path, info: dict[str, Any], settings: Any) -> Logits:
    import torch
    from safetensors.torch import load_file

    state = load_file(str(folder / "head.safetensors"))
    weight, bias = state["weight"], state["bias"]
    spec = _stored_spec(info["embedder"], "sentence-transformers", info.get("embedder_path"), settings)
    emb = get_embedder(spec)

    def logits(texts: list[str]) -> np.ndarray:
        with torch.inference_mode():
            x = torch.from_numpy(emb.encode(texts, threads=1))
            return (x @ weight.T + bias).numpy()

    return logits


# --------------------------------------------------------------------------- llm method
def _seq_cls_model(base_spec: Any, labels: list[str], pad_id: int):
    """The causal LM's body with a fresh ``score`` head (``AutoModelForSequenceClassification``)."""
    import torch
    from transformers import AutoModelForSequenceClassification
    from transformers.utils import logging as hf_logging

    quiet_transformers()
    folder = hf_model_dir(base_spec)
    level = hf_logging.get_verbosity()
    hf_logging.set_verbosity_error()  # the "score.weight MISSING" load report is expected: the head is new
    try:
        model = AutoModelForSequenceClassification.from_pretrained(
            folder, num_labels=len(labels), id2label=dict(enumerate(labels)),
            label2id={lab: i for i, lab in enumerate(labels)}, pad_token_id=pad_id, dtype=torch.float32,
        )
    except (OSError, ValueError) as e:
        raise ModelNotFoundError(f"cannot build a classifier on {base_spec.name!r} from {folder}: {e}") from e
    finally:
        hf_logging.set_verbosity(level)
    model.config.pad_token_id = pad_id
    return model


def _cls_collate(examples: list[Example], pad_id: int):
    import torch

    width = max(len(e) for e in examples)
    ids = torch.full((len(examples), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(examples), width), dtype=torch.long)
    for i, e in enumerate(examples):
        ids[i, : len(e)] = torch.tensor(e.input_ids)
        mask[i, : len(e)] = 1
    labels = torch.tensor([e.labels[0] for e in examples], dtype=torch.long)
    return {"input_ids": ids, "attention_mask": mask, "labels": labels}


def train_llm_head(train, val, labels, weights, out, base, settings, cfg, run, progress):
    import torch
    import torch.nn.functional as F

    from ragtune.train.loop import prepare_model, train_loop  # lazy: torch (ragtune[train])

    cfg = cfg or TrainConfig(lr=1e-3, batch_size=8, epochs=1, max_seq_len=256)
    spec = resolve(base, settings)
    tok = load_tokenizer(spec)
    pad_id = int(tok.pad_token_id)

    def examples(rows: list[LabeledText]) -> list[Example]:
        exs = [Example(tok(r.text, add_special_tokens=False)["input_ids"], [labels.index(r.label)], r.where)
               for r in rows]
        return check_lengths(exs, cfg.max_seq_len, skip_long=cfg.skip_long) if exs else []

    train_ex, val_ex = examples(train), examples(val)
    torch.manual_seed(cfg.seed)  # the score head is initialised at random
    model = _seq_cls_model(spec, labels, pad_id)
    model = prepare_model(model, cfg, task_type="SEQ_CLS", modules_to_save=None if cfg.full else ["score"])
    w = torch.tensor(weights, dtype=torch.float32)

    def loss_fn(m, batch):
        logits = m(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits
        y = batch["labels"]
        loss = F.cross_entropy(logits.float(), y, weight=w.to(logits.device), reduction="none").sum()
        return loss, torch.tensor(len(y), device=logits.device)

    result = train_loop(
        model, train_ex, val_ex, cfg, out, pad_id=pad_id, run=run, loss_fn=loss_fn,
        collate=lambda exs: _cls_collate(exs, pad_id), count_fn=lambda b: int(b["labels"].numel()),
        progress=progress,
    )
    if cfg.full:
        model.save_pretrained(str(out / "model"), safe_serialization=True)
    else:
        model.save_pretrained(str(out / "adapter"))
    tok.save_pretrained(str(out / "tokenizer"))
    meta = {"base": spec.name, "base_path": spec.path, "base_kind": spec.kind, "pad_token_id": pad_id,
            "full": bool(cfg.full), "max_seq_len": cfg.max_seq_len, "train_config": cfg.model_dump()}
    return meta, result.metrics()


def load_llm_head(folder: Path, info: dict[str, Any], settings: Any) -> Logits:
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(str(folder / "tokenizer"))
    pad_id = int(info["pad_token_id"])
    if info.get("full"):
        model = AutoModelForSequenceClassification.from_pretrained(str(folder / "model"), dtype=torch.float32)
    else:
        from peft import PeftModel  # the train extra: pip install 'ragtune[train]'

        spec = _stored_spec(info["base"], info["base_kind"], info.get("base_path"), settings)
        body = _seq_cls_model(spec, info["labels"], pad_id)
        model = PeftModel.from_pretrained(body, str(folder / "adapter"))
    model.eval()
    max_len = int(info.get("max_seq_len", 512))

    def logits(texts: list[str]) -> np.ndarray:
        enc = [tok(t, add_special_tokens=False)["input_ids"][:max_len] for t in texts]
        exs = [Example(ids, [0]) for ids in enc]
        batch = _cls_collate(exs, pad_id)
        with torch.inference_mode():
            out = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits
        return out.float().numpy()

    return logits

# --------------------------------------------------------------------------- helpers
def _stored_spec(name: str, kind: str, path: str | None, settings: Any):
    """The model a classifier was trained on: its recorded path if still there, else its name."""
    if path and Path(path).exists():
        return ModelSpec(name, kind, path)
    return resolve(name, settings)
