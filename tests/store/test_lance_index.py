"""The LanceDB store past ``store.index_threshold``: an IVF_PQ index ranks as exact search does.

Real vectors (the bundled embedder over real SQuAD sentences and Natural Questions contexts) and
real questions; the same rows go into a store that never indexes (exact, in memory) and one whose
threshold they pass, and every read is compared between the two. At this size every partition is
probed, so what is tested is the indexed path's plumbing (versions, ``as_of``, filters, the
rows added after training) and that its re-scored ranking is the exact one; recall at 100k and
1M chunks, where only some partitions are probed, is measured in ``benchmarks/bench_store.py``.
"""

from __future__ import annotations

import json
import re

import numpy as np
import pytest
from tests.conftest import KNOWLEDGE

from ragtune.config import load_settings
from ragtune.embedding import get_embedder
from ragtune.errors import KnowledgeBaseError
from ragtune.registry import resolve
from ragtune.store import lance_index, open_store
from ragtune.store.lance import LanceStore
from ragtune.types import Chunk

pytestmark = pytest.mark.slow  # embeds about a thousand texts with the real embedder
THRESHOLD = 500


def _sentences(text: str) -> list[str]:
    return [s for s in re.split(r"(?<=[.!?])\s+", text) if len(s) > 30]


@pytest.fixture(scope="module")
def real():
    """Chunks from real text (a source per paragraph, pages 1-3), their real vectors, real questions."""
    rows = [json.loads(line) for line in (KNOWLEDGE / "corpus.jsonl").open(encoding="utf-8")]
    chunks = []
    for p in rows:
        for i, s in enumerate(_sentences(p["text"])):
            chunks.append(Chunk(f"{p['id']}:{i}", p["id"], f"/docs/{p['id']}.txt", s, index=i, title=p["title"],
                                page=1 + i % 3))
    for j, u in enumerate(map(json.loads, (KNOWLEDGE / "updates.jsonl").open(encoding="utf-8"))):
        chunks.append(Chunk(f"u{j}", f"u{j}", f"/updates/{j}.txt", u["old_context"], title="updates", page=1))
    emb = get_embedder(resolve("minilm-l6", load_settings(env={})))
    vecs = emb.encode([c.text for c in chunks])
    qa = [json.loads(line) for line in (KNOWLEDGE / "qa.jsonl").open(encoding="utf-8")]
    questions = [q["question"] for q in qa[::15]]
    return chunks, vecs, np.stack([emb.embed_query(q) for q in questions])


def _fill(store: LanceStore, chunks, vecs, note="all") -> None:
    store.add(chunks, vecs, {c.source: "h" for c in chunks})
    store.commit(note)


@pytest.fixture(scope="module")
def pair(real, tmp_path_factory):
    """The same rows in an exact store (threshold 0: never index) and an indexed one."""
    chunks, vecs, _ = real
    exact = LanceStore(tmp_path_factory.mktemp("exact"), vecs.shape[1], index_threshold=0)
    indexed = LanceStore(tmp_path_factory.mktemp("indexed"), vecs.shape[1], index_threshold=THRESHOLD)
    for st in (exact, indexed):
        _fill(st, chunks, vecs)
    return exact, indexed


def _ids(hits) -> list[str]:
    return [c.chunk_id for c, _ in hits]


def test_the_index_is_built_past_the_threshold_and_ranks_as_exact_search(real, pair):
    chunks, _, queries = real
    exact, indexed = pair
    assert len(chunks) > THRESHOLD
    rec = indexed.versions()[-1].backend["vector_index"]
    assert rec["type"] == "IVF_PQ" and rec["trained_rows"] == len(chunks) and rec["partitions"] >= 2
    assert "vector_index" not in exact.versions()[-1].backend
    same_top1 = same_top10 = 0
    for q in queries:
        a, b = exact.search_dense(q, 10), indexed.search_dense(q, 10)
        assert len(b) == 10
        same_top1 += _ids(a)[0] == _ids(b)[0]
        same_top10 += _ids(a) == _ids(b)
        # refined on the full vectors: the scores are the exact cosines, not the codes' estimates
        by_id = dict((c.chunk_id, s) for c, s in a)
        for c, s in b:
            if c.chunk_id in by_id:
                assert s == pytest.approx(by_id[c.chunk_id], abs=1e-4)
    assert same_top1 == len(queries)
    assert same_top10 >= 0.95 * len(queries), f"top-10 equal for {same_top10} of {len(queries)} questions"
    # the indexed path holds no copy of the version's vectors in memory
    assert indexed._cache == {} and exact._cache != {}


