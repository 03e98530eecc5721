"""LanceDB searches through its async API, called from synchronous code.

LanceDB's synchronous ``search()`` builds each query on the async one and, before it runs, asks
the table for its schema three times (which vector column, whether blobs need row ids, whether a
scan does): at 1M chunks that was 2.7 ms of a 22 ms vector query and 3 ms of a 14 ms full-text
query (Zen 3, 2026-12-07; the rows returned were identical). ``AsyncReaders`` builds the same
queries on ``lancedb.connect_async`` tables, checked out at the Lance version being read, and runs
them on one event loop in a daemon thread shared by every store of the process, so a search from
any thread (the server's workers, the benchmark's clients) waits only for its own query.

A process forked after LanceDB was opened cannot use it: LanceDB resets its runtime in a forked
child but calls its fork support experimental, and here a forked child's first search crashed
(SIGSEGV) or hung in 9 of 25 tries, on the async API and on the sync one (1 of 8 there; lancedb 0.40,
Zen 3, 2026-12-08). So such a child is refused with one line naming the fix (``check_not_forked``).
"""

from __future__ import annotations

import asyncio
import os
import threading
from collections.abc import Coroutine
from typing import Any, TypeVar

from ragtune.errors import KnowledgeBaseError

T = TypeVar("T")

_loop: asyncio.AbstractEventLoop | None = None
_loop_lock = threading.Lock()
_opened = False  # LanceDB has been opened in this process
_forked_after_open = False  # this process was forked from one that had opened LanceDB

FORKED = ("this process was forked after LanceDB was opened in its parent, and LanceDB is not safe across "
          "fork (a forked child's search can crash or hang); start worker processes with the 'spawn' or "
          "'forkserver' method (multiprocessing.set_start_method('spawn')), or open knowledge bases only in "
          "the workers (gunicorn: no --preload)")


def opened() -> None:
    """Note that LanceDB is in use in this process (a child forked from now on is refused)."""
    global _opened
    _opened = True


def check_not_forked() -> None:
    if _forked_after_open:
        raise KnowledgeBaseError(FORKED)


def run(coro: Coroutine[Any, Any, T]) -> T:
    """Run ``coro`` on the shared event loop (started on first use) and wait for its result."""
    global _loop
    check_not_forked()
    with _loop_lock:
        if _loop is None:
            loop = asyncio.new_event_loop()
            threading.Thread(target=loop.run_forever, name="ragtune-lance", daemon=True).start()
            _loop = loop
    return asyncio.run_coroutine_threadsafe(coro, _loop).result()


def _note_fork_in_child() -> None:
    """A forked child notes whether its parent had opened LanceDB. (The parent's loop and its lock need
    no reset: the loop exists only once a store has opened LanceDB, and then every call is refused.)"""
    global _forked_after_open
    _forked_after_open = _forked_after_open or _opened


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_note_fork_in_child)


class AsyncReaders:
    """The async handles of one LanceDB table, one per Lance version read (at most ``keep``)."""

    def __init__(self, uri: str, table: str, keep: int = 8):
        self.uri, self.table, self.keep = uri, table, keep
        self._db: Any = None
        self._tables: dict[int, Any] = {}
        self._lock = threading.Lock()

    def get(self, lance_version: int) -> Any:
        with self._lock:
            tbl = self._tables.get(lance_version)
            if tbl is None:
                tbl = run(self._open(lance_version))
                if len(self._tables) >= self.keep:
                    self._tables.clear()
                self._tables[lance_version] = tbl
            return tbl

    async def _open(self, lance_version: int) -> Any:
        import lancedb

        if self._db is None:
            self._db = await lancedb.connect_async(self.uri)
        tbl = await self._db.open_table(self.table)
        await tbl.checkout(lance_version)
        return tbl
