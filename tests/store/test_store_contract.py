"""The ``Store`` contract, run against every backend, and the table that backends are found in.

``BACKENDS`` lists the backends the contract runs on: the built-in ``lance`` and ``postgres`` (on a
real server, see conftest.py) and ``memory``, a third-party store written here against nothing
but the protocol (it proves the contract is all a backend needs: a knowledge base ingests into
it and searches it). A new backend joins by name in ``BACKENDS``; ``WHERE`` gives it a sample of
its raw query language if it has one.
"""

from __future__ import annotations

import copy
import json
import re
import time

import numpy as np
import pytest

from ragtune.errors import ConfigError, KnowledgeBaseError
from ragtune.kb import KnowledgeBase, open_kb
from ragtune.store import (
    FILTER_FIELDS,
    STORES,
    LanceStore,
    StoreVersion,
    check_filters,
    open_store,
    register_store,
    store_class,
)
from ragtune.types import Chunk

DIM = 8
BACKENDS = ["lance", "memory", "postgres"]  # postgres: a real server (tests/store/conftest.py)
WHERE = {"lance": "page >= 2"}  # a raw filter in each backend's own language, keeping pages 2 and up


class MemoryStore:
    """A third-party backend: committed versions as snapshots in a dict shared by every instance
    opened on the same root (as a server would share them), no raw query language."""

    where_language = None
    _servers: dict[str, list[tuple[StoreVersion, dict]]] = {}

    def __init__(self, root, dim):
        self.dim = dim
        self._log = self._servers.setdefault(str(root), [(StoreVersion(0, time.time(), note="created"), {})])
        self._staged: dict | None = None
        self._added = self._removed = 0

    def _rows(self, version):
        if version is None:
            return self._log[-1][1]
        for v, rows in self._log:
            if v.version == version:
                return rows
        raise KnowledgeBaseError(f"version {version} does not exist")

    def _stage(self) -> dict:
        if self._staged is None:
            self._staged = dict(self._log[-1][1])
        return self._staged

    def add(self, chunks, vectors, file_hashes):
        if vectors.shape != (len(chunks), self.dim):
            raise KnowledgeBaseError(f"got vectors of shape {vectors.shape} for {len(chunks)} chunks")
        rows = self._stage()
        for c, v in zip(chunks, vectors, strict=True):
            rows[c.chunk_id] = (copy.deepcopy(c), np.asarray(v, np.float32), file_hashes.get(c.source, ""), time.time())
        self._added += len(chunks)

    def delete_sources(self, sources):
        rows = self._stage()
        gone = [cid for cid, (c, *_) in rows.items() if c.source in set(sources)]
        for cid in gone:
            del rows[cid]
        self._removed += len(gone)
        return len(gone)

    def commit(self, note=""):
        staged, self._staged = self._staged, None
        added, removed, self._added, self._removed = self._added, self._removed, 0, 0
        if staged is None or not (added or removed):
            return None
        v = StoreVersion(self._log[-1][0].version + 1, time.time(), added, removed, note)
        self._log.append((v, staged))
        return v

    def rollback(self):
        self._staged, self._added, self._removed = None, 0, 0

    def version(self):
        return self._log[-1][0].version

    def versions(self):
        return [v for v, _ in self._log]

    def _matching(self, filters, version, where):
        if where:
            raise KnowledgeBaseError("MemoryStore takes no raw where filter")
        wanted = check_filters(filters)
        return [r for r in self._rows(version).values()
                if all(getattr(r[0], f) in vals for f, vals in wanted.items())]

    def search_dense(self, vector, k, filters=None, version=None, *, where=None):
        rows = self._matching(filters, version, where)
        scored = sorted(((c, float(v @ vector)) for c, v, *_ in rows), key=lambda t: -t[1])
        return [(copy.deepcopy(c), s) for c, s in scored[:k]]

    def search_text(self, query, k, filters=None, version=None, *, where=None):
        terms = set(re.findall(r"\w+", query.lower()))
        rows = self._matching(filters, version, where)
        scored = [(c, float(sum(w in terms for w in re.findall(r"\w+", c.text.lower())))) for c, *_ in rows]
        scored = sorted((t for t in scored if t[1] > 0), key=lambda t: -t[1])
        return [(copy.deepcopy(c), s) for c, s in scored[:k]]

    def vectors_for(self, chunk_ids, version=None):
        rows = self._rows(version)
        return np.stack([rows[c][1] for c in chunk_ids]) if chunk_ids else np.zeros((0, self.dim), np.float32)

    def sources(self, version=None):
        return {c.source: h for c, _, h, _ in self._rows(version).values()}

    def documents(self, version=None):
        by: dict[str, dict] = {}
        for c, _, h, t in self._rows(version).values():
            d = by.setdefault(c.source, {"source": c.source, "title": c.title, "chunks": 0, "file_hash": h,
                                         "ingested_at": t, "doc_ids": set()})
            d["chunks"] += 1
            d["doc_ids"].add(c.doc_id)
        return [{**{k: v for k, v in d.items() if k != "doc_ids"}, "documents": len(d["doc_ids"])}
                for _, d in sorted(by.items())]

    def all_chunks(self, version=None):
        return sorted((copy.deepcopy(c) for c, *_ in self._rows(version).values()),
                      key=lambda c: (c.source, c.doc_id, c.index))

    def count(self, version=None):
        return len(self._rows(version))


