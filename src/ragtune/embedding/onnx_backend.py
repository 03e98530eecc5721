"""ONNX Runtime backends: the same model exported locally (``onnx_export.py``), run by ONNX Runtime.

``onnx`` runs the fused float32 graph: the same vectors as torch (cosine 1.0000 on real texts), at
a fraction of the time on CPU (benchmarks/RESULTS.md). ``onnx-int8`` runs the dynamically
quantised graph: faster again, vectors that differ a little (cosine about 0.99), so a knowledge
base of one cannot take vectors of the other. Both need the ``onnx`` extra
(``pip install 'ragtune[onnx]'``); without it the first use says so in one line.

The model is exported on first use and cached, keyed by its fingerprint; later processes load the
cached file (about a second). Torch is needed only for that export: the tokenizer (for embedding and
for the chunker's counts) is the folder's own Rust tokenizer, so ingest and search import neither
torch nor transformers.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ragtune.embedding.backends import register_backend
from ragtune.embedding.folder import StFolder
from ragtune.embedding.onnx_export import ensure_onnx
from ragtune.embedding.onnx_runner import FastTokenizer, OnnxRunner, require_ort


@register_backend("onnx")
class OnnxBackend:
    """The fused float32 graph in ONNX Runtime."""

    vectors = "float"
    package = "onnxruntime"
    extra = "onnx"
    int8 = False

    def __init__(self, folder: StFolder, fingerprint: str):
        self.folder, self.fingerprint = folder, fingerprint
        self._runner: OnnxRunner | None = None
        self._tokenizer: Any = None
        self.made: dict[str, float] = {}  # what the first use had to export or quantise (empty: cache hit)

    @property
    def runner(self) -> OnnxRunner:
        if self._runner is None:
            require_ort()  # the missing extra is named before any export starts
            path, self.made = ensure_onnx(self.folder, self.fingerprint, self.int8)
            self._runner = OnnxRunner(path, self.folder)
        return self._runner

    @property
    def tokenizer(self) -> Any:
        """The folder's tokenizer for the chunker, without transformers (see ``FastTokenizer``)."""
        if self._tokenizer is None:
            self._tokenizer = FastTokenizer(self.folder)
        return self._tokenizer

    @property
    def dim(self) -> int:
        return self.folder.dim or int(self.runner.run(["x"], threads=1).shape[1])

    def encode(self, texts: list[str], batch_size: int, threads: int) -> np.ndarray:
        """Batches of ``batch_size`` texts of similar length (longest first, as sentence-transformers
        does, so little of each batch is padding), returned in the order given."""
        runner = self.runner
        order = sorted(range(len(texts)), key=lambda i: -len(texts[i]))
        out = np.empty((len(texts), self.dim), np.float32)
        for i in range(0, len(order), batch_size):
            idx = order[i:i + batch_size]
            out[idx] = runner.run([texts[j] for j in idx], threads)
        return out

    def embed_query(self, text: str) -> np.ndarray:
        return self.runner.run([text], threads=1)[0]


@register_backend("onnx-int8")
class OnnxInt8Backend(OnnxBackend):
    """The fused graph with int8 matrix products (dynamic quantisation, per-channel weights)."""

    vectors = "int8"
    int8 = True
