"""Exact dense search of one LanceDB version in memory: its vectors as one float32 matrix.

Below ``store.index_threshold`` chunks this is how a LanceDB knowledge base is searched: the
vectors of a version are read once into a matrix and searched with one matrix product (at
100k x 384 that beats LanceDB's flat scan by an order of magnitude and needs no index training;
see benchmarks/RESULTS.md). (A float16 first pass with float32 rescoring was tried: 0.5 ms less
per 100k-row scan, nothing measurable end to end.) The Arrow rows of the version are kept beside
the matrix, so the chunks of the hits (and of full-text hits) are taken from memory too.
"""

from __future__ import annotations

import contextlib
from typing import Any

import numpy as np
import pyarrow as pa

from ragtune.store.lance_table import META_COLUMNS, row_to_chunk
from ragtune.types import Chunk

SMALL = 20_000_000  # matrix elements (about 50k rows of 384) below which one BLAS thread is used
_blas: Any = None  # threadpoolctl controller, made once; False when threadpoolctl is missing


def blas_threads(size: int):
    """One BLAS thread for the product of a small matrix, the library's default for a big one.

    Measured on the shared 2-core machine: at 10k rows a second thread saves 0.1 ms, but when
    another process holds the other core the product waits for the starved thread (6-7 ms
    instead of 0.4); at 100k rows the second thread saves 1-2 ms even then.
    """
    global _blas
    if size >= SMALL:
        return contextlib.nullcontext()
    if _blas is None:
        try:
            from threadpoolctl import ThreadpoolController

            _blas = ThreadpoolController()
        except ImportError:  # pragma: no cover - comes with sentence-transformers (scikit-learn)
            _blas = False
    return _blas.limit(limits=1, user_api="blas") if _blas else contextlib.nullcontext()


def top_k(scores: np.ndarray, k: int) -> np.ndarray:
    """Positions of the ``k`` largest scores, best first (ties in position order)."""
    if k >= len(scores):
        return np.argsort(-scores, kind="stable")
    top = np.argpartition(-scores, k - 1)[:k]
    return top[np.argsort(-scores[top], kind="stable")]


class ExactIndex:
    """The vectors of one version in memory, for exact cosine search."""

    def __init__(self, table: pa.Table):
        self.ids: list[str] = table.column("chunk_id").to_pylist()
        self.pos = {cid: i for i, cid in enumerate(self.ids)}
        if table.num_rows:
            flat = table.column("vector").combine_chunks().flatten().to_numpy(zero_copy_only=False)
            self.matrix = np.ascontiguousarray(flat.reshape(table.num_rows, -1), dtype=np.float32)
        else:
            self.matrix = np.zeros((0, 0), dtype=np.float32)
        self.rows = table.select(META_COLUMNS).combine_chunks()

    def chunk(self, i: int) -> Chunk:
        return self.chunks([i])[0]

    def chunks(self, positions: list[int]) -> list[Chunk]:
        """The chunks at ``positions``, read from the Arrow rows in one take."""
        if not positions:
            return []
        return [row_to_chunk(r) for r in self.rows.take(positions).to_pylist()]

    def top(self, q: np.ndarray, k: int, mask: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Positions and cosine scores of the ``k`` best rows, best first (``mask``: 0 or -inf per row)."""
        with blas_threads(self.matrix.size):
            scores = self.matrix @ q
        if mask is not None:
            scores = scores + mask
        pos = top_k(scores, k)
        return pos, scores[pos]