@pytest.fixture
def memory_registered():
    before = dict(STORES)
    register_store("memory", MemoryStore)
    yield
    STORES.clear()
    STORES.update(before)
    MemoryStore._servers.clear()


@pytest.fixture(params=BACKENDS)
def make_store(request, tmp_path, memory_registered):
    """Opens a store of the backend under test on one knowledge-base folder (a second call: a second handle)."""
    url = request.getfixturevalue("pg_url") if request.param == "postgres" else None
    opened = []

    def make():
        opened.append(open_store(request.param, tmp_path / "kb", DIM, url))
        return opened[-1]

    yield make
    for st in opened:
        getattr(st, "close", lambda: None)()


def _vecs(n, seed):
    v = np.random.default_rng(seed).normal(size=(n, DIM)).astype(np.float32)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def _chunks(source, texts, page=None):
    return [Chunk(f"{source}-{i}", f"{source}#{i // 2}", source, t, index=i, title=source.strip("/"),
                  page=page if page is not None else i + 1) for i, t in enumerate(texts)]


def _filled(make_store):
    """v1: /a.txt (3 chunks, 2 documents) and /b.txt (1 chunk); v2: /a.txt deleted, /c.txt added."""
    st = make_store()
    va, vb, vc = _vecs(3, 1), _vecs(1, 2), _vecs(2, 3)
    st.add(_chunks("/a.txt", ["the red fox jumps", "a blue whale sings", "green grass grows"]), va, {"/a.txt": "ha"})
    st.add(_chunks("/b.txt", ["the whale of the river delta"]), vb, {"/b.txt": "hb"})
    st.commit("first")
    assert st.delete_sources(["/a.txt", "/never-ingested.txt"]) == 3
    st.add(_chunks("/c.txt", ["orange sunsets fade", "a river bank"]), vc, {"/c.txt": "hc"})
    st.commit("second")
    return st, {"/a.txt": va, "/b.txt": vb, "/c.txt": vc}


def test_a_new_store_is_version_0_and_empty(make_store):
    st = make_store()
    assert st.version() == 0 and [v.version for v in st.versions()] == [0]
    assert st.count() == 0 and st.sources() == {} and st.documents() == [] and st.all_chunks() == []
    assert st.search_dense(_vecs(1, 0)[0], 5) == [] and st.search_text("anything", 5) == []
    assert st.vectors_for([]).shape == (0, DIM)


