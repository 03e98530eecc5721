"""The schema of a PostgreSQL knowledge base: its name, its tables named in SQL, its creation.

Each knowledge base is one schema on the server, ``ragtune_<name>`` (``name`` is the knowledge
base's folder name, so ``ragtune kb create NAME --store URL`` on a second machine opens the same
one), holding three tables (their SQL: ``pg_sql.py``)::

    versions(version, time, added, removed, note, n_chunks, total_len)   one row per change-set
    chunks(row_id, chunk_id, ..., embedding vector(dim), tsv tsvector, v_from, v_to)
    terms(term, version, ddf)                      what each version changed in a term's df

The statements of ``pg_sql`` name them by placeholder (``{chunks}``, ``{versions}``, ...) and
``Schema.q`` fills in the quoted identifiers. The first store to open a knowledge base creates its
schema, under the knowledge base's advisory lock; every later one checks its vectors' width.
"""

from __future__ import annotations

import hashlib
import time
from typing import Any

from ragtune.errors import KnowledgeBaseError
from ragtune.store import pg_sql

TS_CONFIG = "english"  # text search configuration of the stored tsvector and of every query


def schema_name(name: str) -> str:
    """The server schema of knowledge base ``name`` (names past 55 characters get a hash suffix)."""
    if len(name) <= 55:
        return f"ragtune_{name}"
    return f"ragtune_{name[:46]}_{hashlib.sha1(name.encode()).hexdigest()[:8]}"


class Schema:
    """Schema ``name`` of a knowledge base with ``dim``-wide vectors."""

    def __init__(self, name: str, dim: int):
        from psycopg import sql  # the postgres extra, imported by the store's Connections already

        self.sql = sql
        self.name = name
        self.dim = dim
        self.chunks = sql.Identifier(name, "chunks")
        self.versions = sql.Identifier(name, "versions")

    def q(self, text: str, **parts: Any) -> Any:
        """``text`` (see ``pg_sql``) with this knowledge base's tables and constants filled in."""
        sql = self.sql
        return sql.SQL(text).format(
            schema=sql.Identifier(self.name), chunks=self.chunks, versions=self.versions,
            terms=sql.Identifier(self.name, "terms"), dim=sql.Literal(self.dim), cfg=sql.Literal(TS_CONFIG),
            **parts)

    def ensure(self, conn: Any, where: str) -> None:
        """Create the schema, tables and indexes on first use; check the vector width after.
        ``conn``: an autocommit connection; ``where``: the server, for the message."""
        row = conn.execute("SELECT atttypmod FROM pg_attribute WHERE attrelid = to_regclass(%s) "
                           "AND attname = 'embedding'", [f'"{self.name}".chunks']).fetchone()
        if row is None:
            with conn.transaction():
                conn.execute(pg_sql.LOCK, [pg_sql.LOCK_CLASS, self.name])
                for statement in pg_sql.CREATE:
                    conn.execute(self.q(statement), [time.time()] if "%s" in statement else None)
        elif row[0] != self.dim:
            raise KnowledgeBaseError(
                f"schema {self.name} on {where} holds {row[0]}-wide vectors, "
                f"not {self.dim}; it belongs to a knowledge base made with another embedder")
