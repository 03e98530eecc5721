"""LanceDB's searches run on its async API from one event loop thread (``store/lance_async.py``)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np

from ragtune.store import lance_async
from ragtune.store.lance import LanceStore
from ragtune.types import Chunk

TEXTS = ["Harbour cranes lift containers.", "The Broncos won Super Bowl 50.", "Von Miller was named MVP.",
         "Tesla worked on alternating current.", "Warsaw lies on the Vistula river."]


def _store(tmp_path) -> tuple[LanceStore, np.ndarray]:
    rng = np.random.default_rng(0)
    vecs = rng.standard_normal((len(TEXTS), 8)).astype(np.float32)
    vecs /= np.linalg.norm(vecs, axis=1, keepdims=True)
    st = LanceStore(tmp_path, 8)
    chunks = [Chunk(f"c{i}", f"d{i}", f"/d/{i}.txt", t, title="t") for i, t in enumerate(TEXTS)]
    st.add(chunks, vecs, {c.source: "h" for c in chunks})
    st.commit("five")
    return st, vecs


FORK_SCRIPT = """
import json, multiprocessing as mp, sys
from pathlib import Path
from tests.store.test_lance_async import _store
from ragtune.store.lance import LanceStore

def child(path, q):
    q.put([c.chunk_id for c, _ in LanceStore(path, 8).search_text("Super Bowl MVP", 5)])

if __name__ == "__main__":
    st, _ = _store(Path(sys.argv[1]))
    parent = [c.chunk_id for c, _ in st.search_text("Super Bowl MVP", 5)]  # the parent's loop is running now
    q = mp.get_context("fork").Queue()
    p = mp.get_context("fork").Process(target=child, args=(Path(sys.argv[1]), q))
    p.start()
    p.join(30)
    if p.is_alive():
        p.kill()
        sys.exit("the forked child's search did not finish (it waited on its parent's loop)")
    print(json.dumps([parent, q.get(timeout=5)]))
"""


def test_a_forked_child_searches_on_a_loop_of_its_own(tmp_path):
    """Forked from a fresh interpreter: forking pytest's own process, with the threads of torch, onnxruntime
    and earlier tests' servers in it, can deadlock in any library that held a lock at fork time (LanceDB
    calls its fork support experimental), which is not what this test is about."""
    script = tmp_path / "fork.py"
    script.write_text(FORK_SCRIPT, encoding="utf-8")
    root = Path(__file__).resolve().parents[2]
    res = subprocess.run([sys.executable, "-W", "ignore", str(script), str(tmp_path / "kb")], cwd=root,
                         env={**os.environ, "PYTHONPATH": str(root)}, capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr[-2000:]
    parent, child = json.loads(res.stdout.strip().splitlines()[-1])
    assert parent[:2] and set(parent[:2]) == {"c1", "c2"} and child == parent


def test_concurrent_searches_from_threads_get_their_own_answers(tmp_path):
    st, vecs = _store(tmp_path)
    want = {t: [c.chunk_id for c, _ in st.search_text(t, 3)] for t in TEXTS}
    got: dict[str, list[str]] = {}

    def ask(t: str) -> None:
        for _ in range(10):
            got.setdefault(t, []).append(tuple(c.chunk_id for c, _ in st.search_text(t, 3)))

    threads = [threading.Thread(target=ask, args=(t,)) for t in TEXTS]
    for th in threads:
        th.start()
    for th in threads:
        th.join(60)
    assert {t: set(v) for t, v in got.items()} == {t: {tuple(w)} for t, w in want.items()}
    assert lance_async._loop is not None and lance_async._loop.is_running()
