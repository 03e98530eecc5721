"""Exact dense search of one LanceDB version in memory: its vectors as one float32 matrix.

Below ``store.index_threshold`` chunks this is how a LanceDB knowledge base is searched: the
vectors of a version are read once into a matrix and searched with one matrix product (at
100k x 384 that beats LanceDB's flat scan by an order of magnitude and needs no index training;
see benchmarks/RESULTS.md). The Arrow rows of the version are kept beside the matrix, so the
chunks of the hits (and of full-text hits) are taken from memory too.

From ``INT8_MIN_ROWS`` rows the scan has a first pass (``store.dense_scan``, ``int8_scan.py``): an
int8 copy of the matrix scored by onnxruntime picks ``candidates(k)`` rows, and only those are
scored in float32, so the scores returned are the exact cosines. (A float16 first pass was tried
earlier: 0.5 ms less per 100k-row scan, nothing measurable end to end; int8 reads a quarter of the
bytes and multiplies with VNNI.)
"""

from __future__ import annotations

import contextlib
from typing import Any, get_args

import numpy as np
import pyarrow as pa

from ragtune.config import StoreSettings
from ragtune.errors import ConfigError
from ragtune.store import int8_scan
from ragtune.store.lance_table import META_COLUMNS, row_to_chunk, vector_matrix
from ragtune.types import Chunk

SCANS: tuple[str, ...] = get_args(StoreSettings.model_fields["dense_scan"].annotation)  # auto, int8, float32
INT8_MIN_ROWS = 20_000  # below this the float32 product is already a fraction of a millisecond
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


def candidates(k: int) -> int:
    """Rows the int8 pass hands to float32 rescoring for a top ``k``."""
    return max(100, 4 * k)


def use_int8(scan: str, rows: int) -> bool:
    """Whether a version of ``rows`` rows is scanned with the int8 first pass under ``scan``."""
    if scan not in SCANS:
        raise ConfigError(f"store.dense_scan: {scan!r} is not allowed; use one of {list(SCANS)}")
    if scan == "float32":
        return False
    if scan == "int8":
        return rows > 0
    return rows >= INT8_MIN_ROWS and int8_scan.available()


class ExactIndex:
    """The vectors of one version in memory, for exact cosine search."""

    def __init__(self, table: pa.Table, scan: str = "auto"):
        self.ids: list[str] = table.column("chunk_id").to_pylist()
        self.pos = {cid: i for i, cid in enumerate(self.ids)}
        if table.num_rows:
            self.matrix = vector_matrix(table.column("vector"))
        else:
            self.matrix = np.zeros((0, 0), dtype=np.float32)
        self.rows = table.select(META_COLUMNS).combine_chunks()
        self.int8 = int8_scan.Int8Scan(self.matrix) if use_int8(scan, len(self.ids)) else None

    def chunk(self, i: int) -> Chunk:
        return self.chunks([i])[0]

    def chunks(self, positions: list[int]) -> list[Chunk]:
        """The chunks at ``positions``, read from the Arrow rows in one take."""
        if not positions:
            return []
        return [row_to_chunk(r) for r in self.rows.take(positions).to_pylist()]

    def top(self, q: np.ndarray, k: int, mask: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Positions and cosine scores of the ``k`` best rows, best first (``mask``: 0 or -inf per row)."""
        c = candidates(k)
        if self.int8 is not None and c < len(self.ids):
            cand = self.int8.candidates(q, c, mask)
            exact = self.matrix[cand] @ q
            if mask is not None:
                exact = exact + mask[cand]
            best = top_k(exact, k)
            return cand[best], exact[best]
        with blas_threads(self.matrix.size):
            scores = self.matrix @ q
        if mask is not None:
            scores = scores + mask
        pos = top_k(scores, k)
        return pos, scores[pos]
