"""Text classification (sentiment is the shipped example), two ways:

- ``llm``: a classification head on the language model (``LlamaForSequenceClassification``:
  the causal LM's weights, a new ``score`` layer reading the last non-pad token), trained with
  LoRA on the body and the head fully trainable (PEFT ``modules_to_save``), through the shared
  training loop (bf16 autocast, accumulation, early stopping, checkpoints, ``--resume``);
- ``embedder``: the bundled MiniLM sentence embeddings and a linear (multinomial logistic
  regression) head trained in torch: seconds instead of minutes, and often as good on short texts.

Both use class weights (inverse frequency, ``n / (k * n_c)``) in the cross-entropy, so a rare
class is not ignored. The label set is stored with the model in ``labels.json``::

    metrics = train_classifier(train_rows, val_rows, "models/sentiment", method="embedder")
    clf = Classifier.load("models/sentiment")
    clf.predict(["I love this phone"])          # -> ["positive"]
    clf.predict_proba(["I love this phone"])    # -> array of shape (1, 3), columns = clf.labels
"""

from __future__ import annotations

import json
import math
import time
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np

from ragtune.errors import DataError, ModelNotFoundError, TrainingError
from ragtune.files import atomic_write_text
from ragtune.train.data import Example, LabeledText, check_lengths

LABELS_FILE = "labels.json"
METRICS_FILE = "metrics.json"
FORMAT_VERSION = 1
Method = Literal["llm", "embedder"]
Row = LabeledText | dict[str, Any] | tuple[str, str]


# --------------------------------------------------------------------------- data
def normalise_rows(rows: Sequence[Row], source: str) -> list[LabeledText]:
    """Accept ``LabeledText``, ``{"text", "label"}`` dicts or ``(text, label)`` pairs; reject empty text.

    Rows read from a file keep their ``path:line``; others are named ``source:N`` (1-based).
    """
    out = []
    for i, row in enumerate(rows, start=1):
        if isinstance(row, LabeledText):
            where, text, label = row.where, row.text, row.label
        elif isinstance(row, dict):
            where = str(row.get("where") or f"{source}:{i}")
            text, label = row.get("text"), row.get("label")
        elif isinstance(row, tuple | list) and len(row) == 2:
            where, (text, label) = f"{source}:{i}", row
        else:
            raise DataError(f"{source}:{i}: expected a text/label row, got {type(row).__name__}")
        if not isinstance(text, str) or not text.strip():
            raise DataError(f"{where}: the text is empty; every row needs a non-empty 'text'")
        if label is None or not str(label).strip():
            raise DataError(f"{where}: the label is empty; every row needs a 'label'")
        out.append(LabeledText(where, text.strip(), str(label).strip()))
    return out


def label_set(train: Sequence[LabeledText], val: Sequence[LabeledText] = ()) -> list[str]:
    """The sorted labels of the training rows; at least two, and validation may not add new ones."""
    if not train:
        raise DataError("no training rows; a classifier needs labelled examples")
    labels = sorted({r.label for r in train})
    if len(labels) < 2:
        src = train[0].where.rsplit(":", 1)[0]
        raise DataError(f"{src}: every row has the label {labels[0]!r}; it needs two classes or more")
    known = set(labels)
    for r in val:
        if r.label not in known:
            raise DataError(f"{r.where}: label {r.label!r} is not in the training data ({', '.join(labels)})")
    return labels


def class_weights(labels: Sequence[str], label_list: Sequence[str]) -> list[float]:
    """Inverse-frequency weights ``n / (k * n_c)``: 1.0 for every class when the data is balanced.

    The same rule as scikit-learn's ``class_weight="balanced"``; averaged over the training rows
    the weight is exactly 1, so the loss keeps its scale.
    """
    counts = Counter(labels)
    n, k = len(labels), len(label_list)
    missing = [lab for lab in label_list if counts[lab] == 0]
    if missing:
        raise DataError(f"labels {missing} have no training rows; drop them or add examples")
    return [n / (k * counts[lab]) for lab in label_list]


