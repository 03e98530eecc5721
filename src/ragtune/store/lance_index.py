"""The vector index of a big LanceDB knowledge base: when it is built and how it is searched.

Below ``store.index_threshold`` chunks a version's vectors are searched exactly, in memory
(``lance.py``); that is fastest and needs no training, but it holds ``4 * dim`` bytes per chunk
for every cached version (1.5 GB per version at 1M chunks of 384). Past the threshold the table
gets an IVF_PQ index (cosine) and dense search runs inside LanceDB on it: the index's
compressed codes are what a search holds, and its ``REFINE_CANDIDATES`` best candidates are
re-scored on their full vectors, read from disk, so the scores are exact cosines and the
ranking matches exact search except where the index missed a row altogether (recall, measured
in ``benchmarks/bench_store.py`` and tested in ``tests/store/test_lance_index.py``).

The index is part of the Lance version it was built in: an older version (``--as-of``) is
searched with the index it had, or flat (exactly) if it had none. Rows written after the index
was trained are added to it by ``optimize`` at every commit; it is retrained when the table has
grown to twice the rows it was trained on (the partitions and codebooks fit the data they saw).
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Any

import numpy as np

from ragtune.store.lance_async import run
from ragtune.store.lance_table import vector_matrix

VECTOR_INDEX = "vector_idx"
# Past the threshold no version's rows are held in memory, so reading rows by chunk id (the hits'
# vectors, for their similarity to the question) is a filter on the table: without an index it scans
# every id (67 ms p50 at 1M chunks), with a BTREE on chunk_id it looks them up (9 ms).
ID_INDEX = "chunk_id_idx"
# Tuned at 100k chunks of real embeddings (benchmarks/bench_store.py, real SQuAD questions): recall@10
# against exact search was 0.933 probing 20 of 316 partitions, 0.958 probing 64 (20%) and 0.972 with
# refine 20 instead of 10, at about the same latency (7-9 ms: a LanceDB query costs more in set-up
# than in scanning codes). Letting LanceDB widen the probe on its own (maximum_nprobes(0)) searched
# every partition on every query (15 ms), hence the explicit exact fallback for narrow filters.
# At 1M chunks (1000 partitions, the retriever's k=30, Zen 3, 2026-12-07) probing 20% was the slow
# part and re-scoring the cheap one: 200 probes with 210 candidates re-scored gave recall 0.969 in
# 27.6 ms, 100 probes with 420 candidates 0.977 in 21.8 ms, 64 probes with 210 0.950 in 17.8 ms.
# Hence at most MAX_NPROBES partitions, and a budget of candidates re-scored on their full vectors
# (read from disk): 40 a result at k=10, 14 at the retriever's 30.
NPROBES_FRACTION = 0.2  # share of the IVF partitions searched per query (at least MIN_NPROBES) ...
MIN_NPROBES = 20
MAX_NPROBES = 100  # ... and at most this many
REFINE_CANDIDATES = 400  # full vectors re-scored per query (at least MIN_REFINE per result wanted)
MIN_REFINE = 3
RETRAIN_GROWTH = 2.0  # retrain when the table holds this many times the rows the index was trained on
# A commit that trains the index first compacts the table (every ingest batch was a file of its own)
# and builds every index again over the compacted files. At 1M chunks written in 50 batches, an index
# search of the 50 files took 29-33 ms p50, of one file 18-25 ms, and of files compacted *after* the
# indexes were built 42-45 ms (the indexes then map old row addresses to new ones): Zen 3, 2026-12-07.


class HitVectors:
    """The vectors of the latest full-text hits of indexed versions, by (Lance version, chunk id).

    A hybrid search needs the question's cosine with every hit, and a full-text-only hit has no
    dense score, so its vector must be read. Read with the hit (one column more in the same
    query) it costs nothing extra; read afterwards by id it was a second query of 6-7 ms at 1M
    chunks. At most ``size`` vectors are kept (the oldest go first); thread-safe, since one store
    serves concurrent searches.
    """

    def __init__(self, size: int = 4096):
        self.size = size
        self._vecs: OrderedDict[tuple[int, str], np.ndarray] = OrderedDict()
        self._lock = threading.Lock()

    def put(self, lance_version: int, chunk_ids: list[str], vectors: Any) -> None:
        """Keep ``vectors`` (an Arrow fixed-size-list column, one per id) of ``lance_version``."""
        if not chunk_ids:
            return
        mat = vector_matrix(vectors)
        with self._lock:
            for cid, v in zip(chunk_ids, mat, strict=True):
                self._vecs[(lance_version, cid)] = v
                self._vecs.move_to_end((lance_version, cid))
            while len(self._vecs) > self.size:
                self._vecs.popitem(last=False)

    def get(self, lance_version: int, chunk_ids: list[str]) -> dict[str, np.ndarray]:
        """The kept vectors among ``chunk_ids`` of ``lance_version`` (the others are left out)."""
        with self._lock:
            return {c: v for c in chunk_ids if (v := self._vecs.get((lance_version, c))) is not None}


def partitions_for(rows: int) -> int:
    """IVF partitions for ``rows`` vectors: about ``sqrt(rows)``, the usual choice, and at most one per
    256 rows (LanceDB trains no more than that: each centroid needs rows to learn from)."""
    return max(1, min(4096, int(np.sqrt(rows)), rows // 256))


def nprobes_for(partitions: int) -> int:
    return min(partitions, MAX_NPROBES, max(MIN_NPROBES, int(np.ceil(partitions * NPROBES_FRACTION))))


def sub_vectors_for(dim: int) -> int:
    """PQ sub-vectors: 8 floats each (48 for 384 wide), the widest split that divides ``dim``."""
    for width in (8, 4, 2, 1):
        if dim % width == 0:
            return dim // width
    return dim  # pragma: no cover - width 1 always divides


def refine_factor_for(k: int) -> int:
    return max(MIN_REFINE, -(-REFINE_CANDIDATES // max(1, k)))


def has_vector_index(tbl: Any) -> bool:
    return any(getattr(i, "name", "") == VECTOR_INDEX for i in tbl.list_indices())


def ensure_id_index(tbl: Any, rebuild: bool = False) -> None:
    """A BTREE index on chunk_id (built once, again with ``rebuild``; every commit's ``optimize`` adds
    the new rows to it)."""
    if rebuild or not any(getattr(i, "name", "") == ID_INDEX for i in tbl.list_indices()):
        from lancedb.index import BTree

        tbl.create_index("chunk_id", config=BTree(), name=ID_INDEX, replace=True)


def build_vector_index(tbl: Any, dim: int, rows: int) -> dict[str, Any]:
    """Train the IVF_PQ index over the table's current rows; returns what was built (for the version record)."""
    from lancedb.index import IvfPq

    parts = partitions_for(rows)
    tbl.create_index("vector", config=IvfPq(distance_type="cosine", num_partitions=parts,
                                            num_sub_vectors=sub_vectors_for(dim)),
                     name=VECTOR_INDEX, replace=True)
    return {"type": "IVF_PQ", "trained_rows": rows, "partitions": parts}


