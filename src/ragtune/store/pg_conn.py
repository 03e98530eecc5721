"""Connections of the PostgreSQL backend: the driver, each connection's set-up, the pool of read connections.

psycopg and pgvector come with the ``postgres`` extra and are imported when a store is opened.
Every connection registers pgvector's type and sets HNSW search for the session: iterative scans
(``strict_order``, so that version and metadata filters still fill ``k``) and ``hnsw.ef_search``.
Reads run on autocommit connections, one per concurrent reader, kept for reuse; the writer opens
its own (``pg_write.py``). A database error reaches the user as one line naming the server
without its password (``public_url``).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from ragtune.config import public_url
from ragtune.errors import KnowledgeBaseError


def driver() -> tuple[Any, Any]:
    """psycopg and pgvector's ``register_vector``, imported on first use: they come with the postgres extra."""
    try:
        import psycopg
        from pgvector.psycopg import register_vector
    except ImportError as e:
        raise KnowledgeBaseError(
            f"the postgres store needs psycopg and pgvector ({e.name} is missing); "
            "install them: pip install 'ragtune[postgres]'"
        ) from None
    return psycopg, register_vector


class Connections:
    """Connections to the server at ``url`` for the knowledge base in schema ``schema``.

    ``ef_search`` is the HNSW candidate list of the connections opened from then on.
    """

    def __init__(self, url: str, schema: str, ef_search: int):
        self.psycopg, self._register = driver()
        self.url = url
        self.schema = schema
        self.ef_search = ef_search
        self._idle: list[Any] = []  # read connections (autocommit), reused
        self._idle_lock = threading.Lock()

    def connect(self, autocommit: bool) -> Any:
        """A new connection, with pgvector registered and the HNSW settings made."""
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
    def read(self) -> Iterator[Any]:
        """A cursor on an idle autocommit connection (one per concurrent reader, kept for reuse)."""
        with self._idle_lock:
            conn = self._idle.pop() if self._idle else None
        if conn is None or conn.closed or conn.broken:
            conn = self.connect(autocommit=True)
        try:
            with conn.cursor() as cur:
                yield cur
        except self.psycopg.Error as e:
            raise self.error(e) from None
        finally:
            if not (conn.closed or conn.broken):
                self.keep(conn)

    def keep(self, conn: Any) -> None:
        """Put an autocommit connection with the idle ones, for the next read."""
        with self._idle_lock:
            self._idle.append(conn)

    def error(self, e: Exception) -> Exception:
        """A database error as one line for the user (a programming error stays what it is)."""
        first = (str(e).strip().splitlines() or [type(e).__name__])[0]
        if isinstance(e, self.psycopg.errors.UndefinedTable):
            return KnowledgeBaseError(f"schema {self.schema} is gone from {public_url(self.url)} (deleted from "
                                      "another machine?); delete this knowledge base or create it again")
        if isinstance(e, self.psycopg.OperationalError | self.psycopg.errors.QueryCanceled):
            return KnowledgeBaseError(f"{public_url(self.url)}: {first}")
        return e

    def close(self) -> None:
        """Close the idle read connections."""
        with self._idle_lock:
            conns, self._idle = self._idle, []
        for c in conns:
            if not c.closed:
                c.close()