def test_filters_and_reads_on_the_indexed_path_match_exact(real, pair):
    chunks, _, queries = real
    exact, indexed = pair
    source = chunks[0].source
    for filters in ({"source": source}, {"page": [2, 3]}, {"title": "updates"}):
        for q in queries[:10]:
            a, b = exact.search_dense(q, 10, filters), indexed.search_dense(q, 10, filters)
            assert _ids(a) == _ids(b), filters
    # a filter narrower than k keeps every row it allows (partitions are probed until k are found)
    few = [c.chunk_id for c in chunks if c.source == source]
    assert sorted(_ids(indexed.search_dense(queries[0], 50, {"source": source}))) == sorted(few)
    assert _ids(indexed.search_dense(queries[0], 10, where="page >= 2")) == \
        _ids(exact.search_dense(queries[0], 10, where="page >= 2"))
    with pytest.raises(KnowledgeBaseError, match="not valid LanceDB SQL"):
        indexed.search_dense(queries[0], 10, where="page >>= 2")
    for text in ("Super Bowl", "Nikola Tesla alternating current"):
        assert indexed.search_text(text, 10) == exact.search_text(text, 10)
        assert indexed.search_text(text, 10, {"page": 1}) == exact.search_text(text, 10, {"page": 1})
    ids = [chunks[5].chunk_id, chunks[-1].chunk_id, chunks[2].chunk_id]
    assert indexed.get_chunks(ids) == exact.get_chunks(ids)
    assert np.allclose(indexed.vectors_for(ids), exact.vectors_for(ids))
    assert indexed.all_chunks() == exact.all_chunks()
    assert indexed._cache == {}


def test_full_text_hits_bring_their_vectors(real, pair, monkeypatch):
    """A hybrid search reads the vectors of full-text-only hits: on the indexed path they come with
    the full-text query itself, so no second read by id is made for them."""
    chunks, _, _ = real
    exact, indexed = pair
    ids = [c.chunk_id for c, _ in indexed.search_text("Super Bowl", 10)]
    assert ids
    with monkeypatch.context() as m:
        m.setattr(indexed, "_rows_by_id", lambda *a, **k: pytest.fail("the hits' vectors were read again by id"))
        assert np.allclose(indexed.vectors_for(ids), exact.vectors_for(ids))
    others = [c.chunk_id for c in chunks if c.chunk_id not in ids][:3]  # not among the hits: read by id
    assert np.allclose(indexed.vectors_for(others + ids[:2]), exact.vectors_for(others + ids[:2]))


def test_hit_vectors_are_kept_per_version_and_bounded():
    import pyarrow as pa

    kept = lance_index.HitVectors(size=3)
    col = pa.array([[1.0, 0.0], [0.0, 1.0]], type=pa.list_(pa.float32(), 2))
    kept.put(7, ["a", "b"], col)
    assert sorted(kept.get(7, ["a", "b", "c"])) == ["a", "b"]
    assert kept.get(8, ["a", "b"]) == {}  # another version's rows may differ: never served from here
    kept.put(8, ["a", "b"], col)  # 4 entries for a size of 3: the oldest (7, "a") goes
    assert list(kept.get(7, ["a", "b"])) == ["b"] and np.allclose(kept.get(8, ["b"])["b"], [0.0, 1.0])


def test_a_commit_that_trains_the_index_compacts_the_table_first(real, tmp_path):
    """Every ingest batch is a file of its own; the commit that trains the index merges them and
    builds every index over the merged files (``lance_index.py``), and the reads stay right."""
    chunks, vecs, queries = real
    st = LanceStore(tmp_path, vecs.shape[1], index_threshold=THRESHOLD)
    step = len(chunks) // 4 + 1
    for i in range(0, len(chunks), step):
        st.add(chunks[i:i + step], vecs[i:i + step], {c.source: "h" for c in chunks[i:i + step]})
    st.commit("four batches")
    tbl = st._db.open_table("chunks")
    assert tbl.stats()["fragment_stats"]["num_fragments"] == 1
    assert {i.name for i in tbl.list_indices()} >= {lance_index.VECTOR_INDEX, lance_index.ID_INDEX}
    assert all(i.num_unindexed_rows == 0 for i in tbl.list_indices())
    exact = LanceStore(tmp_path / "exact", vecs.shape[1], index_threshold=0)
    _fill(exact, chunks, vecs)
    assert _ids(st.search_dense(queries[0], 10)) == _ids(exact.search_dense(queries[0], 10))
    assert st.search_text("Super Bowl", 10) == exact.search_text("Super Bowl", 10)


