"""PostgreSQL + pgvector backend: a knowledge base shared by several processes and machines.

Layout. Each knowledge base is one schema on the server, ``ragtune_<name>`` (``name`` is the
knowledge base's folder name, so ``ragtune kb create NAME --store URL`` on a second machine
opens the same one), holding three tables (their SQL: ``pg_sql.py``)::

    versions(version, time, added, removed, note, n_chunks, total_len)   one row per change-set
    chunks(row_id, chunk_id, ..., embedding vector(dim), tsv tsvector, v_from, v_to)
    terms(term, version, ddf)                      what each version changed in a term's df

Versions in SQL. A row carries the version that added it (``v_from``) and the one that removed
it (``v_to``, NULL while current); version N is ``v_from <= N AND (v_to IS NULL OR v_to > N)``.
A change-set (``add``/``delete_sources`` ... ``commit``) is one transaction on the writer's
connection: its first write takes a transaction-level advisory lock for the knowledge base
(so writers from any process or machine queue up in the database, no file lock), reads the
current version N and writes rows for N + 1; ``commit`` inserts version N + 1 and commits. A
writer killed half-way loses its connection, the server aborts the transaction and releases the
lock: the previous version stays current with nothing to clean up. A change-set that is a bulk
load (``BULK_ROWS``: a first load, or one that more than doubles the table) drops the HNSW and
GIN indexes in its transaction and builds them again at commit, many times faster than updating
them row by row; a writer that dies half-way leaves the old indexes, as DDL is transactional.

Search runs in the database: dense with an HNSW index (``vector_cosine_ops``; iterative scans
so that version and metadata filters still fill ``k``), full text with a stored ``tsvector``
(English stemming and stop words) under a GIN index, scored with BM25 from per-version term
statistics (see ``pg_sql.py``), over the OR of the query's terms; MaxScore pruning
(``maxscore.py``) scores only the chunks that can reach the top k. The retriever fuses the two
with the same RRF as for any store. Filters become ``column = ANY(%s)`` with the values bound
as parameters; column names come only from ``FILTER_FIELDS``. There is no raw ``where``: that
escape is LanceDB SQL.

The connection URL is used as given (password included) but never written anywhere by ragtune;
``location`` and kb.json carry it without the password, which libpq then takes from
``PGPASSWORD`` or ``~/.pgpass``.
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

from ragtune.config import public_url
from ragtune.errors import KnowledgeBaseError
from ragtune.store import maxscore, pg_sql
from ragtune.store.base import DocumentInfo, Filters, StoreVersion, check_filters, check_vectors, check_where
from ragtune.store.registry import register_store
from ragtune.types import Chunk

TS_CONFIG = "english"  # text search configuration of the stored tsvector and of every query
# HNSW candidate list (pgvector's hnsw.ef_search; [store] ef_search), raised per query when k is larger.
# Dense recall@10 against exact search at 1M chunks (bench_store.py's near-duplicate copies): 0.750 at
# 100 (1.8 ms), 0.870 at 200, 0.945 at 400 (8.6 ms), 0.950 at 800 (19 ms); 0.96 at 100k with 100.
EF_SEARCH = 400
# A change-set that adds at least BULK_ROWS chunks and more than the table holds (a first load, or
# one that more than doubles it) drops the HNSW and GIN indexes and builds them again at commit:
# building over all rows at once is many times faster than updating the indexes row by row. Readers
# wait for that change-set's commit (dropping an index locks the table), so smaller ones do not.
BULK_ROWS = 10_000
HNSW_BUILD_MEMORY = 8 << 30  # most maintenance_work_mem asked for the rebuild (the graph's size, up to this)
TEXT_FIRST_PASS = 2000  # exact full-text search scores first the chunks of the rarest lexemes, about this many
_LOCK_CLASS = 0x5247  # first key of the advisory lock ("RG"); the second is a hash of the schema
_CHUNK_COLS = ("chunk_id", "doc_id", "source", "title", "text", "chunk_index", "page", "content_hash", "metadata")
_COLUMN = {f: f for f in ("chunk_id", "doc_id", "page", "source", "title")}  # filter field -> column
_COPY_COLS = (*_CHUNK_COLS, "file_hash", "ingested_at", "embedding", "v_from")
_COPY_TYPES = ("text", "text", "text", "text", "text", "int4", "int4", "text", "jsonb", "text", "float8",
               "vector", "int4")


def is_url(value: str) -> bool:
    return value.startswith(("postgresql://", "postgres://"))


def schema_name(name: str) -> str:
    """The server schema of knowledge base ``name`` (names past 55 characters get a hash suffix)."""
    if len(name) <= 55:
        return f"ragtune_{name}"
    return f"ragtune_{name[:46]}_{hashlib.sha1(name.encode()).hexdigest()[:8]}"


def _pg():
    """psycopg and pgvector, imported on first use: they come with the postgres extra."""
    try:
        import psycopg
        from pgvector.psycopg import register_vector
    except ImportError as e:
        raise KnowledgeBaseError(
            f"the postgres store needs psycopg and pgvector ({e.name} is missing); "
            "install them: pip install 'ragtune[postgres]'"
        ) from None
    return psycopg, register_vector


def _text(s: str) -> str:
    return s.replace("\x00", "")  # PostgreSQL text cannot hold NUL (a few PDF extractions have them)


def _chunk(r: tuple) -> Chunk:
    cid, doc_id, source, title, text, index, page, content_hash, meta = r[:9]
    return Chunk(chunk_id=cid, doc_id=doc_id, source=source, text=text, index=int(index or 0), title=title or "",
                 page=page, content_hash=content_hash or "", metadata=meta or {})


def _array(v: Any) -> np.ndarray:
    return np.asarray(v.to_numpy() if hasattr(v, "to_numpy") else v, dtype=np.float32)


@register_store("postgres")
class PostgresStore:
    """A knowledge base's chunks and versions in schema ``ragtune_<root.name>`` of the server at ``url``."""

    where_language = None

    def __init__(self, root: str | Path, dim: int, url: str | None = None, text_candidates: int = 0,
                 ef_search: int = EF_SEARCH):
        if not url:
            raise KnowledgeBaseError("the postgres store needs a server URL: "
                                     "ragtune kb create NAME --store postgresql://USER@HOST:PORT/DB")
        if not is_url(url):
            raise KnowledgeBaseError(f"store URL {public_url(url)!r} is not a PostgreSQL URL; "
                                     "use postgresql://USER@HOST:PORT/DB")
        self.psycopg, self._register = _pg()
        from psycopg import sql  # the postgres extra, checked just above

        self.sql = sql
        self.root = Path(root)
        self.dim = dim
        self.url = url
        self.schema = schema_name(self.root.name)
        self.location = f"{public_url(url)} (schema {self.schema})"
        self._chunks = sql.Identifier(self.schema, "chunks")
        self._versions = sql.Identifier(self.schema, "versions")
        self._idle: list[Any] = []  # read connections (autocommit), reused
        self._idle_lock = threading.Lock()
        self._writer: Any = None  # the connection of the open change-set
        self._wv: int | None = None  # the version the open change-set will make
        self._added = self._removed = 0
        self._table_rows: int | None = None  # rows in the table (every version) when the change-set began
        self._bulk = False  # whether the open change-set dropped the indexes, to build them at commit
        self._max_seen = -1  # versions up to this one are known to exist
        self.text_candidates = text_candidates  # [store] text_candidates; 0: exact BM25
        self.ef_search = ef_search
        self.bulk_rows = BULK_ROWS  # huge: never a bulk load (the benchmark's row-by-row reference)
        self._setup()

    # ---- connections --------------------------------------------------------------------------
    def _connect(self, autocommit: bool) -> Any:
        try:
            conn = self.psycopg.connect(self.url, autocommit=autocommit)
        except self.psycopg.OperationalError as e:
            first = (str(e).strip().splitlines() or ["no answer"])[-1]
            raise KnowledgeBaseError(f"cannot connect to {public_url(self.url)}: {first}") from None
        try:
            self._register(conn)
        except self.psycopg.ProgrammingError:
            conn.close()
            raise KnowledgeBaseError(f"{public_url(self.url)} has no pgvector extension; as a superuser run: "
                                     "CREATE EXTENSION vector") from None
        conn.execute("SELECT set_config('hnsw.iterative_scan', 'strict_order', false), "
                     "set_config('hnsw.ef_search', %s, false)", [str(self.ef_search)])
        if not autocommit:
            conn.commit()
        return conn

    @contextmanager
    def _read(self) -> Iterator[Any]:
        """A cursor on an idle autocommit connection (one per concurrent reader, kept for reuse)."""
        with self._idle_lock:
            conn = self._idle.pop() if self._idle else None
        if conn is None or conn.closed or conn.broken:
            conn = self._connect(autocommit=True)
        try:
            with conn.cursor() as cur:
                yield cur
        except self.psycopg.Error as e:
            raise self._error(e) from None
        finally:
            if not (conn.closed or conn.broken):
                with self._idle_lock:
                    self._idle.append(conn)

    def _error(self, e: Exception) -> Exception:
        """A database error as one line for the user (a programming error stays what it is)."""
        first = (str(e).strip().splitlines() or [type(e).__name__])[0]
        if isinstance(e, self.psycopg.errors.UndefinedTable):
            return KnowledgeBaseError(f"schema {self.schema} is gone from {public_url(self.url)} (deleted from "
                                      "another machine?); delete this knowledge base or create it again")
        if isinstance(e, self.psycopg.OperationalError | self.psycopg.errors.QueryCanceled):
            return KnowledgeBaseError(f"{public_url(self.url)}: {first}")
        return e

    def _setup(self) -> None:
        """Create the schema, tables and indexes on first use; check the vector width after."""
        conn = self._connect(autocommit=True)
        try:
            row = conn.execute("SELECT atttypmod FROM pg_attribute WHERE attrelid = to_regclass(%s) "
                               "AND attname = 'embedding'", [f'"{self.schema}".chunks']).fetchone()
            if row is None:
                with conn.transaction():
                    conn.execute("SELECT pg_advisory_xact_lock(%s, hashtext(%s))", [_LOCK_CLASS, self.schema])
                    self._create_tables(conn)
            elif row[0] != self.dim:
                raise KnowledgeBaseError(
                    f"schema {self.schema} on {public_url(self.url)} holds {row[0]}-wide vectors, "
                    f"not {self.dim}; it belongs to a knowledge base made with another embedder")
        finally:
            self._idle.append(conn)

    def _q(self, text: str, **parts: Any) -> Any:
        """``text`` (see ``pg_sql``) with this knowledge base's tables and constants filled in."""
        sql = self.sql
        return sql.SQL(text).format(
            schema=sql.Identifier(self.schema), chunks=self._chunks, versions=self._versions,
            terms=sql.Identifier(self.schema, "terms"), dim=sql.Literal(self.dim), cfg=sql.Literal(TS_CONFIG),
            **parts)

    def _create_tables(self, conn: Any) -> None:
        for statement in pg_sql.CREATE:
            conn.execute(self._q(statement), [time.time()] if "%s" in statement else None)

    def close(self) -> None:
        """Close every connection (an open change-set is rolled back by the server)."""
        with self._idle_lock:
            conns, self._idle = self._idle, []
        for c in [*conns, self._writer]:
            if c is not None and not c.closed:
                c.close()
        self._writer, self._wv = None, None

    def drop(self) -> None:
        """Delete the knowledge base from the server (its schema, every version)."""
        with self._read() as cur:
            cur.execute(self.sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(self.sql.Identifier(self.schema)))
        self.close()

    def size_bytes(self) -> int:
        with self._read() as cur:
            cur.execute("SELECT coalesce(sum(pg_total_relation_size(c.oid)), 0) FROM pg_class c "
                        "JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = %s AND c.relkind = 'r'",
                        [self.schema])
            return int(cur.fetchone()[0])

    # ---- versions ---------------------------------------------------------------------------
    def versions(self) -> list[StoreVersion]:
        with self._read() as cur:
            cur.execute(self.sql.SQL("SELECT version, time, added, removed, note FROM {} ORDER BY version")
                        .format(self._versions))
            out = [StoreVersion(*r) for r in cur.fetchall()]
        self._max_seen = max(self._max_seen, out[-1].version)
        return out

    def version(self) -> int:
        with self._read() as cur:
            cur.execute(self.sql.SQL("SELECT max(version) FROM {}").format(self._versions))
            v = int(cur.fetchone()[0])
        self._max_seen = max(self._max_seen, v)
        return v

    def _at(self, version: int | None) -> int:
        """The version a read looks at; one that does not exist is an error."""
        if version is None:
            return self.version()
        if 0 <= version <= self._max_seen:
            return version
        current = self.version()
        if not 0 <= version <= current:
            raise KnowledgeBaseError(f"version {version} does not exist; versions are 0..{current}")
        return version

    def _visible(self, version: int | None, filters: Filters | None = None) -> tuple[Any, list[Any]]:
        """The WHERE clause (and its parameters) of the rows of ``version`` that pass ``filters``."""
        wanted = check_filters(filters)
        v = self._at(version)
        parts = [self.sql.SQL("v_from <= %s AND (v_to IS NULL OR v_to > %s)")]
        params: list[Any] = [v, v]
        for key, values in wanted.items():
            parts.append(self.sql.SQL("{} = ANY(%s)").format(self.sql.Identifier(_COLUMN[key])))
            params.append(values)
        return self.sql.SQL(" AND ").join(parts), params

    # ---- reading ----------------------------------------------------------------------------
    def _select(self, what: str, where: Any, tail: str = "") -> Any:
        return self.sql.SQL("SELECT " + what + " FROM {} WHERE {} " + tail).format(self._chunks, where)

    def search_dense(self, vector: np.ndarray, k: int, filters: Filters | None = None,
                     version: int | None = None, *, where: str | None = None) -> list[tuple[Chunk, float]]:
        check_where(self, where)
        cond, params = self._visible(version, filters)
        q = np.asarray(vector, dtype=np.float32)
        query = self._select(", ".join(_CHUNK_COLS) + ", 1 - (embedding <=> %s) AS score", cond,
                             "ORDER BY embedding <=> %s LIMIT %s")
        with self._read() as cur:
            if k > self.ef_search:
                cur.execute("SELECT set_config('hnsw.ef_search', %s, false)", [str(min(k, 1000))])
            try:
                cur.execute(query, [q, *params, q, k])
                rows = cur.fetchall()
            finally:
                if k > self.ef_search:
                    cur.execute("SELECT set_config('hnsw.ef_search', %s, false)", [str(self.ef_search)])
        return [(_chunk(r), float(r[-1])) for r in rows]

    def search_text(self, query: str, k: int, filters: Filters | None = None,
                    version: int | None = None, *, where: str | None = None) -> list[tuple[Chunk, float]]:
        """The ``k`` best chunks by BM25 over the query's lexemes.

        With ``text_candidates`` 0 this is the exact top ``k`` of every chunk holding any of them,
        found by scoring only those MaxScore cannot rule out. Otherwise at most about that many
        chunks are scored, those holding the query's rarest lexemes (the ones that weigh most),
        and the answer is exact whenever MaxScore shows that no other chunk can reach the top ``k``.
        """
        check_where(self, where)
        cond, params = self._visible(version, filters)
        if not query.strip() or k <= 0:
            return []
        with self._read() as cur:
            cur.execute(self._q(pg_sql.TEXT_STATS), [query, params[0], params[0]])
            rows = cur.fetchall()
        dfs = {lex: int(df) for _, _, lex, df in rows if lex is not None and df > 0}
        if not dfs:
            return []
        n, avgdl = float(rows[0][0]), float(rows[0][1])
        idfs = {t: maxscore.idf(n, df) for t, df in dfs.items()}
        lexemes, weights = list(idfs), list(idfs.values())
        budget = self.text_candidates
        first = maxscore.first_pass(dfs, budget or TEXT_FIRST_PASS)
        hits = self._score_text(lexemes, weights, avgdl, first, cond, params, k)
        theta = hits[k - 1][1] if len(hits) >= k else 0.0
        need = maxscore.essential({t: maxscore.upper_bound(w, pg_sql.K1) for t, w in idfs.items()}, theta)
        if budget or set(need) <= set(first):
            return hits  # the budget's chunks, or no chunk outside them can reach the k-th score
        return self._score_text(lexemes, weights, avgdl, need, cond, params, k)

    def _score_text(self, lexemes: list[str], idfs: list[float], avgdl: float, match: list[str], cond: Any,
                    params: list[Any], k: int) -> list[tuple[Chunk, float]]:
        """BM25 over ``lexemes`` of the chunks holding any lexeme of ``match``, best ``k``."""
        tsquery = " | ".join("'" + t.replace("\\", "\\\\").replace("'", "''") + "'" for t in match)
        sql = self._q(pg_sql.SEARCH_TEXT, cond=cond, cols=self.sql.SQL(", ".join(f"c.{c}" for c in _CHUNK_COLS)))
        with self._read() as cur:
            cur.execute(sql, [lexemes, idfs, avgdl, lexemes, tsquery, *params, k])
            rows = cur.fetchall()
        return [(_chunk(r), float(r[-1])) for r in rows]

    def vectors_for(self, chunk_ids: list[str], version: int | None = None) -> np.ndarray:
        if not chunk_ids:
            return np.zeros((0, self.dim), np.float32)
        cond, params = self._visible(version, {"chunk_id": list(dict.fromkeys(chunk_ids))})
        with self._read() as cur:
            cur.execute(self._select("chunk_id, embedding", cond), params)
            by_id = {cid: _array(v) for cid, v in cur.fetchall()}
        missing = [c for c in chunk_ids if c not in by_id]
        if missing:
            raise KnowledgeBaseError(f"chunk {missing[0]!r} is not in version {self._at(version)}")
        return np.stack([by_id[c] for c in chunk_ids])

    def sources(self, version: int | None = None) -> dict[str, str]:
        cond, params = self._visible(version)
        with self._read() as cur:
            cur.execute(self._select("DISTINCT source, file_hash", cond), params)
            return dict(cur.fetchall())

    def documents(self, version: int | None = None) -> list[DocumentInfo]:
        cond, params = self._visible(version)
        with self._read() as cur:
            cur.execute(self._select(
                "source, (array_agg(title ORDER BY row_id))[1], count(*), count(DISTINCT doc_id), "
                "(array_agg(file_hash ORDER BY row_id))[1], (array_agg(ingested_at ORDER BY row_id))[1]",
                cond, 'GROUP BY source ORDER BY source COLLATE "C"'), params)
            rows = cur.fetchall()
        return [DocumentInfo(source=s, title=t, chunks=n, documents=d, file_hash=h, ingested_at=float(at))
                for s, t, n, d, h, at in rows]

    def all_chunks(self, version: int | None = None) -> list[Chunk]:
        cond, params = self._visible(version)
        with self._read() as cur:
            cur.execute(self._select(", ".join(_CHUNK_COLS), cond,
                                     'ORDER BY source COLLATE "C", doc_id COLLATE "C", chunk_index, row_id'), params)
            return [_chunk(r) for r in cur.fetchall()]

    def count(self, version: int | None = None) -> int:
        cond, params = self._visible(version)
        with self._read() as cur:
            cur.execute(self._select("count(*)", cond), params)
            return int(cur.fetchone()[0])

    # ---- writing ----------------------------------------------------------------------------
    def _begin(self) -> Any:
        """The writer's connection inside the open change-set; the first write opens it (and waits its turn)."""
        w = self._writer
        if self._wv is not None:
            if w is None or w.closed or w.broken:
                self._end()
                raise KnowledgeBaseError(f"lost the connection to {public_url(self.url)} during a change-set; "
                                         "nothing of it was committed")
            return w
        if w is None or w.closed or w.broken:
            w = self._writer = self._connect(autocommit=False)
        try:
            w.execute("SELECT pg_advisory_xact_lock(%s, hashtext(%s))", [_LOCK_CLASS, self.schema])
            self._wv = int(w.execute(self.sql.SQL("SELECT max(version) FROM {}").format(self._versions))
                           .fetchone()[0]) + 1
        except self.psycopg.Error as e:
            self.rollback()
            raise self._error(e) from None
        return w

    def add(self, chunks: list[Chunk], vectors: np.ndarray, file_hashes: dict[str, str]) -> None:
        if not chunks:
            return
        check_vectors(chunks, vectors, self.dim)
        from psycopg.types.json import Jsonb  # the postgres extra, present since __init__

        w = self._begin()
        self._bulk_load(w, len(chunks))
        now = time.time()
        vecs = np.ascontiguousarray(vectors, dtype=np.float32)
        copy_sql = self.sql.SQL("COPY {} ({}) FROM STDIN WITH (FORMAT BINARY)").format(
            self._chunks, self.sql.SQL(", ").join(map(self.sql.Identifier, _COPY_COLS)))
        try:
            with w.cursor() as cur, cur.copy(copy_sql) as cp:
                cp.set_types(list(_COPY_TYPES))
                for c, v in zip(chunks, vecs, strict=True):
                    cp.write_row((_text(c.chunk_id), _text(c.doc_id), _text(c.source), _text(c.title or ""),
                                  _text(c.text), c.index, c.page, c.content_hash or "",
                                  Jsonb(c.metadata or {}, _dumps), file_hashes.get(c.source, ""), now, v, self._wv))
        except self.psycopg.Error as e:
            raise self._error(e) from None
        self._added += len(chunks)

    def _bulk_load(self, w: Any, adding: int) -> None:
        """Drop the search indexes before a write that makes this change-set a bulk load (``BULK_ROWS``)."""
        try:
            total = self._added + adding
            if self._bulk or total < self.bulk_rows:
                return
            if self._table_rows is None:  # counted once a change-set is big enough to be a bulk load
                self._table_rows = int(w.execute(self.sql.SQL("SELECT count(*) FROM {}").format(self._chunks))
                                       .fetchone()[0])
            if total > self._table_rows:
                w.execute(self._q(pg_sql.DROP_SEARCH_INDEXES))
                self._bulk = True
        except self.psycopg.Error as e:
            raise self._error(e) from None

    def _build_indexes(self, w: Any) -> None:
        """Build the indexes a bulk load dropped, with memory for the HNSW graph (this transaction only)."""
        rows = self._table_rows + self._added
        have = int(w.execute("SELECT pg_size_bytes(current_setting('maintenance_work_mem'))").fetchone()[0])
        want = min(HNSW_BUILD_MEMORY, rows * (4 * self.dim + 400))  # vectors plus neighbour lists
        if want > have:
            w.execute("SELECT set_config('maintenance_work_mem', %s, true)", [f"{want >> 20}MB"])
        for statement in pg_sql.SEARCH_INDEXES:
            w.execute(self._q(statement))

    def delete_sources(self, sources: list[str]) -> int:
        if not sources:
            return 0
        w = self._begin()
        srcs = [_text(s) for s in sources]
        # rows this change-set added go at once; older ones are marked removed in this version
        try:
            gone = w.execute(self.sql.SQL("DELETE FROM {} WHERE v_from = %s AND source = ANY(%s)")
                             .format(self._chunks), [self._wv, srcs]).rowcount
            gone += w.execute(self.sql.SQL("UPDATE {} SET v_to = %s WHERE v_to IS NULL AND source = ANY(%s)")
                              .format(self._chunks), [self._wv, srcs]).rowcount
        except self.psycopg.Error as e:
            raise self._error(e) from None
        self._removed += gone
        return gone

    def commit(self, note: str = "") -> StoreVersion | None:
        """Make the staged writes the current version; None when nothing changed."""
        if self._wv is None:
            return None
        if not (self._added or self._removed):
            self.rollback()
            return None
        v = StoreVersion(self._wv, time.time(), self._added, self._removed, note)
        try:
            w = self._writer
            if self._bulk:
                self._build_indexes(w)
            w.execute(self._q(pg_sql.COMMIT_TERMS), [v.version] * 3)
            w.execute(self._q(pg_sql.COMMIT_VERSION), {"v": v.version, "time": v.time, "added": v.added,
                                                       "removed": v.removed, "note": _text(note)})
            self._writer.commit()
        except self.psycopg.Error as e:
            self._end()
            first = (str(e).strip().splitlines() or [type(e).__name__])[0]
            raise KnowledgeBaseError(f"commit of version {v.version} to {public_url(self.url)} failed, "
                                     f"version {v.version - 1} stays current: {first}") from None
        self._end()
        self._max_seen = max(self._max_seen, v.version)
        return v

    def rollback(self) -> None:
        if self._writer is not None and not self._writer.closed:
            try:
                self._writer.rollback()
            except self.psycopg.Error:
                self._writer.close()
        self._end()

    def _end(self) -> None:
        self._wv, self._added, self._removed = None, 0, 0
        self._table_rows, self._bulk = None, False
        if self._writer is not None and (self._writer.closed or self._writer.broken):
            self._writer = None


def _dumps(obj: Any) -> str:
    return json.dumps(obj, default=str)
