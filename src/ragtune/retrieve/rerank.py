"""Optional cross-encoder reranking, when a reranker model folder is configured (none is bundled)."""

from __future__ import annotations

from functools import lru_cache

from ragtune.registry import ModelSpec
from ragtune.types import Hit


@lru_cache(maxsize=2)
def _load(path: str):
    from sentence_transformers import CrossEncoder

    return CrossEncoder(path, device="cpu", local_files_only=True)


def rerank(spec: ModelSpec, query: str, hits: list[Hit], top_k: int) -> list[Hit]:
    """Score (query, chunk) pairs with the cross-encoder and keep the best ``top_k``."""
    if not hits:
        return []
    model = _load(spec.path)
    scores = model.predict([(query, h.chunk.text) for h in hits], show_progress_bar=False)
    for h, s in zip(hits, scores, strict=True):
        h.score = float(s)
    return sorted(hits, key=lambda h: -h.score)[:top_k]
