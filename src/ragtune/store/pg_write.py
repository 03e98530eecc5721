"""Writing to the PostgreSQL backend: a change-set is one transaction on the writer's connection.

A change-set (``add``/``delete_sources`` ... ``commit``) takes at its first write a
transaction-level advisory lock for the knowledge base (``pg_sql.LOCK``: writers from any process
or machine queue up in the database, no file lock), reads the current version N and writes rows
for N + 1: added rows carry ``v_from`` N + 1, removed ones get ``v_to`` N + 1 (rows the change-set
itself added are deleted outright). ``commit`` records the version's term statistics, inserts
version N + 1 and commits. A writer killed half-way loses its connection, the server aborts the
transaction and releases the lock: the previous version stays current with nothing to clean up.

A change-set that is a bulk load (``BULK_ROWS``: a first load, or one that more than doubles the
table) drops the HNSW and GIN indexes in its transaction and builds them again at commit, many
times faster than updating them row by row; a writer that dies half-way leaves the old indexes,
as DDL is transactional.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from ragtune.config import public_url
from ragtune.errors import KnowledgeBaseError
from ragtune.store import pg_sql
from ragtune.store.base import StoreVersion, check_vectors
from ragtune.store.pg_conn import Connections
from ragtune.store.pg_schema import Schema
from ragtune.store.pg_table import COPY_COLS, COPY_TYPES, clean, copy_row
from ragtune.types import Chunk

# A change-set that adds at least BULK_ROWS chunks and more than the table holds (a first load, or
# one that more than doubles it) drops the HNSW and GIN indexes and builds them again at commit:
# building over all rows at once is many times faster than updating the indexes row by row. Readers
# wait for that change-set's commit (dropping an index locks the table), so smaller ones do not.
BULK_ROWS = 10_000
HNSW_BUILD_MEMORY = 8 << 30  # most maintenance_work_mem asked for the rebuild (the graph's size, up to this)


class ChangeSet:
    """The open change-set of the knowledge base in ``schema``: its connection, the version it will make, its counts."""

    def __init__(self, conns: Connections, schema: Schema):
        self.conns = conns
        self.schema = schema
        self.writer: Any = None  # the connection of the open change-set
        self.version: int | None = None  # the version the open change-set will make
        self.added = self.removed = 0
        self.table_rows: int | None = None  # rows in the table (every version) when the change-set began
        self.bulk = False  # whether the open change-set dropped the indexes, to build them at commit

    def _begin(self) -> Any:
        """The writer's connection inside the open change-set; the first write opens it (and waits its turn)."""
        w = self.writer
        if self.version is not None:
            if w is None or w.closed or w.broken:
                self._end()
                raise KnowledgeBaseError(f"lost the connection to {public_url(self.conns.url)} during a change-set; "
                                         "nothing of it was committed")
            return w
        if w is None or w.closed or w.broken:
            w = self.writer = self.conns.connect(autocommit=False)
        try:
            w.execute(pg_sql.LOCK, [pg_sql.LOCK_CLASS, self.schema.name])
            self.version = int(w.execute(self.schema.q("SELECT max(version) FROM {versions}")).fetchone()[0]) + 1
        except self.conns.psycopg.Error as e:
            self.rollback()
            raise self.conns.error(e) from None
        return w

    def add(self, chunks: list[Chunk], vectors: np.ndarray, file_hashes: dict[str, str], bulk_rows: int) -> None:
        """Write ``chunks`` into the change-set; ``bulk_rows``: the store's ``BULK_ROWS``."""
        if not chunks:
            return
        check_vectors(chunks, vectors, self.schema.dim)
        from psycopg.types.json import Jsonb  # the postgres extra, present since the store opened

        w = self._begin()
        self._bulk_load(w, len(chunks), bulk_rows)
        now = time.time()
        vecs = np.ascontiguousarray(vectors, dtype=np.float32)
        sql = self.schema.sql
        copy_sql = self.schema.q("COPY {chunks} ({cols}) FROM STDIN WITH (FORMAT BINARY)",
                                 cols=sql.SQL(", ").join(map(sql.Identifier, COPY_COLS)))
        try:
            with w.cursor() as cur, cur.copy(copy_sql) as cp:
                cp.set_types(list(COPY_TYPES))
                for c, v in zip(chunks, vecs, strict=True):
                    cp.write_row(copy_row(c, v, file_hashes.get(c.source, ""), now, self.version, Jsonb))
        except self.conns.psycopg.Error as e:
            raise self.conns.error(e) from None
        self.added += len(chunks)

    def _bulk_load(self, w: Any, adding: int, bulk_rows: int) -> None:
        """Drop the search indexes before a write that makes this change-set a bulk load (``BULK_ROWS``)."""
        try:
            total = self.added + adding
            if self.bulk or total < bulk_rows:
                return
            if self.table_rows is None:  # counted once a change-set is big enough to be a bulk load
                self.table_rows = int(w.execute(self.schema.q("SELECT count(*) FROM {chunks}")).fetchone()[0])
            if total > self.table_rows:
                w.execute(self.schema.q(pg_sql.DROP_SEARCH_INDEXES))
                self.bulk = True
        except self.conns.psycopg.Error as e:
            raise self.conns.error(e) from None

    def _build_indexes(self, w: Any) -> None:
        """Build the indexes a bulk load dropped, with memory for the HNSW graph (this transaction only)."""
        rows = self.table_rows + self.added
        have = int(w.execute("SELECT pg_size_bytes(current_setting('maintenance_work_mem'))").fetchone()[0])
        want = min(HNSW_BUILD_MEMORY, rows * (4 * self.schema.dim + 400))  # vectors plus neighbour lists
        if want > have:
            w.execute("SELECT set_config('maintenance_work_mem', %s, true)", [f"{want >> 20}MB"])
        for statement in pg_sql.SEARCH_INDEXES:
            w.execute(self.schema.q(statement))

    def delete_sources(self, sources: list[str]) -> int:
        if not sources:
            return 0
        w = self._begin()
        srcs = [clean(s) for s in sources]
        # rows this change-set added go at once; older ones are marked removed in this version
        try:
            gone = w.execute(self.schema.q("DELETE FROM {chunks} WHERE v_from = %s AND source = ANY(%s)"),
                             [self.version, srcs]).rowcount
            gone += w.execute(self.schema.q("UPDATE {chunks} SET v_to = %s WHERE v_to IS NULL AND source = ANY(%s)"),
                              [self.version, srcs]).rowcount
        except self.conns.psycopg.Error as e:
            raise self.conns.error(e) from None
        self.removed += gone
        return gone

    def commit(self, note: str = "") -> StoreVersion | None:
        """Make the staged writes the current version; None when nothing changed."""
        if self.version is None:
            return None
        if not (self.added or self.removed):
            self.rollback()
            return None
        v = StoreVersion(self.version, time.time(), self.added, self.removed, note)
        try:
            w = self.writer
            if self.bulk:
                self._build_indexes(w)
            w.execute(self.schema.q(pg_sql.COMMIT_TERMS), [v.version] * 3)
            w.execute(self.schema.q(pg_sql.COMMIT_VERSION), {"v": v.version, "time": v.time, "added": v.added,
                                                             "removed": v.removed, "note": clean(note)})
            self.writer.commit()
        except self.conns.psycopg.Error as e:
            self._end()
            first = (str(e).strip().splitlines() or [type(e).__name__])[0]
            raise KnowledgeBaseError(f"commit of version {v.version} to {public_url(self.conns.url)} failed, "
                                     f"version {v.version - 1} stays current: {first}") from None
        self._end()
        return v

    def rollback(self) -> None:
        if self.writer is not None and not self.writer.closed:
            try:
                self.writer.rollback()
            except self.conns.psycopg.Error:
                self.writer.close()
        self._end()

    def _end(self) -> None:
        self.version, self.added, self.removed = None, 0, 0
        self.table_rows, self.bulk = None, False
        if self.writer is not None and (self.writer.closed or self.writer.broken):
            self.writer = None

    def close(self) -> None:
        """Close the writer's connection (the server rolls back an open change-set)."""
        if self.writer is not None and not self.writer.closed:
            self.writer.close()
        self.writer, self.version = None, None
