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

The heads are trained and loaded in :mod:`ragtune.train.classifier_heads`; inference is
:class:`Classifier` (:mod:`ragtune.train.classifier`).
"""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np

from ragtune.errors import DataError, TrainingError
from ragtune.files import atomic_write_text
from ragtune.scoring import per_class_f1
from ragtune.train.classifier import LABELS_FILE, Classifier
from ragtune.train.classifier_heads import train_embedder_head, train_llm_head
from ragtune.train.data import LabeledText

__all__ = ["LABELS_FILE", "METRICS_FILE", "Classifier", "class_weights", "classification_metrics", "label_set",
           "normalise_rows", "train_classifier"]

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
    """Accuracy, macro-F1 and per-class F1 (macro-F1 is the fair number when classes are imbalanced).

    ``y_true``/``y_pred`` are indices into ``labels``; the F1 scores are those of
    :mod:`ragtune.scoring`, the same the comparison report shows, and 0.0 with no rows.
    """
    yt, yp = np.asarray(y_true), np.asarray(y_pred)
    by_id = per_class_f1(yt.tolist(), yp.tolist(), range(len(labels))) if len(yt) else {}
    f1s = {lab: by_id.get(i, 0.0) for i, lab in enumerate(labels)}
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
        meta, extra = train_embedder_head(train, val, labels, weights, out, embedder, settings, run,
                                      head_steps, head_lr, head_l2)
    else:
        meta, extra = train_llm_head(train, val, labels, weights, out, base, settings, cfg, run, progress)
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


def _write_json(path: Path, obj: Any) -> None:
    atomic_write_text(path, json.dumps(obj, indent=2, ensure_ascii=False, default=str) + "\n")