def test_commits_make_versions_and_every_read_can_go_back(make_store):
    st, vecs = _filled(make_store)
    v0, v1, v2 = st.versions()
    assert (v1.version, v1.added, v1.removed, v1.note) == (1, 4, 0, "first")
    assert (v2.version, v2.added, v2.removed, v2.note) == (2, 2, 3, "second")
    assert st.version() == 2 and v0.time <= v1.time <= v2.time
    # current version
    assert st.count() == 3 and st.sources() == {"/b.txt": "hb", "/c.txt": "hc"}
    assert [c.chunk_id for c in st.all_chunks()] == ["/b.txt-0", "/c.txt-0", "/c.txt-1"]
    assert st.search_text("whale", 5)[0][0].chunk_id == "/b.txt-0" and len(st.search_text("fox", 5)) == 0
    # as of version 1: what was there before the delete
    assert st.count(version=1) == 4 and st.sources(version=1) == {"/a.txt": "ha", "/b.txt": "hb"}
    assert [c.text for c in st.all_chunks(version=1)][:3] == [
        "the red fox jumps", "a blue whale sings", "green grass grows"]
    assert [c.chunk_id for c, _ in st.search_text("fox", 5, version=1)] == ["/a.txt-0"]
    (top, score), *_ = st.search_dense(vecs["/a.txt"][1], 4, version=1)
    assert top.text == "a blue whale sings" and score == pytest.approx(1.0, abs=1e-5)
    np.testing.assert_allclose(st.vectors_for(["/a.txt-2", "/a.txt-0"], version=1), vecs["/a.txt"][[2, 0]], atol=1e-6)
    np.testing.assert_allclose(st.vectors_for(["/c.txt-1"]), vecs["/c.txt"][[1]], atol=1e-6)
    assert st.count(version=0) == 0
    with pytest.raises(KnowledgeBaseError, match="version 9 does not exist"):
        st.count(version=9)


def test_chunks_come_back_as_they_went_in(make_store):
    st = make_store()
    c = Chunk("x-0", "x#0", "/x.txt", "text with metadata", index=4, title="X", page=7, content_hash="ch",
              metadata={"lang": "en", "n": 2})
    st.add([c], _vecs(1, 4), {"/x.txt": "hx"})
    st.commit()
    assert st.all_chunks() == [c] and st.search_text("metadata", 1)[0][0] == c


def test_a_dense_score_is_the_cosine_of_the_stored_vector(make_store):
    """The retriever takes a dense hit's score as its similarity to the question, reading no vector."""
    st, _ = _filled(make_store)
    q = _vecs(1, 9)[0]
    hits = st.search_dense(q, 5)
    assert len(hits) == 3
    cos = st.vectors_for([c.chunk_id for c, _ in hits]) @ q
    np.testing.assert_allclose([s for _, s in hits], cos, atol=1e-5)


def test_documents_lists_each_source_file(make_store):
    st, _ = _filled(make_store)
    docs = st.documents(version=1)
    assert [(d["source"], d["title"], d["chunks"], d["documents"], d["file_hash"]) for d in docs] == [
        ("/a.txt", "a.txt", 3, 2, "ha"), ("/b.txt", "b.txt", 1, 1, "hb")]
    assert all(isinstance(d["ingested_at"], float) for d in docs)
    assert [d["source"] for d in st.documents()] == ["/b.txt", "/c.txt"]


def test_staged_writes_are_invisible_until_commit(make_store):
    st = make_store()
    st.add(_chunks("/a.txt", ["kept"]), _vecs(1, 5), {"/a.txt": "h"})
    st.commit()
    st.delete_sources(["/a.txt"])
    st.add(_chunks("/b.txt", ["staged"]), _vecs(1, 6), {"/b.txt": "h"})
    reader = make_store()
    assert reader.count() == 1 and reader.sources() == {"/a.txt": "h"} and reader.search_text("staged", 3) == []
    st.commit()
    assert reader.version() == 2 and reader.sources() == {"/b.txt": "h"}


