"""The LanceDB chunk table's layout: its columns, chunks to Arrow rows and back, filters as LanceDB SQL.

One row per chunk: the chunk's fields, the hash of the file it came from, when it was ingested,
and its vector as a fixed-size list of float32. ``META_COLUMNS`` are every column but the
vector (what a search reads to rebuild a chunk). Filters arrive as data (``store/base.py``) and
are turned into LanceDB SQL here only, with every string value quoted.
"""

from __future__ import annotations

import contextlib
import json
from typing import Any

import numpy as np
import pyarrow as pa

from ragtune.errors import KnowledgeBaseError
from ragtune.store.base import Filters, check_filters
from ragtune.types import Chunk

TABLE = "chunks"
# The Lance file format of new tables. A search that returns chunks reads their columns back by row
# (a "take"), and in format 2.0 each column costs about a millisecond however few rows are taken:
# the 11 columns of a chunk cost 11 ms of a 19 ms indexed vector query at 1M chunks (Zen 3,
# 2026-12-07). Format 2.1 (structural encoding, built for random access) takes them in 3.5 ms, and
# a full-text query returning chunks fell from 26.6 to 14.0 ms. Tables made before keep their format.
FILE_FORMAT = "2.1"
META_COLUMNS = ["chunk_id", "doc_id", "source", "title", "text", "chunk_index", "page", "content_hash",
                "file_hash", "metadata", "ingested_at"]


def schema(dim: int) -> pa.Schema:
    return pa.schema([
        pa.field("chunk_id", pa.string()),
        pa.field("doc_id", pa.string()),
        pa.field("source", pa.string()),
        pa.field("title", pa.string()),
        pa.field("text", pa.string()),
        pa.field("chunk_index", pa.int32()),
        pa.field("page", pa.int32()),
        pa.field("content_hash", pa.string()),
        pa.field("file_hash", pa.string()),
        pa.field("metadata", pa.string()),
        pa.field("ingested_at", pa.float64()),
        pa.field("vector", pa.list_(pa.float32(), dim)),
    ])


def chunks_to_table(chunks: list[Chunk], vectors: np.ndarray, file_hashes: dict[str, str], dim: int,
                    now: float) -> pa.Table:
    """The rows of ``chunks`` with their ``vectors``, stamped as ingested at ``now``."""
    return pa.table({
        "chunk_id": [c.chunk_id for c in chunks],
        "doc_id": [c.doc_id for c in chunks],
        "source": [c.source for c in chunks],
        "title": [c.title for c in chunks],
        "text": [c.text for c in chunks],
        "chunk_index": pa.array([c.index for c in chunks], pa.int32()),
        "page": pa.array([c.page for c in chunks], pa.int32()),
        "content_hash": [c.content_hash for c in chunks],
        "file_hash": [file_hashes.get(c.source, "") for c in chunks],
        "metadata": [json.dumps(c.metadata, default=str) for c in chunks],
        "ingested_at": pa.array([now] * len(chunks), pa.float64()),
        "vector": pa.FixedSizeListArray.from_arrays(pa.array(vectors.astype(np.float32).ravel()), dim),
    }, schema=schema(dim))


def vector_matrix(column: Any) -> np.ndarray:
    """A ``vector`` column (an Arrow fixed-size list, chunked or not) as a float32 matrix, a row each."""
    if hasattr(column, "combine_chunks"):  # a table's column: chunked
        column = column.combine_chunks()
    flat = column.flatten().to_numpy(zero_copy_only=False)
    return np.ascontiguousarray(flat.reshape(len(column), -1), dtype=np.float32)


def row_to_chunk(r: dict[str, Any]) -> Chunk:
    return Chunk(
        chunk_id=r["chunk_id"], doc_id=r["doc_id"], source=r["source"], text=r["text"],
        index=int(r["chunk_index"] or 0), title=r["title"] or "", page=r["page"],
        content_hash=r["content_hash"] or "", metadata=json.loads(r["metadata"] or "{}"),
    )


def sql_quote(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def filters_to_where(filters: Filters | None, where: str | None = None) -> str | None:
    """``{"title": "Paris", "page": ["1", "2"]}`` -> ``title = 'Paris' AND page IN (1, 2)``.

    A raw LanceDB SQL ``where`` is ANDed on; None when there is nothing to filter.
    """
    parts = []
    for key, values in check_filters(filters).items():
        lits = [str(v) if key == "page" else sql_quote(v) for v in values]
        parts.append(f"{key} = {lits[0]}" if len(lits) == 1 else f"{key} IN ({', '.join(lits)})")
    if where:
        parts.append(f"({where})")
    return " AND ".join(parts) or None


@contextlib.contextmanager
def bad_where(where: str | None):
    """LanceDB's SQL parser refusing a ``--where`` becomes one line naming the filter."""
    try:
        yield
    except ValueError as e:
        if not where:
            raise
        raise KnowledgeBaseError(f"the filter {where!r} is not valid LanceDB SQL: {str(e).splitlines()[0]}") from e
