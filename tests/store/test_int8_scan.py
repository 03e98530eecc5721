"""The int8 first pass of the exact dense scan (``store.dense_scan``) returns what the float32 scan does.

Real vectors: the bundled embedder over the knowledge example's sentences, each repeated with
noise up to 25,000 rows (past ``INT8_MIN_ROWS``; near-duplicates are the hard case for a coarse
first pass), and real questions. The same rows go into a store scanned in float32 and one scanned
with the int8 pass; every search is compared between the two: the same top-10 in the same order
with the same (float32, rescored) scores, with and without a filter.
"""

from __future__ import annotations

import json
import re
import sys

import numpy as np
import pytest
from tests.conftest import KNOWLEDGE

from ragtune.config import load_settings
from ragtune.embedding import get_embedder
from ragtune.errors import ConfigError, EngineError, KnowledgeBaseError
from ragtune.kb import KnowledgeBase
from ragtune.registry import resolve
from ragtune.store import int8_scan
from ragtune.store.lance import LanceStore
from ragtune.store.lance_exact import INT8_MIN_ROWS, use_int8
from ragtune.types import Chunk

pytestmark = pytest.mark.slow  # embeds a few hundred sentences with the real embedder
ROWS = 25_000


@pytest.fixture(scope="module")
def stores(tmp_path_factory):
    rows = [json.loads(line) for line in (KNOWLEDGE / "corpus.jsonl").open(encoding="utf-8")]
    texts = [s for p in rows for s in re.split(r"(?<=[.!?])\s+", p["text"]) if len(s) > 30]
    emb = get_embedder(resolve("minilm-l6", load_settings(env={})))
    base = emb.encode(texts)
    rng = np.random.default_rng(0)
    idx = np.arange(ROWS) % len(texts)
    vecs = base[idx] + np.where(idx[:, None] == np.arange(ROWS)[:, None], 0.0,
                                0.025 * rng.standard_normal((ROWS, base.shape[1])))
    vecs = (vecs / np.linalg.norm(vecs, axis=1, keepdims=True)).astype(np.float32)
    chunks = [Chunk(f"c{i}", f"d{i % 97}", f"/docs/{i % 97}.txt", texts[j], index=i, page=1 + i % 2)
              for i, j in enumerate(idx)]
    out = {}
    for scan in ("float32", "int8"):
        st = LanceStore(tmp_path_factory.mktemp(scan), vecs.shape[1], dense_scan=scan)
        st.add(chunks, vecs, {c.source: "h" for c in chunks})
        st.commit("all")
        out[scan] = st
    qa = [json.loads(line) for line in (KNOWLEDGE / "qa.jsonl").open(encoding="utf-8")]
    queries = np.stack([emb.embed_query(q["question"]) for q in qa[::4]])
    return out, queries


def _top(store, q, **kw):
    return [(c.chunk_id, s) for c, s in store.search_dense(q, 10, **kw)]


def test_the_int8_pass_finds_the_float32_top_10_with_its_scores(stores):
    st, queries = stores
    assert st["int8"]._dense(None).int8 is not None and st["float32"]._dense(None).int8 is None
    assert len(queries) >= 40
    for q in queries:
        a, b = _top(st["float32"], q), _top(st["int8"], q)
        assert [c for c, _ in a] == [c for c, _ in b]
        np.testing.assert_allclose([s for _, s in a], [s for _, s in b], rtol=0, atol=1e-6)


def test_the_int8_pass_keeps_to_a_filter(stores):
    st, queries = stores
    for q in queries[:10]:
        a = _top(st["float32"], q, where="page = 2")
        b = _top(st["int8"], q, where="page = 2")
        assert [c for c, _ in a] == [c for c, _ in b] and len(b) == 10
        assert all(int(c[1:]) % 2 == 1 for c, _ in b)  # page 2 holds the odd rows


def test_the_scan_is_chosen_by_setting_and_size():
    assert not use_int8("auto", INT8_MIN_ROWS - 1)
    assert use_int8("auto", INT8_MIN_ROWS) == int8_scan.available()
    assert use_int8("int8", 10) and not use_int8("float32", 10**7)
    with pytest.raises(ConfigError, match="dense_scan.*float32"):
        use_int8("fp8", 10)


def test_a_bad_scan_name_fails_when_the_store_opens(tmp_path):
    with pytest.raises((ConfigError, KnowledgeBaseError), match="dense_scan"):
        LanceStore(tmp_path, 4, dense_scan="fast")


def test_int8_without_onnxruntime_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "onnxruntime", None)
    int8_scan._session.cache_clear()
    try:
        assert not int8_scan.available()
        with pytest.raises(EngineError, match=r"'onnxruntime' is not installed: pip install 'ragtune\[onnx\]'"):
            int8_scan.Int8Scan(np.ones((3, 4), np.float32))
    finally:
        int8_scan._session.cache_clear()


def test_a_knowledge_base_opens_its_store_with_the_store_settings(tmp_path):
    s = load_settings(env={}, data_dir=str(tmp_path), overrides=["store.dense_scan=float32",
                                                                 "store.index_threshold=1234"])
    kb = KnowledgeBase.create(s, "scan")
    assert kb.store.dense_scan == "float32" and kb.store.index_threshold == 1234
