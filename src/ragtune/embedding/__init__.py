"""The embedder: a sentence-transformers model, run by one of several backends, loaded lazily and
cached per process.

``embedding.backend`` picks the backend by name (``embedding/backends.py`` has the table):
``torch`` (sentence-transformers in float32, the reference), ``torch-bf16`` (bfloat16 autocast),
``onnx`` (ONNX Runtime, the fused float32 graph, exported locally on first use) and ``onnx-int8``
(the same graph quantised to int8). ``auto`` picks the fastest one that keeps retrieval quality and
whose package is installed. Every backend gives L2-normalised float32 vectors.

The model's size facts (vector size, token budget) come from its folder's JSON files, so asking
for them loads nothing.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

import numpy as np

from ragtune.embedding import onnx_backend, torch_backend
from ragtune.embedding.backends import (
    AUTO,
    BACKENDS,
    DEFAULT,
    MIX_COSINE,
    backend_class,
    fastest_mixing,
    mixable,
    resolve_backend,
)
from ragtune.embedding.folder import StFolder, read_folder
from ragtune.errors import ModelNotFoundError
from ragtune.registry import ModelSpec

__all__ = ["AUTO", "BACKENDS", "DEFAULT", "MIX_COSINE", "Embedder", "StFolder", "backend_class", "fastest_mixing",
           "get_embedder", "mixable",
           "onnx_backend", "read_folder", "resolve_backend", "torch_backend"]


class Embedder:
    """Encodes texts to L2-normalised float32 vectors with the backend named ``backend``."""

    def __init__(self, spec: ModelSpec, backend: str = "torch"):
        if spec.kind != "sentence-transformers":
            raise ModelNotFoundError(
                f"embedder {spec.name!r} is a {spec.kind} model; use a sentence-transformers folder such as minilm-l6"
            )
        self.spec = spec
        self.backend_name = resolve_backend(backend)
        self.folder = read_folder(spec.local_path)
        self.backend = backend_class(self.backend_name)(self.folder, spec.fingerprint())

    @property
    def model(self) -> Any:
        """The loaded model (loading it now): the SentenceTransformer, or the ONNX runner."""
        b = self.backend
        return b.model if hasattr(b, "model") else b.runner

    @property
    def tokenizer(self) -> Any:
        return self.backend.tokenizer

    @property
    def max_seq_length(self) -> int:
        return self.folder.max_seq_length

    @property
    def dim(self) -> int:
        return self.folder.dim or self.backend.dim

    def encode(self, texts: list[str], batch_size: int = 64, threads: int = 0) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        return np.asarray(self.backend.encode(list(texts), batch_size, threads), dtype=np.float32)

    def embed_query(self, text: str) -> np.ndarray:
        """One text on one thread; the same vector as ``encode([text])[0]`` (to float rounding)."""
        return np.asarray(self.backend.embed_query(text), dtype=np.float32)


@lru_cache(maxsize=8)
def _cached(spec: ModelSpec, backend: str) -> Embedder:
    return Embedder(spec, backend)


def get_embedder(spec: ModelSpec, backend: str = "auto") -> Embedder:
    """The process-wide embedder of ``spec`` run by ``backend`` (``auto``: the default backend)."""
    return _cached(spec, resolve_backend(backend))
