"""Writers in other processes: one killed with SIGKILL half-way through a change-set, two at once.

Each writer is a real ``python`` subprocess that opens the store, stages a change-set, says
``staged`` on stdout and waits for a line on stdin before it commits, so the test decides
exactly when it dies or commits.
"""

from __future__ import annotations

import os
import select
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from ragtune.store import open_store
from ragtune.types import Chunk

DIM = 8
WRITER = r"""
import sys
import numpy as np
from ragtune.store import open_store
from ragtune.types import Chunk

backend, root, url, source, n, delete = sys.argv[1:7]
st = open_store(backend, root, 8, url or None)
if delete:
    st.delete_sources([delete])
chunks = [Chunk(f"{source}-{i}", f"{source}#{i}", source, f"{source} text {i}", index=i) for i in range(int(n))]
st.add(chunks, np.eye(8, dtype=np.float32)[np.arange(int(n)) % 8], {source: "h-" + source})
print("staged", flush=True)
sys.stdin.readline()
print("committed", st.commit("from " + source).version, flush=True)
"""


def _writer(backend, root, url, source, n=3, delete=""):
    return subprocess.Popen([sys.executable, "-c", WRITER, backend, str(root), url or "", source, str(n), delete],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _expect(proc, word, timeout=60.0):
    """The next stdout line of ``proc``, which must start with ``word`` (within ``timeout`` seconds)."""
    ready, _, _ = select.select([proc.stdout], [], [], timeout)
    assert ready, f"writer said nothing in {timeout} s"
    line = proc.stdout.readline()
    assert line.startswith(word), f"writer said {line!r}; stderr: {proc.stderr.read() if proc.poll() else ''}"
    return line.split()


def _finish(proc):
    proc.stdin.write("\n")
    proc.stdin.flush()
    version = int(_expect(proc, "committed")[1])
    assert proc.wait(timeout=30) == 0
    return version


@pytest.fixture(params=["lance", "postgres"])
def store_at(request, tmp_path):
    url = request.getfixturevalue("pg_url") if request.param == "postgres" else None
    root = tmp_path / "kb"
    st = open_store(request.param, root, DIM, url)
    st.add([Chunk("/old.txt-0", "/old.txt#0", "/old.txt", "old text", index=0)], np.eye(DIM, dtype=np.float32)[:1],
           {"/old.txt": "h-old"})
    st.commit("first")
    yield request.param, root, url, st
    getattr(st, "close", lambda: None)()


def test_a_writer_killed_mid_change_set_leaves_the_previous_version_current(store_at):
    backend, root, url, st = store_at
    proc = _writer(backend, root, url, "/new.txt", delete="/old.txt")
    try:
        _expect(proc, "staged")
        os.kill(proc.pid, signal.SIGKILL)
        assert proc.wait(timeout=30) == -signal.SIGKILL
    finally:
        if proc.poll() is None:
            proc.kill()
    assert st.version() == 1 and st.sources() == {"/old.txt": "h-old"} and st.count() == 1
    # nothing to roll back by hand: the next writer commits version 2 on top of version 1
    nxt = _writer(backend, root, url, "/next.txt", n=2)
    _expect(nxt, "staged")
    assert _finish(nxt) == 2
    again = open_store(backend, root, DIM, url)
    assert again.sources() == {"/old.txt": "h-old", "/next.txt": "h-/next.txt"} and again.count() == 3
    assert [v.note for v in again.versions()] == ["created", "first", "from /next.txt"]
    assert again.search_text("new", 5) == [] and again.search_text("next", 5)


def _waiting_for_the_lock(url: str) -> int:
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        return conn.execute("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted "
                            "AND database = (SELECT oid FROM pg_database WHERE datname = current_database())"
                            ).fetchone()[0]


def test_two_writers_at_once_are_serialised_by_the_database(pg_url, tmp_path):
    root = tmp_path / "kb"
    st = open_store("postgres", root, DIM, pg_url)
    a = _writer("postgres", root, pg_url, "/a.txt", n=3)
    b = None
    try:
        _expect(a, "staged")
        b = _writer("postgres", root, pg_url, "/b.txt", n=2)
        deadline = time.monotonic() + 60
        while _waiting_for_the_lock(pg_url) == 0:  # b queues in the database behind a's change-set
            assert time.monotonic() < deadline and b.poll() is None, b.stderr.read() if b.poll() else "b never waited"
            time.sleep(0.1)
        assert st.version() == 0 and st.count() == 0
        assert _finish(a) == 1
        _expect(b, "staged")
        assert _finish(b) == 2
    finally:
        for p in (a, b):
            if p is not None and p.poll() is None:
                p.kill()
    assert [(v.version, v.added, v.note) for v in st.versions()] == [
        (0, 0, "created"), (1, 3, "from /a.txt"), (2, 2, "from /b.txt")]
    assert st.sources(version=1) == {"/a.txt": "h-/a.txt"}
    assert st.sources() == {"/a.txt": "h-/a.txt", "/b.txt": "h-/b.txt"} and st.count() == 5
    st.close()
