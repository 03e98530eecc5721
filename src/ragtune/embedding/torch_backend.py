"""PyTorch backends: the sentence-transformers model itself, in float32 or under bfloat16 autocast.

Queries are embedded one at a time on a single torch thread (on a loaded 2-core machine,
two threads made a 15 ms query embedding take 490 ms); batches use every core.

``torch-bf16`` runs the matrix products in bfloat16 (``torch.autocast``), which Zen 4 and recent
Xeons do natively (AVX512-BF16); the vectors come out float32 and agree with fp32's to a cosine
above 0.999 on real texts, so the two may share a knowledge base.
"""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING, Any

import numpy as np

from ragtune.embedding.backends import register_backend
from ragtune.embedding.folder import StFolder
from ragtune.threads import torch_threads

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer


@register_backend("torch")
class TorchBackend:
    """``SentenceTransformer.encode`` in float32: the reference every other backend is measured against."""

    vectors = "float"
    package = None
    extra = None

    def __init__(self, folder: StFolder, fingerprint: str = ""):
        self.folder = folder
        self._model: SentenceTransformer | None = None

    def _autocast(self) -> contextlib.AbstractContextManager:
        return contextlib.nullcontext()

    @property
    def model(self) -> SentenceTransformer:
        if self._model is None:
            from sentence_transformers import SentenceTransformer
            from transformers.utils import logging as hf_logging

            hf_logging.disable_progress_bar()
            self._model = SentenceTransformer(str(self.folder.path), device="cpu", local_files_only=True)
            self._model.eval()
        return self._model

    @property
    def tokenizer(self) -> Any:
        return self.model.tokenizer

    @property
    def dim(self) -> int:
        fn = getattr(self.model, "get_embedding_dimension", None) or self.model.get_sentence_embedding_dimension
        return int(fn())

    def encode(self, texts: list[str], batch_size: int, threads: int) -> np.ndarray:
        import torch

        with torch_threads(threads), torch.inference_mode(), self._autocast():
            vecs = self.model.encode(texts, batch_size=batch_size, normalize_embeddings=True,
                                     convert_to_numpy=False, convert_to_tensor=True, show_progress_bar=False)
            vecs = torch.nn.functional.normalize(vecs.float(), p=2, dim=1)
        return vecs.numpy().astype(np.float32, copy=False)

    def embed_query(self, text: str) -> np.ndarray:
        """One text on one thread, through the model's own modules but without ``encode``'s
        per-call set-up (batching, sorting, prompt and device handling: about a tenth of a
        query's time). Gives the same vector as ``encode([text])[0]``."""
        import torch

        m = self.model
        prep = getattr(m, "preprocess", None)
        if prep is None or getattr(m, "default_prompt_name", None):  # other versions, prompted models
            return self.encode([text], batch_size=1, threads=1)[0]
        with torch_threads(1), torch.inference_mode(), self._autocast():
            out = m(prep([text]))["sentence_embedding"].float()
            out = torch.nn.functional.normalize(out, p=2, dim=1)
        return out[0].numpy().astype(np.float32, copy=True)


@register_backend("torch-bf16")
class TorchBf16Backend(TorchBackend):
    """The same model with its matrix products in bfloat16 (``torch.autocast``), vectors in float32."""

    def _autocast(self) -> contextlib.AbstractContextManager:
        import torch

        return torch.autocast("cpu", dtype=torch.bfloat16)