def needs_training(record: dict[str, Any] | None, rows: int, threshold: int) -> bool:
    """Whether a commit leaving ``rows`` chunks must (re)train the index, given the last one built."""
    if threshold <= 0 or rows < threshold:
        return False
    return record is None or rows >= RETRAIN_GROWTH * int(record.get("trained_rows", 0))


def search(tbl: Any, vector: np.ndarray, k: int, columns: list[str], partitions: int,
           where: str | None = None) -> Any:
    """The ``k`` best rows by cosine through the index, as an Arrow table with ``_distance`` (1 - cosine).

    ``tbl`` is the version's async table (``lance_async.py``). A narrow filter can leave fewer than
    ``k`` of its rows in the partitions probed; then the filtered rows are searched exactly instead
    (few rows, so cheap), and a filter never shortens the answer.
    """
    def query(exact: bool) -> Any:
        q = tbl.query().nearest_to(np.asarray(vector, dtype=np.float32)).column("vector") \
            .distance_type("cosine").select([*columns, "_distance"]).limit(k)
        if exact:
            q = q.bypass_vector_index()
        else:
            q = q.nprobes(nprobes_for(partitions)).refine_factor(refine_factor_for(k))
        return run((q.where(where) if where else q).to_arrow())  # a filter applies before the search

    rows = query(exact=False)
    return query(exact=True) if where and rows.num_rows < k else rows
