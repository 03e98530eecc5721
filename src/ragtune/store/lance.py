"""LanceDB backend: one table of chunks (text, metadata, vector) with a native full-text index.

Versioning. LanceDB makes a table version on every write, and one ingest is several writes, so a
knowledge-base version is our own record, ``versions.json`` (``lance_versions.py``), naming the
Lance version it corresponds to, replaced only after all the writes of a change-set succeeded.
Readers always check out the Lance version of the newest record, so they never see half a
change-set; a writer that died half-way leaves Lance versions past the record, which the
next writer rolls back (``restore``) before it starts. Writers hold an exclusive file lock.

Dense search below ``index_threshold`` chunks is exact, in memory (``lance_exact.py``): a
version's vectors are read once into one float32 matrix. Full-text search then asks LanceDB for
chunk ids and scores only; the chunks themselves are taken from the in-memory copy of the
version (reading the text columns back from the FTS query cost more than the search itself).

At and past ``index_threshold`` chunks a commit trains a vector index and a version that has one
is searched through it, in LanceDB, with no copy of the version held in memory by ragtune
(``lance_index.py`` says how and why): what a search holds is LanceDB's caches of the index,
not 4 * dim bytes a chunk for every version being read.

Searches (vector and full-text) are built on LanceDB's async API and run on one event loop
thread (``lance_async.py``): its synchronous ``search()`` spent about 3 ms a query asking the
table for its schema. The table's columns, and filters turned into LanceDB SQL, are in
``lance_table.py``.
"""

from __future__ import annotations

import datetime as _dt
import fcntl
import os
import threading
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from ragtune.config import StoreSettings
from ragtune.errors import KnowledgeBaseError
from ragtune.store import lance_async, lance_index
from ragtune.store.base import DocumentInfo, Filters, StoreVersion, check_vectors
from ragtune.store.lance_exact import ExactIndex, use_int8
from ragtune.store.lance_table import (
    FILE_FORMAT,
    META_COLUMNS,
    TABLE,
    bad_where,
    chunks_to_table,
    filters_to_where,
    row_to_chunk,
    schema,
    sql_quote,
    vector_matrix,
)
from ragtune.store.lance_versions import VersionRecord
from ragtune.store.registry import register_store
from ragtune.types import Chunk

DEFAULT_INDEX_THRESHOLD: int = StoreSettings.model_fields["index_threshold"].default
KEEP_VERSIONS = _dt.timedelta(days=365 * 1000)  # optimize() must not prune the versions --as-of reads
_META_COLUMNS = META_COLUMNS  # the name benchmarks/bench_search.py imports


