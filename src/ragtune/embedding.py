"""The embedder: a sentence-transformers model, loaded lazily and cached per process.

Queries are embedded one at a time on a single torch thread (on a loaded 2-core machine,
two threads made a 15 ms query embedding take 490 ms); batches use every core.
"""

from __future__ import annotations

from functools import lru_cache
from typing import TYPE_CHECKING

import numpy as np

from ragtune.errors import ModelNotFoundError
from ragtune.registry import ModelSpec
from ragtune.threads import torch_threads

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer


class Embedder:
    """Encodes texts to L2-normalised float32 vectors."""

    def __init__(self, spec: ModelSpec):
        if spec.kind != "sentence-transformers":
            raise ModelNotFoundError(
                f"embedder {spec.name!r} is a {spec.kind} model; use a sentence-transformers folder such as minilm-l6"
            )
        self.spec = spec
        self._model: SentenceTransformer | None = None

    @property
    def model(self) -> SentenceTransformer:
        if self._model is None:
            from sentence_transformers import SentenceTransformer
            from transformers.utils import logging as hf_logging

            hf_logging.disable_progress_bar()

            self._model = SentenceTransformer(self.spec.path, device="cpu", local_files_only=True)
            self._model.eval()
        return self._model

    @property
    def tokenizer(self):
        return self.model.tokenizer

    @property
    def max_seq_length(self) -> int:
        return int(self.model.max_seq_length or 256)

    @property
    def dim(self) -> int:
        fn = getattr(self.model, "get_embedding_dimension", None) or self.model.get_sentence_embedding_dimension
        return int(fn())

    def encode(self, texts: list[str], batch_size: int = 64, threads: int = 0) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        import torch

        with torch_threads(threads), torch.inference_mode():
            vecs = self.model.encode(
                texts, batch_size=batch_size, normalize_embeddings=True, convert_to_numpy=True,
                show_progress_bar=False,
            )
        return np.asarray(vecs, dtype=np.float32)

    def embed_query(self, text: str) -> np.ndarray:
        """One text on one thread, through the model's own modules but without ``encode``'s
        per-call set-up (batching, sorting, prompt and device handling: about a tenth of a
        query's time). Gives the same vector as ``encode([text])[0]``."""
        import torch

        m = self.model
        prep = getattr(m, "preprocess", None)
        if prep is None or getattr(m, "default_prompt_name", None):  # other versions, prompted models
            return self.encode([text], batch_size=1, threads=1)[0]
        with torch_threads(1), torch.inference_mode():
            out = m(prep([text]))["sentence_embedding"].float()
            out = torch.nn.functional.normalize(out, p=2, dim=1)
        return out[0].numpy().astype(np.float32, copy=True)


@lru_cache(maxsize=4)
def get_embedder(spec: ModelSpec) -> Embedder:
    return Embedder(spec)