def test_rollback_drops_staged_writes_and_an_empty_commit_makes_no_version(make_store):
    st = make_store()
    st.add(_chunks("/a.txt", ["one"]), _vecs(1, 7), {"/a.txt": "h"})
    st.commit()
    st.delete_sources(["/a.txt"])
    st.rollback()
    assert st.count() == 1 and st.version() == 1
    assert st.commit("nothing") is None and st.version() == 1 and len(st.versions()) == 2
    assert st.delete_sources(["/not-there.txt"]) == 0
    assert st.commit() is None and st.version() == 1


def test_vectors_of_the_wrong_width_are_refused(make_store):
    with pytest.raises(KnowledgeBaseError, match="vectors of shape"):
        make_store().add(_chunks("/a.txt", ["x"]), np.zeros((1, 3), np.float32), {})


@pytest.mark.parametrize(("filters", "expected"), [
    ({"source": "/c.txt"}, ["/c.txt-0", "/c.txt-1"]),
    ({"source": ["/b.txt", "/c.txt"]}, ["/b.txt-0", "/c.txt-0", "/c.txt-1"]),
    ({"doc_id": "/c.txt#0"}, ["/c.txt-0", "/c.txt-1"]),
    ({"chunk_id": ["/c.txt-1", "/b.txt-0"]}, ["/b.txt-0", "/c.txt-1"]),
    ({"title": "b.txt"}, ["/b.txt-0"]),
    ({"page": 2}, ["/c.txt-1"]),
    ({"page": ["1", "2"], "source": "/c.txt"}, ["/c.txt-0", "/c.txt-1"]),
    ({"source": "/c.txt", "title": "b.txt"}, []),
    ({"source": "it's quoted"}, []),
])
def test_filters_are_data_and_apply_to_both_searches(make_store, filters, expected):
    st, vecs = _filled(make_store)
    dense = st.search_dense(vecs["/c.txt"][0], 10, filters)
    text = st.search_text("the river orange sunsets bank whale", 10, filters=filters)
    assert sorted(c.chunk_id for c, _ in dense) == expected
    assert sorted(c.chunk_id for c, _ in text) == expected


def test_filters_reach_old_versions(make_store):
    st, vecs = _filled(make_store)
    hits = st.search_dense(vecs["/b.txt"][0], 10, {"source": "/a.txt"}, version=1)
    assert sorted(c.chunk_id for c, _ in hits) == ["/a.txt-0", "/a.txt-1", "/a.txt-2"]
    assert [c.chunk_id for c, _ in st.search_text("whale", 10, {"page": 2}, version=1)] == ["/a.txt-1"]


@pytest.mark.parametrize(("filters", "message"), [
    ({"text": "x"}, "cannot filter on 'text'; use one of chunk_id, doc_id, page, source, title"),
    ({"page": "two"}, "filter 'page' takes whole numbers"),
    ({"source": []}, "filter 'source' has an empty list"),
    ({"source": {"a": 1}}, "filter 'source' takes strings"),
])
def test_a_filter_that_cannot_be_used_is_one_line(make_store, filters, message):
    st, vecs = _filled(make_store)
    for search in (lambda: st.search_dense(vecs["/b.txt"][0], 3, filters), lambda: st.search_text("x", 3, filters)):
        with pytest.raises(KnowledgeBaseError, match=re.escape(message)) as e:
            search()
        assert "\n" not in str(e.value)


