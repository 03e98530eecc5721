"""Retrieval: dense (embedder), BM25 (full text), hybrid (reciprocal rank fusion), optional rerank."""

from ragtune.retrieve.fusion import reciprocal_rank_fusion
from ragtune.retrieve.retriever import Retriever

__all__ = ["Retriever", "reciprocal_rank_fusion"]
