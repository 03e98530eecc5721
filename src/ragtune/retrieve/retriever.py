"""One object that runs dense, BM25 or hybrid retrieval over a store."""

from __future__ import annotations

import time

import numpy as np

from ragtune.config import RetrievalSettings
from ragtune.embedding import Embedder
from ragtune.registry import ModelSpec
from ragtune.retrieve.fusion import reciprocal_rank_fusion
from ragtune.retrieve.rerank import rerank
from ragtune.store.base import Store
from ragtune.types import Hit


class Retriever:
    """Finds the chunks most relevant to a query.

    Every hit carries ``similarity``, the cosine of the query and chunk vectors, whatever
    the mode: it is the one score comparable across modes, and the one the "I don't know"
    cut-off (``retrieval.min_similarity``) uses.
    """

    def __init__(self, store: Store, embedder: Embedder, settings: RetrievalSettings,
                 reranker: ModelSpec | None = None):
        self.store = store
        self.embedder = embedder
        self.settings = settings
        self.reranker = reranker
        self.last_timings: dict[str, float] = {}

    def search(self, query: str, k: int | None = None, mode: str | None = None, where: str | None = None,
               version: int | None = None) -> list[Hit]:
        s = self.settings
        k = k or s.top_k
        mode = mode or s.mode
        if mode not in ("dense", "bm25", "hybrid"):
            from ragtune.errors import ConfigError

            raise ConfigError(f"retrieval mode {mode!r} is not allowed; use one of dense, bm25, hybrid")
        n_cand = max(s.candidates, k)
        t0 = time.perf_counter()
        qvec = self.embedder.embed_query(query)
        t1 = time.perf_counter()
        dense = self.store.search_dense(qvec, n_cand, where, version) if mode in ("dense", "hybrid") else []
        t2 = time.perf_counter()
        text = self.store.search_text(query, n_cand, where, version) if mode in ("bm25", "hybrid") else []
        t3 = time.perf_counter()
        by_id = {c.chunk_id: c for c, _ in dense}
        by_id.update({c.chunk_id: c for c, _ in text})
        dense_scores = {c.chunk_id: s_ for c, s_ in dense}
        text_scores = {c.chunk_id: s_ for c, s_ in text}
        if mode == "dense":
            ranked = [(c.chunk_id, s_) for c, s_ in dense]
        elif mode == "bm25":
            ranked = [(c.chunk_id, s_) for c, s_ in text]
        else:
            ranked = reciprocal_rank_fusion(
                [[c.chunk_id for c, _ in dense], [c.chunk_id for c, _ in text]],
                weights=[s.dense_weight, s.bm25_weight], k=s.rrf_k,
            )
        keep = n_cand if (s.rerank and self.reranker) else k
        hits = [Hit(by_id[cid], score, dense_scores.get(cid), text_scores.get(cid)) for cid, score in ranked[:keep]]
        if hits:
            sims = self.store.vectors_for([h.chunk.chunk_id for h in hits], version) @ qvec
            for h, sim in zip(hits, np.asarray(sims).tolist(), strict=True):
                h.similarity = float(sim)
        if s.rerank and self.reranker:
            hits = rerank(self.reranker, query, hits, k)
        t4 = time.perf_counter()
        self.last_timings = {"embed_ms": (t1 - t0) * 1e3, "dense_ms": (t2 - t1) * 1e3,
                             "bm25_ms": (t3 - t2) * 1e3, "retrieve_ms": (t4 - t0) * 1e3}
        return hits
