"""PostgreSQL + pgvector backend: a knowledge base shared by several processes and machines.

Each knowledge base is one schema on the server, ``ragtune_<name>``, holding the tables
``versions``, ``chunks`` and ``terms`` (``pg_schema.py``; their SQL: ``pg_sql.py``).

Versions in SQL. A row carries the version that added it (``v_from``) and the one that removed
it (``v_to``, NULL while current); version N is ``v_from <= N AND (v_to IS NULL OR v_to > N)``
(``pg_table.py``: the table's columns and rows). A change-set (``add``/``delete_sources`` ...
``commit``) is one transaction on the writer's connection under an advisory lock, so writers
from any process or machine queue up in the database (``pg_write.py``, with its bulk loads).

Search runs in the database: dense with an HNSW index (``vector_cosine_ops``; iterative scans
so that version and metadata filters still fill ``k``), full text with a stored ``tsvector``
under a GIN index, scored with BM25 and pruned with MaxScore (``pg_text.py``). The retriever
fuses the two with the same RRF as for any store. Filters become ``column = ANY(%s)`` with the
values bound as parameters; column names come only from ``FILTER_FIELDS``. There is no raw
``where``: that escape is LanceDB SQL.

The connection URL is used as given (password included) but never written anywhere by ragtune;
``location`` and kb.json carry it without the password, which libpq then takes from
``PGPASSWORD`` or ``~/.pgpass``. Connections and database errors: ``pg_conn.py``.
"""

from __future__ import annotations

from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

import numpy as np

from ragtune.config import public_url
from ragtune.errors import KnowledgeBaseError
from ragtune.store import pg_sql, pg_text
from ragtune.store.base import DocumentInfo, Filters, StoreVersion, check_filters, check_where
from ragtune.store.pg_conn import Connections
from ragtune.store.pg_schema import Schema, schema_name
from ragtune.store.pg_table import CHUNK_COLS, row_to_chunk, to_array, visible
from ragtune.store.pg_versions import VersionLog
from ragtune.store.pg_write import BULK_ROWS, ChangeSet
from ragtune.store.registry import register_store
from ragtune.types import Chunk

# HNSW candidate list (pgvector's hnsw.ef_search; [store] ef_search), raised per query when k is larger.
# Dense recall@10 against exact search at 1M chunks (bench_store.py's near-duplicate copies, 200 questions,
# 2026-12-08, Zen 3): 0.921 at 400 (dense p50 10.3 ms), 0.971 at 800 (13.4 ms); at 100k 0.988 and 0.992, the
# hybrid p50 unchanged (30.7 and 30.1 ms: full-text search is the slower half). Earlier: 0.740 at 100.
EF_SEARCH = 800
TEXT_FIRST_PASS = 2000  # exact full-text search scores first the chunks of the rarest lexemes, about this many


def is_url(value: str) -> bool:
    return value.startswith(("postgresql://", "postgres://"))


