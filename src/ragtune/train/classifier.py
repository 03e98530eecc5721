"""A trained classifier, loaded from its folder for inference: ``labels`` in, probabilities out.

The folder holds ``labels.json`` (the label set, the method and what its head needs), written
last by ``train_classifier`` (:mod:`ragtune.train.classify`), and the head's weights::

    clf = Classifier.load("models/sentiment")
    clf.predict(["I love this phone"])          # -> ["positive"]
    clf.predict_proba(["I love this phone"])    # -> array of shape (1, 3), columns = clf.labels
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ragtune.errors import DataError, ModelNotFoundError
from ragtune.train.classifier_heads import load_embedder_head, load_llm_head

LABELS_FILE = "labels.json"


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
            fn = load_embedder_head(folder, info, settings)
        elif info.get("method") == "llm":
            fn = load_llm_head(folder, info, settings)
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
