"""One object that runs dense, BM25 or hybrid retrieval over a store."""

from __future__ import annotations

import numbers
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from ragtune.config import RetrievalSettings
from ragtune.embedding import Embedder
from ragtune.errors import ConfigError
from ragtune.registry import ModelSpec
from ragtune.retrieve.fusion import reciprocal_rank_fusion
from ragtune.retrieve.rerank import rerank
from ragtune.store.base import Filters, Store, check_filters, check_where
from ragtune.types import Hit

_pool: ThreadPoolExecutor | None = None
_pool_lock = threading.Lock()


def _text_pool() -> ThreadPoolExecutor:
    """Threads that run full-text searches while the caller embeds the query and searches vectors.

    Both halves spend their time outside the GIL (LanceDB's Rust search; torch and BLAS), so on
    two cores a hybrid search costs about the longer of the two rather than their sum.
    """
    global _pool
    with _pool_lock:
        if _pool is None:
            _pool = ThreadPoolExecutor(max_workers=4, thread_name_prefix="ragtune-bm25")
        return _pool


def check_top_k(k: int | None) -> int | None:
    """``None`` (the ``retrieval.top_k`` default) or a whole number of at least 1; else a one-line error."""
    if k is None:
        return None
    if isinstance(k, bool) or not isinstance(k, numbers.Integral) or k < 1:
        raise ConfigError(f"top_k must be at least 1 (got {k!r}); pass --top-k 1 or more")
    return int(k)


def check_query(query: str) -> str:
    """A query with some text in it; an empty or blank one is a one-line error."""
    if not isinstance(query, str) or not query.strip():
        raise ConfigError("the search query is empty; search for something")
    return query


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

    def search(self, query: str, k: int | None = None, mode: str | None = None, filters: Filters | None = None,
               version: int | None = None, where: str | None = None) -> list[Hit]:
        """The ranked chunks for ``query``.

        ``filters`` is data (field -> value or list of values, see ``ragtune.store.check_filters``);
        ``where`` is the store's own raw query language (LanceDB SQL for the Lance backend),
        refused with one line by a store that has none.
        """
        s = self.settings
        check_query(query)
        check_filters(filters)
        check_where(self.store, where)
        k = s.top_k if k is None else check_top_k(k)
        mode = mode or s.mode
        if mode not in ("dense", "bm25", "hybrid"):
            raise ConfigError(f"retrieval mode {mode!r} is not allowed; use one of dense, bm25, hybrid")
        n_cand = max(s.candidates, k)
        t0 = time.perf_counter()
        if version is None:  # one snapshot for both searches, even if a commit lands in between
            version = self.store.version()
        text_job = None
        if mode in ("bm25", "hybrid"):
            text_job = _text_pool().submit(self._search_text, query, n_cand, filters, version, where)
        qvec = self.embedder.embed_query(query)
        t1 = time.perf_counter()
        dense = (self.store.search_dense(qvec, n_cand, filters, version, where=where)
                 if mode in ("dense", "hybrid") else [])
        t2 = time.perf_counter()
        text, bm25_s = text_job.result() if text_job is not None else ([], 0.0)
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
        hits = [Hit(by_id[cid], score, dense_scores.get(cid), text_scores.get(cid))
                for cid, score in ranked[:keep]]
        for h in hits:  # a dense hit's score is its cosine with the question (the Store contract)
            if h.dense_score is not None:
                h.similarity = float(h.dense_score)
        if need := [h for h in hits if h.similarity is None]:  # full-text hits only: their vectors are read
            sims = self.store.vectors_for([h.chunk.chunk_id for h in need], version) @ qvec
            for h, sim in zip(need, np.asarray(sims).tolist(), strict=True):
                h.similarity = float(sim)
        if s.rerank and self.reranker:
            hits = rerank(self.reranker, query, hits, k)
        t4 = time.perf_counter()
        # bm25_ms is the full-text search's own time; it ran alongside embed + dense, and
        # bm25_wait_ms is how long the caller still had to wait for it afterwards.
        self.last_timings = {"embed_ms": (t1 - t0) * 1e3, "dense_ms": (t2 - t1) * 1e3,
                             "bm25_ms": bm25_s * 1e3, "bm25_wait_ms": (t3 - t2) * 1e3,
                             "retrieve_ms": (t4 - t0) * 1e3}
        return hits

    def _search_text(self, query: str, k: int, filters: Filters | None, version: int | None, where: str | None):
        t = time.perf_counter()
        out = self.store.search_text(query, k, filters, version, where=where)
        return out, time.perf_counter() - t