def test_new_tables_are_written_in_the_random_access_file_format(real, tmp_path):
    """Lance format 2.1: a search takes a chunk's 11 columns back in a third of 2.0's time
    (``lance_table.FILE_FORMAT``). The version is in the last 8 bytes of every data file."""
    import struct

    chunks, vecs, _ = real
    st = LanceStore(tmp_path, vecs.shape[1])
    _fill(st, chunks[:20], vecs[:20])
    files = list((tmp_path / "lance").rglob("*.lance"))
    files = [f for f in files if f.is_file() and f.parent.name == "data"]
    assert files
    for f in files:
        tail = f.read_bytes()[-8:]
        assert tail[4:] == b"LANC" and struct.unpack("<HH", tail[:4]) == (2, 1), f


def test_versions_and_as_of_on_the_indexed_path(real, tmp_path):
    chunks, vecs, queries = real
    st = LanceStore(tmp_path, vecs.shape[1], index_threshold=THRESHOLD)
    few = THRESHOLD // 2
    _fill(st, chunks[:few], vecs[:few], "below the threshold")
    assert "vector_index" not in st.versions()[-1].backend
    v1_top = _ids(st.search_dense(queries[0], 10))
    _fill(st, chunks[few:], vecs[few:], "past it")
    v2 = st.version()
    assert st.versions()[-1].backend["vector_index"]["trained_rows"] == len(chunks)
    # version 1 had no index: --as-of 1 is searched exactly, as it was
    assert _ids(st.search_dense(queries[0], 10, version=1)) == v1_top
    # a change-set after training: deleted rows leave, new rows are found through the index
    gone = chunks[-1].source
    st.delete_sources([gone])
    new = Chunk("new-0", "new", "/new.txt", "A brand new sentence about harbour cranes.", title="new")
    st.add([new], vecs[:1] * -1.0, {"/new.txt": "n"})
    v3 = st.commit("change")
    assert v3.backend["vector_index"] == st.versions()[-2].backend["vector_index"]  # not retrained
    (top, score), *_ = st.search_dense(vecs[0] * -1.0, 3)
    assert top.chunk_id == "new-0" and score == pytest.approx(1.0, abs=1e-4)
    assert gone not in {c.source for c, _ in st.search_dense(vecs[-1], 10)}
    assert gone in {c.source for c, _ in st.search_dense(vecs[-1], 10, version=v2)}
    assert "new-0" not in _ids(st.search_dense(vecs[0] * -1.0, 10, version=v2))
    assert st.count(v2) == len(chunks) and st.count() == len(chunks)
    # only version 1, searched exactly, has its vectors in memory
    assert set(st._cache) == {st.versions()[1].backend["lance_version"]}
    # hits' vectors are read by chunk id through a BTREE index, rows added after it was built included
    tbl = st._reader(None)
    assert lance_index.ID_INDEX in {i.name for i in tbl.list_indices()}
    plan = tbl.search().where("chunk_id IN ('new-0')").select(["chunk_id"]).limit(None).explain_plan(True)
    assert "ScalarIndex" in plan or "MaterializeIndex" in plan, plan
    np.testing.assert_allclose(st.vectors_for(["new-0", chunks[0].chunk_id]), np.stack([vecs[0] * -1.0, vecs[0]]),
                               atol=1e-6)


def test_below_the_threshold_nothing_changes(real, tmp_path):
    chunks, vecs, queries = real
    small = LanceStore(tmp_path, vecs.shape[1], index_threshold=len(chunks) + 1)
    _fill(small, chunks, vecs)
    assert "vector_index" not in small.versions()[-1].backend
    assert not lance_index.has_vector_index(small._reader(None))
    exact = LanceStore(tmp_path / "exact", vecs.shape[1], index_threshold=0)
    _fill(exact, chunks, vecs)
    for q in queries[:10]:
        assert small.search_dense(q, 10) == exact.search_dense(q, 10)
    assert small._cache != {}  # the in-memory exact path


def test_retraining_rule_and_the_setting():
    assert not lance_index.needs_training(None, 999, 1000)
    assert lance_index.needs_training(None, 1000, 1000)
    assert not lance_index.needs_training({"trained_rows": 1000}, 1999, 1000)
    assert lance_index.needs_training({"trained_rows": 1000}, 2000, 1000)
    assert not lance_index.needs_training(None, 10**9, 0)  # 0: never
    assert lance_index.partitions_for(1_000_000) == 1000 and lance_index.partitions_for(600) == 2
    s = load_settings(env={}, overrides=["store.index_threshold=1234"])
    assert s.store.index_threshold == 1234
    with pytest.raises(Exception, match="index_threshold"):
        load_settings(env={}, overrides=["store.index_threshold=-1"])


def test_open_store_gives_the_threshold_to_lance(tmp_path):
    st = open_store("lance", tmp_path, 8, index_threshold=77)
    assert isinstance(st, LanceStore) and st.index_threshold == 77
    assert open_store("lance", tmp_path, 8).index_threshold == LanceStore(tmp_path, 8).index_threshold
