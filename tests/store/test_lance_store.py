"""The store's promises: versions, time travel, atomic change-sets, crash recovery, filters."""

import numpy as np
import pytest

from ragtune.errors import KnowledgeBaseError
from ragtune.store.lance import LanceStore
from ragtune.types import Chunk

DIM = 8


def _chunks(source, texts):
    return [Chunk(f"{source}-{i}", f"{source}#0", source, t, index=i, title=source) for i, t in enumerate(texts)]


def _vecs(n, seed):
    v = np.random.default_rng(seed).normal(size=(n, DIM)).astype(np.float32)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def test_empty_store_searches_return_nothing(tmp_path):
    st = LanceStore(tmp_path, DIM)
    assert st.version() == 0 and st.count() == 0
    assert st.search_dense(_vecs(1, 0)[0], 5) == []
    assert st.search_text("anything", 5) == []


def test_add_commit_search_and_versions(tmp_path):
    st = LanceStore(tmp_path, DIM)
    vecs = _vecs(3, 1)
    st.add(_chunks("/a.txt", ["the red fox jumps", "a blue whale sings", "green grass grows"]), vecs, {"/a.txt": "h1"})
    v1 = st.commit("first")
    assert v1.version == 1 and v1.added == 3
    # Exact dense search: a stored vector is its own nearest neighbour with cosine 1.
    (top, score), *_ = st.search_dense(vecs[1], 3)
    assert top.text == "a blue whale sings" and score == pytest.approx(1.0, abs=1e-5)
    assert [c.text for c, _ in st.search_text("whale", 3)] == ["a blue whale sings"]
    assert st.sources() == {"/a.txt": "h1"}
    # Second change-set: delete and add in one version.
    st.delete_sources(["/a.txt"])
    st.add(_chunks("/b.txt", ["orange sunsets fade"]), _vecs(1, 2), {"/b.txt": "h2"})
    v2 = st.commit("second")
    assert v2.version == 2 and v2.removed == 3 and v2.added == 1
    assert st.count() == 1 and st.search_text("whale", 3) == []
    # The earlier version is still queryable.
    assert st.count(version=1) == 3
    assert [c.text for c, _ in st.search_text("whale", 3, version=1)] == ["a blue whale sings"]
    with pytest.raises(KnowledgeBaseError, match="version 9 does not exist"):
        st.count(version=9)


def test_uncommitted_writes_are_invisible_and_rolled_back_after_a_crash(tmp_path):
    st = LanceStore(tmp_path, DIM)
    st.add(_chunks("/a.txt", ["kept text"]), _vecs(1, 3), {"/a.txt": "h"})
    st.commit()
    # A writer that dies half-way: chunks deleted and new ones added, but no commit.
    st.delete_sources(["/a.txt"])
    st.add(_chunks("/b.txt", ["half written"]), _vecs(1, 4), {"/b.txt": "h"})
    st._release()  # the process died: its lock is gone, the record was never written
    other = LanceStore(tmp_path, DIM)  # a reader meanwhile sees the committed version only
    assert [c.text for c, _ in other.search_text("kept", 5)] == ["kept text"]
    assert other.count() == 1
    # The next writer rolls the half-written change back before it starts.
    other.add(_chunks("/c.txt", ["new text"]), _vecs(1, 5), {"/c.txt": "h"})
    other.commit()
    assert sorted(other.sources()) == ["/a.txt", "/c.txt"]


def test_rollback_discards_staged_changes(tmp_path):
    st = LanceStore(tmp_path, DIM)
    st.add(_chunks("/a.txt", ["one"]), _vecs(1, 6), {"/a.txt": "h"})
    st.commit()
    st.delete_sources(["/a.txt"])
    st.rollback()
    assert st.count() == 1 and st.version() == 1
    st.add(_chunks("/b.txt", ["two"]), _vecs(1, 7), {"/b.txt": "h"})
    st.commit()
    assert st.count() == 2


def test_second_writer_is_refused_while_one_writes(tmp_path):
    a = LanceStore(tmp_path, DIM)
    b = LanceStore(tmp_path, DIM)
    a.add(_chunks("/a.txt", ["one"]), _vecs(1, 8), {"/a.txt": "h"})
    with pytest.raises(KnowledgeBaseError, match="being changed by another process"):
        b.add(_chunks("/b.txt", ["two"]), _vecs(1, 9), {"/b.txt": "h"})
    a.commit()
    b.add(_chunks("/b.txt", ["two"]), _vecs(1, 9), {"/b.txt": "h"})
    b.commit()
    assert a.count() == 2


def test_filters_apply_to_dense_and_text_search(tmp_path):
    st = LanceStore(tmp_path, DIM)
    vecs = _vecs(2, 10)
    st.add(_chunks("/a.txt", ["river bank"]) + _chunks("/b.txt", ["river delta"]), vecs, {})
    st.commit()
    dense = st.search_dense(vecs[0], 5, where="source = '/b.txt'")
    assert [c.source for c, _ in dense] == ["/b.txt"]
    text = st.search_text("river", 5, where="source = '/a.txt'")
    assert [c.source for c, _ in text] == ["/a.txt"]


def test_wrong_vector_shape_is_refused(tmp_path):
    st = LanceStore(tmp_path, DIM)
    with pytest.raises(KnowledgeBaseError, match="vectors of shape"):
        st.add(_chunks("/a.txt", ["x"]), np.zeros((1, 3), np.float32), {})


def test_all_chunks_of_a_version(tmp_path):
    st = LanceStore(tmp_path, DIM)
    st.add(_chunks("/b.txt", ["b0", "b1"]) + _chunks("/a.txt", ["a0"]), _vecs(3, 11), {})
    st.commit()
    st.delete_sources(["/b.txt"])
    st.commit()
    assert [c.text for c in st.all_chunks(version=1)] == ["a0", "b0", "b1"]
    assert [c.text for c in st.all_chunks()] == ["a0"]
