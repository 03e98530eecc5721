"""The PostgreSQL chunk table as Python sees it: its columns, chunks to rows and back, a version's rows.

One row per chunk of every version (the table's SQL: ``pg_sql.CREATE``): the chunk's fields, the
hash of the file it came from, when it was ingested, its vector, its ``tsvector``, and the
versions that added it (``v_from``) and removed it (``v_to``, NULL while current). Version N is
``v_from <= N AND (v_to IS NULL OR v_to > N)``. Filters arrive as data (``store/base.py``) and
become ``column = ANY(%s)`` with the values bound as parameters; column names come only from
``COLUMN`` (the ``FILTER_FIELDS``).
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np

from ragtune.types import Chunk

CHUNK_COLS = ("chunk_id", "doc_id", "source", "title", "text", "chunk_index", "page", "content_hash", "metadata")
COLUMN = {f: f for f in ("chunk_id", "doc_id", "page", "source", "title")}  # filter field -> column
COPY_COLS = (*CHUNK_COLS, "file_hash", "ingested_at", "embedding", "v_from")  # what a write COPYs, in order
COPY_TYPES = ("text", "text", "text", "text", "text", "int4", "int4", "text", "jsonb", "text", "float8",
              "vector", "int4")


def clean(s: str) -> str:
    return s.replace("\x00", "")  # PostgreSQL text cannot hold NUL (a few PDF extractions have them)


def row_to_chunk(r: tuple) -> Chunk:
    """The chunk of a row whose first columns are ``CHUNK_COLS``."""
    cid, doc_id, source, title, text, index, page, content_hash, meta = r[:9]
    return Chunk(chunk_id=cid, doc_id=doc_id, source=source, text=text, index=int(index or 0), title=title or "",
                 page=page, content_hash=content_hash or "", metadata=meta or {})


def to_array(v: Any) -> np.ndarray:
    """A stored vector (pgvector's ``Vector`` or an array) as float32."""
    return np.asarray(v.to_numpy() if hasattr(v, "to_numpy") else v, dtype=np.float32)


def copy_row(c: Chunk, vector: np.ndarray, file_hash: str, now: float, version: int, jsonb: Any) -> tuple:
    """``c`` as a row of ``COPY_COLS``; ``jsonb`` is psycopg's ``Jsonb`` (the driver is an extra)."""
    return (clean(c.chunk_id), clean(c.doc_id), clean(c.source), clean(c.title or ""), clean(c.text), c.index,
            c.page, c.content_hash or "", jsonb(c.metadata or {}, dumps), file_hash, now, vector, version)


def dumps(obj: Any) -> str:
    return json.dumps(obj, default=str)


def visible(sql: Any, version: int, wanted: dict[str, list[str] | list[int]]) -> tuple[Any, list[Any]]:
    """The WHERE clause (``sql``: ``psycopg.sql``) and parameters of the rows of ``version`` that pass ``wanted``
    (checked filters: field -> allowed values)."""
    parts = [sql.SQL("v_from <= %s AND (v_to IS NULL OR v_to > %s)")]
    params: list[Any] = [version, version]
    for key, values in wanted.items():
        parts.append(sql.SQL("{} = ANY(%s)").format(sql.Identifier(COLUMN[key])))
        params.append(values)
    return sql.SQL(" AND ").join(parts), params