@register_store("postgres")
class PostgresStore:
    """A knowledge base's chunks and versions in schema ``ragtune_<root.name>`` of the server at ``url``."""

    where_language = None

    def __init__(self, root: str | Path, dim: int, url: str | None = None, text_candidates: int | str = 0,
                 ef_search: int = EF_SEARCH):
        if not url:
            raise KnowledgeBaseError("the postgres store needs a server URL: "
                                     "ragtune kb create NAME --store postgresql://USER@HOST:PORT/DB")
        if not is_url(url):
            raise KnowledgeBaseError(f"store URL {public_url(url)!r} is not a PostgreSQL URL; "
                                     "use postgresql://USER@HOST:PORT/DB")
        self.root = Path(root)
        self.schema = schema_name(self.root.name)
        self._conns = Connections(url, self.schema, ef_search)  # imports the driver (the postgres extra)
        self._tables = Schema(self.schema, dim)
        self._q = self._tables.q  # a statement of pg_sql with this knowledge base's tables filled in
        self.sql = self._tables.sql  # psycopg.sql
        self.dim = dim
        self.url = url
        self.location = f"{public_url(url)} (schema {self.schema})"
        self._log = VersionLog(self._conns, self._tables)
        self._change = ChangeSet(self._conns, self._tables)  # the writer
        self.text_candidates = text_candidates  # [store] text_candidates; 0: exact BM25; "auto": by size
        self.bulk_rows = BULK_ROWS  # huge: never a bulk load (the benchmark's row-by-row reference)
        conn = self._conns.connect(autocommit=True)
        try:
            self._tables.ensure(conn, public_url(url))  # create the tables on first use, else check them
        finally:
            self._conns.keep(conn)

    @property
    def ef_search(self) -> int:
        """HNSW candidate list of the connections (``[store] ef_search``); a new value reaches new connections."""
        return self._conns.ef_search

    @ef_search.setter
    def ef_search(self, value: int) -> None:
        self._conns.ef_search = value

    # ---- connections (pg_conn.py) -----------------------------------------------------------
    def _read(self) -> AbstractContextManager[Any]:
        """A cursor on an idle autocommit connection (one per concurrent reader, kept for reuse)."""
        return self._conns.read()

    def close(self) -> None:
        """Close every connection (an open change-set is rolled back by the server)."""
        self._conns.close()
        self._change.close()

    def drop(self) -> None:
        """Delete the knowledge base from the server (its schema, every version)."""
        with self._read() as cur:
            cur.execute(self._q("DROP SCHEMA IF EXISTS {schema} CASCADE"))
        self.close()

    def size_bytes(self) -> int:
        with self._read() as cur:
            cur.execute("SELECT coalesce(sum(pg_total_relation_size(c.oid)), 0) FROM pg_class c "
                        "JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = %s AND c.relkind = 'r'",
                        [self.schema])
            return int(cur.fetchone()[0])

    # ---- versions (pg_versions.py) ----------------------------------------------------------
    def versions(self) -> list[StoreVersion]:
        return self._log.all()

    def version(self) -> int:
        return self._log.current()

    def _visible(self, version: int | None, filters: Filters | None = None) -> tuple[Any, list[Any]]:
        """The WHERE clause (and its parameters) of the rows of ``version`` that pass ``filters``."""
        wanted = check_filters(filters)
        return visible(self.sql, self._log.at(version), wanted)

    # ---- reading ----------------------------------------------------------------------------
    def _select(self, what: str, where: Any, tail: str = "") -> Any:
        return self.sql.SQL("SELECT " + what + " FROM {} WHERE {} " + tail).format(self._tables.chunks, where)

    def search_dense(self, vector: np.ndarray, k: int, filters: Filters | None = None,
                     version: int | None = None, *, where: str | None = None) -> list[tuple[Chunk, float]]:
        check_where(self, where)
        cond, params = self._visible(version, filters)
        q = np.asarray(vector, dtype=np.float32)
        query = self._select(", ".join(CHUNK_COLS) + ", 1 - (embedding <=> %s) AS score", cond,
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
        return [(row_to_chunk(r), float(r[-1])) for r in rows]

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
            stats = pg_text.query_stats(cur, self._q(pg_sql.TEXT_STATS), query, params[0])
        if stats is None:
            return []
        n, avgdl, dfs = stats

        def score(lexemes: list[str], idfs: list[float], match: list[str]) -> list[tuple[Chunk, float]]:
            return self._score_text(lexemes, idfs, avgdl, match, cond, params, k)

        return pg_text.top_k(score, n, dfs, k, pg_text.budget(self.text_candidates, n), TEXT_FIRST_PASS)

    def _score_text(self, lexemes: list[str], idfs: list[float], avgdl: float, match: list[str], cond: Any,
                    params: list[Any], k: int) -> list[tuple[Chunk, float]]:
        """BM25 over ``lexemes`` of the chunks holding any lexeme of ``match``, best ``k``."""
        sql = self._q(pg_sql.SEARCH_TEXT, cond=cond, cols=self.sql.SQL(", ".join(f"c.{c}" for c in CHUNK_COLS)))
        with self._read() as cur:
            cur.execute(sql, [lexemes, idfs, avgdl, lexemes, pg_text.tsquery(match), *params, k])
            rows = cur.fetchall()
        return [(row_to_chunk(r), float(r[-1])) for r in rows]

    def vectors_for(self, chunk_ids: list[str], version: int | None = None) -> np.ndarray:
        if not chunk_ids:
            return np.zeros((0, self.dim), np.float32)
        cond, params = self._visible(version, {"chunk_id": list(dict.fromkeys(chunk_ids))})
        with self._read() as cur:
            cur.execute(self._select("chunk_id, embedding", cond), params)
            by_id = {cid: to_array(v) for cid, v in cur.fetchall()}
        missing = [c for c in chunk_ids if c not in by_id]
        if missing:
            raise KnowledgeBaseError(f"chunk {missing[0]!r} is not in version {self._log.at(version)}")
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
            cur.execute(self._select(", ".join(CHUNK_COLS), cond,
                                     'ORDER BY source COLLATE "C", doc_id COLLATE "C", chunk_index, row_id'), params)
            return [row_to_chunk(r) for r in cur.fetchall()]

    def count(self, version: int | None = None) -> int:
        cond, params = self._visible(version)
        with self._read() as cur:
            cur.execute(self._select("count(*)", cond), params)
            return int(cur.fetchone()[0])

    # ---- writing (the change-set: pg_write.py) ----------------------------------------------
    def add(self, chunks: list[Chunk], vectors: np.ndarray, file_hashes: dict[str, str]) -> None:
        self._change.add(chunks, vectors, file_hashes, self.bulk_rows)

    def delete_sources(self, sources: list[str]) -> int:
        return self._change.delete_sources(sources)

    def commit(self, note: str = "") -> StoreVersion | None:
        """Make the staged writes the current version; None when nothing changed."""
        v = self._change.commit(note)
        if v is not None:
            self._log.saw(v.version)
        return v

    def rollback(self) -> None:
        self._change.rollback()

    @property
    def _bulk(self) -> bool:
        """Whether the open change-set is a bulk load (it dropped the search indexes, to build them at commit)."""
        return self._change.bulk