def classification_metrics(
    y_true: Sequence[int], y_pred: Sequence[int], labels: Sequence[str]
) -> dict[str, Any]:
    """Accuracy, macro-F1 and per-class F1 (macro-F1 is the fair number when classes are imbalanced)."""
    yt, yp = np.asarray(y_true), np.asarray(y_pred)
    f1s = {}
    for i, lab in enumerate(labels):
        tp = int(((yp == i) & (yt == i)).sum())
        fp = int(((yp == i) & (yt != i)).sum())
        fn = int(((yp != i) & (yt == i)).sum())
        f1s[lab] = 2 * tp / (2 * tp + fp + fn) if tp else 0.0
    return {
        "accuracy": float((yt == yp).mean()) if len(yt) else 0.0,
        "macro_f1": float(np.mean(list(f1s.values()))) if len(yt) else 0.0,
        "f1": f1s,
        "n": int(len(yt)),
    }


# --------------------------------------------------------------------------- public API
def train_classifier(
    train_rows: Sequence[Row],
    val_rows: Sequence[Row],
    out_dir: str | Path,
    method: Method = "llm",
    *,
    base: str = "smollm2-135m-instruct",
    embedder: str = "minilm-l6",
    cfg: Any = None,
    settings: Any = None,
    run: Any = None,
    head_steps: int = 400,
    head_lr: float = 0.05,
    head_l2: float = 1e-3,
    progress: bool | None = None,
) -> dict[str, Any]:
    """Train a classifier and save it in ``out_dir``; returns its metrics on ``val_rows``.

    ``cfg`` is a ``TrainConfig`` for the ``llm`` method (LoRA rank, lr, epochs, batch size...).
    ``head_steps``/``head_lr``/``head_l2`` drive the ``embedder`` method's full-batch head training (Adam,
    L2 penalty on the weights);
    the step with the lowest validation loss is kept. ``labels.json`` is written last, so a
    folder without it is an unfinished run and ``Classifier.load`` refuses it.
    """
    if method not in ("llm", "embedder"):
        raise TrainingError(f"classification method {method!r} is unknown; use 'llm' or 'embedder'")
    train = normalise_rows(train_rows, "train")
    val = normalise_rows(val_rows, "val")
    labels = label_set(train, val)
    weights = class_weights([r.label for r in train], labels)
    out = Path(out_dir).expanduser()
    out.mkdir(parents=True, exist_ok=True)
    (out / LABELS_FILE).unlink(missing_ok=True)
    t0 = time.perf_counter()
    if method == "embedder":
        meta, extra = _train_embedder(train, val, labels, weights, out, embedder, settings, run,
                                      head_steps, head_lr, head_l2)
    else:
        meta, extra = _train_llm(train, val, labels, weights, out, base, settings, cfg, run, progress)
    seconds = time.perf_counter() - t0
    info = {
        "format": FORMAT_VERSION, "method": method, "labels": labels, "class_weights": weights,
        "class_counts": {lab: c for lab, c in sorted(Counter(r.label for r in train).items())}, **meta,
    }
    _write_json(out / LABELS_FILE, info)
    clf = Classifier.load(out)
    metrics: dict[str, Any] = {"method": method, "labels": labels, "class_weights": weights,
                               "n_train": len(train), "n_val": len(val), "train_seconds": round(seconds, 2),
                               **extra}
    if val:
        pred = clf.predict_ids([r.text for r in val])
        val_m = classification_metrics([labels.index(r.label) for r in val], pred, labels)
        metrics.update({f"val_{k}": v for k, v in val_m.items() if k != "n"})
    _write_json(out / METRICS_FILE, metrics)
    if run is not None:
        run.update({k: v for k, v in metrics.items() if isinstance(v, int | float | str)})
    return metrics


