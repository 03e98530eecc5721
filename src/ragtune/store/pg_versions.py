"""The version log of a PostgreSQL knowledge base: table ``versions``, one row per committed change-set.

A version's rows are those with ``v_from <= N AND (v_to IS NULL OR v_to > N)``
(``pg_table.visible``); ``pg_write.py`` adds a row here when a change-set commits. A read names
a version or takes the newest; a named one is checked against the newest version this process
has seen, and the server is asked again only for a version past it.
"""

from __future__ import annotations

from ragtune.errors import KnowledgeBaseError
from ragtune.store.base import StoreVersion
from ragtune.store.pg_conn import Connections
from ragtune.store.pg_schema import Schema


class VersionLog:
    """The versions of the knowledge base in ``schema``, read through ``conns``."""

    def __init__(self, conns: Connections, schema: Schema):
        self.conns = conns
        self.schema = schema
        self.max_seen = -1  # versions up to this one are known to exist

    def all(self) -> list[StoreVersion]:
        with self.conns.read() as cur:
            cur.execute(self.schema.q("SELECT version, time, added, removed, note FROM {versions} ORDER BY version"))
            out = [StoreVersion(*r) for r in cur.fetchall()]
        self.saw(out[-1].version)
        return out

    def current(self) -> int:
        with self.conns.read() as cur:
            cur.execute(self.schema.q("SELECT max(version) FROM {versions}"))
            v = int(cur.fetchone()[0])
        self.saw(v)
        return v

    def saw(self, version: int) -> None:
        """Note that ``version`` exists (read from the server, or just committed)."""
        self.max_seen = max(self.max_seen, version)

    def at(self, version: int | None) -> int:
        """The version a read looks at; one that does not exist is an error."""
        if version is None:
            return self.current()
        if 0 <= version <= self.max_seen:
            return version
        current = self.current()
        if not 0 <= version <= current:
            raise KnowledgeBaseError(f"version {version} does not exist; versions are 0..{current}")
        return version