def test_the_raw_where_is_the_backends_own_language_or_refused(make_store):
    st, vecs = _filled(make_store)
    name = next(n for n, c in STORES.items() if isinstance(st, c))
    if st.where_language is None:
        assert name not in WHERE
        with pytest.raises(KnowledgeBaseError, match="where"):
            st.search_dense(vecs["/b.txt"][0], 3, where="page >= 2")
        return
    dense = st.search_dense(vecs["/b.txt"][0], 10, {"source": ["/b.txt", "/c.txt"]}, where=WHERE[name])
    text = st.search_text("the river bank", 10, {"source": ["/b.txt", "/c.txt"]}, where=WHERE[name])
    assert sorted(c.chunk_id for c, _ in dense) == sorted(c.chunk_id for c, _ in text) == ["/c.txt-1"]


def test_filters_are_checked_the_same_way_for_every_backend():
    assert FILTER_FIELDS == ("chunk_id", "doc_id", "page", "source", "title")
    assert check_filters(None) == {}
    assert check_filters({"page": "3", "doc_id": ("a", "b"), "title": 5}) == {
        "page": [3], "doc_id": ["a", "b"], "title": ["5"]}


# ---- the table ----------------------------------------------------------------------------------

def test_lance_is_registered_like_any_backend():
    assert STORES["lance"] is LanceStore and store_class("lance") is LanceStore
    assert LanceStore.where_language == "LanceDB SQL"


def test_an_unknown_backend_is_one_line_naming_the_known_ones(settings, tmp_path):
    with pytest.raises(ConfigError, match=r"^store\.backend: 'pgvector' is not a known store backend; "
                                          r"use one of 'lance'"):
        open_store("pgvector", tmp_path, DIM)
    settings.store.backend = "pgvector"
    with pytest.raises(ConfigError, match="'pgvector' is not a known store backend"):
        KnowledgeBase.create(settings, "kb")
    assert not (settings.data_dir / "kbs" / "kb").exists()


def test_a_name_is_not_taken_over_silently(memory_registered):
    with pytest.raises(ConfigError, match="'lance' is already ragtune.store.lance.LanceStore; pass replace=True"):
        register_store("lance", MemoryStore)
    assert register_store("memory", MemoryStore) is MemoryStore  # the same class again is fine
    with pytest.raises(ConfigError, match="not a backend name"):
        register_store("two words", MemoryStore)


def test_the_setting_picks_a_third_party_backend_and_the_kb_remembers_it(settings, tmp_path, memory_registered):
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "zephyr.txt").write_text("The moon base Zephyr-9 was founded by Captain Ilse Marrow in 2091.\n")
    (docs / "velmora.txt").write_text("The harbour of Velmora freezes every winter.\n")
    settings.store.backend = "memory"
    kb = KnowledgeBase.create(settings, "mem")
    assert isinstance(kb.store, MemoryStore)
    assert json.loads((kb.root / "kb.json").read_text())["store"] == "memory"
    rep = kb.ingest([docs])
    assert not rep.failed and rep.version == 1 and kb.info()["chunks"] == 2
    hit = kb.search("Who founded the moon base?", k=1)[0]
    assert "Ilse Marrow" in hit.chunk.text
    only = kb.search("Who founded the moon base?", k=2, filters={"source": str((docs / "velmora.txt").resolve())})
    assert [h.chunk.source for h in only] == [str((docs / "velmora.txt").resolve())]
    with pytest.raises(KnowledgeBaseError, match=r"takes no raw --where filter; use --filter key=value"):
        kb.search("moon", where="page = 1")
    # Opened later under the default setting, the knowledge base still uses the backend it was made with.
    settings.store.backend = "lance"
    again = open_kb(settings, "mem")
    assert isinstance(again.store, MemoryStore) and again.version() == 1
    assert kb.delete_source(docs / "zephyr.txt").version == 2 and again.store.count() == 1


def test_a_kb_json_from_before_the_setting_opens_as_lance(settings):
    kb = KnowledgeBase.create(settings, "old")
    meta = json.loads((kb.root / "kb.json").read_text())
    assert meta.pop("store") == "lance"
    (kb.root / "kb.json").write_text(json.dumps(meta))
    assert isinstance(KnowledgeBase.open(settings, "old").store, LanceStore)