@register_store("lance")
class LanceStore:
    """A knowledge base's chunk table in ``root/lance`` with its version record in ``root/versions.json``.

    ``where`` (raw SQL over the chunk columns, as LanceDB's ``.where()`` takes it) is supported.
    ``index_threshold``: chunks from which a commit builds a vector index and searches use it
    (``store.index_threshold``; 0 never indexes). ``dense_scan``: the in-memory exact scan's first
    pass below that (``store.dense_scan``: auto | int8 | float32, see ``lance_exact.py``).
    """

    where_language = "LanceDB SQL"

    def __init__(self, root: str | Path, dim: int, index_threshold: int | None = None, dense_scan: str = "auto"):
        import lancedb

        lance_async.check_not_forked()

        use_int8(dense_scan, 0)  # a bad name fails here, not at the first search
        self.dense_scan = dense_scan

        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        self.dim = dim
        self.index_threshold = DEFAULT_INDEX_THRESHOLD if index_threshold is None else int(index_threshold)
        if self.index_threshold < 0:
            raise KnowledgeBaseError(f"index_threshold must be 0 (never index) or a number of chunks, "
                                     f"got {index_threshold}")
        self._db = lancedb.connect(str(self.root / "lance"))
        lance_async.opened()
        self._record = VersionRecord(self.root / "versions.json")
        self._lock_path = self.root / "write.lock"
        self._lock_fd: int | None = None
        self._pending = False
        self._added = 0
        self._removed = 0
        self._cache: dict[int, ExactIndex] = {}
        self._cache_lock = threading.Lock()
        self._readers: dict[int, Any] = {}
        self._hit_vectors = lance_index.HitVectors()
        self._async = lance_async.AsyncReaders(str(self.root / "lance"), TABLE)
        if TABLE not in self._table_names():
            tbl = self._db.create_table(TABLE, schema=schema(dim),
                                        storage_options={"new_table_data_storage_version": FILE_FORMAT})
            self._record.write({"versions": [asdict(StoreVersion(0, time.time(), note="created",
                                                                 backend={"lance_version": tbl.version}))]})

    # ---- version record -------------------------------------------------------------------
    def _table_names(self) -> list[str]:
        names = self._db.list_tables()
        return list(getattr(names, "tables", names))

    def versions(self) -> list[StoreVersion]:
        return self._record.versions()

    def version(self) -> int:
        return self.versions()[-1].version

    def _lance_version(self, version: int | None) -> tuple[int, int]:
        v = self._record.get(version)
        return v.version, int(v.backend["lance_version"])

    # ---- reading ----------------------------------------------------------------------------
    def _reader(self, version: int | None):
        lance_async.check_not_forked()
        _, lv = self._lance_version(version)
        tbl = self._readers.get(lv)
        if tbl is None:
            tbl = self._db.open_table(TABLE)
            tbl.checkout(lv)
            if len(self._readers) > 8:
                self._readers.clear()
            self._readers[lv] = tbl
        return tbl

    def _async_reader(self, version: int | None):
        """The version's table on LanceDB's async API, which the searches use (``lance_async.py``)."""
        return self._async.get(self._lance_version(version)[1])

    def _dense(self, version: int | None) -> ExactIndex:
        _, lv = self._lance_version(version)
        with self._cache_lock:
            idx = self._cache.get(lv)
            if idx is None:
                idx = ExactIndex(self._reader(version).to_arrow(), self.dense_scan)
                if len(self._cache) >= 2:
                    self._cache.pop(next(iter(self._cache)))
                self._cache[lv] = idx
        return idx

    def _index(self, version: int | None) -> dict[str, Any] | None:
        """The vector index record of ``version`` when searches of it go through the index, else None."""
        rec = self._record.get(version).backend.get("vector_index")
        if rec is None or self.index_threshold <= 0 or self.count(version) < self.index_threshold:
            return None
        return rec

    def count(self, version: int | None = None) -> int:
        return self._reader(version).count_rows()

    def search_dense(self, vector: np.ndarray, k: int, filters: Filters | None = None,
                     version: int | None = None, *, where: str | None = None) -> list[tuple[Chunk, float]]:
        where = filters_to_where(filters, where)
        if (rec := self._index(version)) is not None:
            with bad_where(where):
                rows = lance_index.search(self._async_reader(version), vector, k, META_COLUMNS,
                                          int(rec["partitions"]), where)
            return [(row_to_chunk(r), 1.0 - float(r["_distance"])) for r in rows.to_pylist()]
        idx = self._dense(version)
        if not idx.ids:
            return []
        mask = None
        if where:
            with bad_where(where):
                allowed = self._reader(version).search().where(where).select(["chunk_id"]).limit(None).to_arrow()
            mask = np.full(len(idx.ids), -np.inf, dtype=np.float32)
            keep = [idx.pos[c] for c in allowed.column("chunk_id").to_pylist() if c in idx.pos]
            mask[keep] = 0.0
        pos, scores = idx.top(np.asarray(vector, dtype=np.float32), k, mask)
        ok = np.isfinite(scores)
        pos, scores = pos[ok], scores[ok]
        return list(zip(idx.chunks(pos.tolist()), scores.tolist(), strict=True))

    def search_text(self, query: str, k: int, filters: Filters | None = None,
                    version: int | None = None, *, where: str | None = None) -> list[tuple[Chunk, float]]:
        where = filters_to_where(filters, where)
        if not query.strip():
            return []
        indexed = self._index(version) is not None  # then the chunks come with the hits: none are in memory
        cols = [*META_COLUMNS, "vector"] if indexed else ["chunk_id"]
        q = self._async_reader(version).query().nearest_to_text(query).select([*cols, "_score"]).limit(k)
        if where:
            q = q.where(where)  # applied before the search, as a filter of the vector search is
        try:
            with bad_where(where):
                rows = lance_async.run(q.to_arrow())
        except KnowledgeBaseError:
            raise
        except Exception as e:  # an empty table has no index yet; lance raises on unparsable queries
            if self.count(version) == 0:
                return []
            raise KnowledgeBaseError(f"full-text search failed for {query!r}: {e}") from e
        if not rows.num_rows:
            return []
        if indexed:
            self._hit_vectors.put(self._lance_version(version)[1], rows.column("chunk_id").to_pylist(),
                                  rows.column("vector"))
            return [(row_to_chunk(r), float(r["_score"] or 0.0)) for r in rows.drop_columns(["vector"]).to_pylist()]
        idx = self._dense(version)
        hits = [(idx.pos[c], float(sc or 0.0)) for c, sc in
                zip(rows.column("chunk_id").to_pylist(), rows.column("_score").to_pylist(), strict=True)
                if c in idx.pos]
        return list(zip(idx.chunks([p for p, _ in hits]), [sc for _, sc in hits], strict=True))

    def vectors_for(self, chunk_ids: list[str], version: int | None = None) -> np.ndarray:
        if not chunk_ids:
            return np.zeros((0, self.dim), np.float32)
        if self._index(version) is not None:
            lv = self._lance_version(version)[1]
            found = self._hit_vectors.get(lv, chunk_ids)  # the vectors of recent full-text hits
            if missing := [c for c in chunk_ids if c not in found]:
                t = self._rows_by_id(missing, ["chunk_id", "vector"], version)
                found |= dict(zip(t.column("chunk_id").to_pylist(), vector_matrix(t.column("vector")), strict=True))
            return np.stack([found[c] for c in chunk_ids])
        idx = self._dense(version)
        return idx.matrix[[idx.pos[c] for c in chunk_ids]]

    def _rows_by_id(self, chunk_ids: list[str], columns: list[str], version: int | None) -> pa.Table:
        """The rows of ``chunk_ids`` (those that exist, any order), read from LanceDB 500 ids a query."""
        tbl = self._reader(version)
        parts = [tbl.search().where("chunk_id IN (" + ", ".join(sql_quote(c) for c in chunk_ids[i:i + 500]) + ")")
                 .select(columns).limit(None).to_arrow() for i in range(0, len(chunk_ids), 500)]
        return pa.concat_tables(parts)

    def sources(self, version: int | None = None) -> dict[str, str]:
        """source path -> file hash, for incremental sync."""
        t = self._reader(version).search().select(["source", "file_hash"]).limit(None).to_arrow()
        return dict(zip(t.column("source").to_pylist(), t.column("file_hash").to_pylist(), strict=True))

    def documents(self, version: int | None = None) -> list[DocumentInfo]:
        t = self._reader(version).search().select(["source", "doc_id", "title", "file_hash", "ingested_at"]) \
            .limit(None).to_arrow().to_pylist()
        by_source: dict[str, dict[str, Any]] = {}
        for r in t:
            d = by_source.setdefault(r["source"], {
                "source": r["source"], "title": r["title"], "chunks": 0, "file_hash": r["file_hash"],
                "ingested_at": r["ingested_at"], "doc_ids": set()})
            d["chunks"] += 1
            d["doc_ids"].add(r["doc_id"])
        out = []
        for d in by_source.values():
            d["documents"] = len(d.pop("doc_ids"))
            out.append(d)
        return sorted(out, key=lambda d: d["source"])

    def all_chunks(self, version: int | None = None) -> list[Chunk]:
        """Every chunk of a version, ordered by source, document and position."""
        if self._index(version) is not None:
            rows = self._reader(version).search().select(META_COLUMNS).limit(None).to_arrow().to_pylist()
            return sorted(map(row_to_chunk, rows), key=lambda c: (c.source, c.doc_id, c.index))
        idx = self._dense(version)
        return sorted(idx.chunks(list(range(len(idx.ids)))), key=lambda c: (c.source, c.doc_id, c.index))

    def get_chunks(self, chunk_ids: list[str], version: int | None = None) -> list[Chunk]:
        if self._index(version) is not None:
            if not chunk_ids:
                return []
            by_id = {r["chunk_id"]: r for r in self._rows_by_id(chunk_ids, META_COLUMNS, version).to_pylist()}
            return [row_to_chunk(by_id[c]) for c in chunk_ids if c in by_id]
        idx = self._dense(version)
        return idx.chunks([idx.pos[c] for c in chunk_ids if c in idx.pos])

    # ---- writing ----------------------------------------------------------------------------
    def _begin(self) -> Any:
        if self._lock_fd is None:
            fd = os.open(self._lock_path, os.O_CREAT | os.O_RDWR, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                raise KnowledgeBaseError(
                    f"{self.root} is being changed by another process; wait for it to finish"
                ) from None
            self._lock_fd = fd
            self._recover()
        return self._db.open_table(TABLE)

    def _recover(self) -> None:
        """Undo Lance versions written after the last committed record (a crashed writer)."""
        tbl = self._db.open_table(TABLE)
        _, lv = self._lance_version(None)
        if tbl.version != lv:
            tbl.restore(lv)

    def _release(self) -> None:
        if self._lock_fd is not None:
            fcntl.flock(self._lock_fd, fcntl.LOCK_UN)
            os.close(self._lock_fd)
            self._lock_fd = None
        self._pending, self._added, self._removed = False, 0, 0

    def add(self, chunks: list[Chunk], vectors: np.ndarray, file_hashes: dict[str, str]) -> None:
        if not chunks:
            return
        check_vectors(chunks, vectors, self.dim)
        tbl = self._begin()
        data = chunks_to_table(chunks, vectors, file_hashes, self.dim, time.time())
        tbl.add(data)
        self._pending, self._added = True, self._added + len(chunks)

    def delete_sources(self, sources: list[str]) -> int:
        if not sources:
            return 0
        tbl = self._begin()
        removed = 0
        for i in range(0, len(sources), 500):
            where = "source IN (" + ", ".join(sql_quote(s) for s in sources[i:i + 500]) + ")"
            n = tbl.count_rows(where)
            if n:
                tbl.delete(where)
                removed += n
        self._pending = self._pending or removed > 0
        self._removed += removed
        return removed

    def commit(self, note: str = "") -> StoreVersion | None:
        """Make the staged writes the current version; None when nothing changed."""
        try:
            if not self._pending:
                return None
            tbl = self._db.open_table(TABLE)
            old = self._record.read()
            record = old["versions"][-1]["backend"].get("vector_index")
            rows = tbl.count_rows()  # compaction below moves rows, it does not change their number
            train = lance_index.needs_training(record, rows, self.index_threshold)
            if train:  # compact, then build every index over the compacted files (lance_index.py)
                tbl.optimize(cleanup_older_than=KEEP_VERSIONS)
            if rows > 0:
                self._ensure_fts(tbl, rebuild=train)
            backend: dict[str, Any] = {"lance_version": tbl.version}
            if (vi := self._ensure_vector_index(tbl, record, rows if train else None)) is not None:
                backend = {"lance_version": tbl.version, "vector_index": vi}
            v = StoreVersion(old["versions"][-1]["version"] + 1, time.time(), self._added, self._removed,
                             note, backend)
            self._record.write({**old, "versions": [*old["versions"], asdict(v)]})
            return v
        finally:
            self._release()

    def rollback(self) -> None:
        try:
            if self._pending:
                self._recover()
        finally:
            self._release()

    def _ensure_fts(self, tbl: Any, rebuild: bool = False) -> None:
        """Build the full-text index once (again with ``rebuild``); otherwise bring it up to date with new rows."""
        names = [getattr(i, "name", "") for i in tbl.list_indices()]
        if rebuild or not any("text" in n for n in names):
            from lancedb.index import FTS

            tbl.create_index("text", config=FTS(stem=True, remove_stop_words=True), replace=True)
        else:
            tbl.optimize(cleanup_older_than=KEEP_VERSIONS)  # also adds new rows to a vector index

    def _ensure_vector_index(self, tbl: Any, record: dict[str, Any] | None,
                             train_rows: int | None) -> dict[str, Any] | None:
        """Train the vector index over ``train_rows`` rows when given (the table reached the threshold or
        outgrew the rows it was trained on); returns the index record the new version carries, None
        without an index."""
        if train_rows is not None:
            record = lance_index.build_vector_index(tbl, self.dim, train_rows)
        elif record is None or not lance_index.has_vector_index(tbl):
            return None
        lance_index.ensure_id_index(tbl, rebuild=train_rows is not None)
        return record