class Classifier:
    """A trained classifier loaded from its folder; ``labels`` are the output columns in order."""

    def __init__(self, folder: Path, info: dict[str, Any], predict_logits: Any):
        self.folder = folder
        self.info = info
        self.labels: list[str] = list(info["labels"])
        self.method: str = info["method"]
        self._logits = predict_logits

    @classmethod
    def load(cls, model_dir: str | Path, settings: Any = None) -> Classifier:
        folder = Path(model_dir).expanduser()
        path = folder / LABELS_FILE
        if not path.exists():
            raise ModelNotFoundError(
                f"{folder} has no {LABELS_FILE}: not a ragtune classifier, or its training did not finish"
            )
        info = json.loads(path.read_text(encoding="utf-8"))
        if info.get("method") == "embedder":
            fn = _load_embedder_head(folder, info, settings)
        elif info.get("method") == "llm":
            fn = _load_llm_head(folder, info, settings)
        else:
            raise ModelNotFoundError(f"{path}: unknown method {info.get('method')!r}")
        return cls(folder, info, fn)

    def predict_proba(self, texts: Sequence[str], batch_size: int = 32) -> np.ndarray:
        """Class probabilities, shape ``(len(texts), len(self.labels))``.

        The ``llm`` method reads at most the training ``max_seq_len`` tokens of each text (training
        refused longer rows; at prediction time a long text is cut rather than refused).
        """
        texts = list(texts)
        for i, t in enumerate(texts, start=1):
            if not isinstance(t, str) or not t.strip():
                raise DataError(f"text {i} is empty; there is nothing to classify")
        if not texts:
            return np.zeros((0, len(self.labels)), dtype=np.float32)
        parts = [self._logits(texts[i:i + batch_size]) for i in range(0, len(texts), batch_size)]
        logits = np.concatenate(parts)
        logits = logits - logits.max(axis=1, keepdims=True)
        p = np.exp(logits)
        return (p / p.sum(axis=1, keepdims=True)).astype(np.float32)

    def predict_ids(self, texts: Sequence[str]) -> list[int]:
        return [int(i) for i in self.predict_proba(texts).argmax(axis=1)]

    def predict(self, texts: Sequence[str]) -> list[str]:
        return [self.labels[i] for i in self.predict_ids(texts)]


# --------------------------------------------------------------------------- embedder method
def _embed(embedder: str, texts: list[str], settings: Any) -> np.ndarray:
    from ragtune.embedding import get_embedder
    from ragtune.registry import resolve

    return get_embedder(resolve(embedder, settings)).encode(texts)


def _train_embedder(train, val, labels, weights, out, embedder, settings, run, steps, lr, l2):
    """Multinomial logistic regression on frozen sentence embeddings, full batch, weighted CE."""
    import torch
    import torch.nn.functional as F
    from safetensors.torch import save_file

    from ragtune.registry import resolve

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


def _load_embedder_head(folder: Path, info: dict[str, Any], settings: Any):
    import torch
    from safetensors.torch import load_file

    from ragtune.embedding import get_embedder

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

    from ragtune.train.model_io import _quiet_transformers, hf_model_dir

    _quiet_transformers()
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


def _train_llm(train, val, labels, weights, out, base, settings, cfg, run, progress):
    import torch
    import torch.nn.functional as F

    from ragtune.registry import resolve
    from ragtune.train.config import TrainConfig
    from ragtune.train.loop import prepare_model, train_loop
    from ragtune.train.model_io import load_tokenizer

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


def _load_llm_head(folder: Path, info: dict[str, Any], settings: Any):
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(str(folder / "tokenizer"))
    pad_id = int(info["pad_token_id"])
    if info.get("full"):
        model = AutoModelForSequenceClassification.from_pretrained(str(folder / "model"), dtype=torch.float32)
    else:
        from peft import PeftModel

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
    from ragtune.registry import ModelSpec, resolve

    if path and Path(path).exists():
        return ModelSpec(name, kind, path)
    return resolve(name, settings)


def _write_json(path: Path, obj: Any) -> None:
    atomic_write_text(path, json.dumps(obj, indent=2, ensure_ascii=False, default=str) + "\n")
