"""A knowledge base remembers its embedding backend and refuses one whose vectors do not mix with it."""

from __future__ import annotations

import json

import numpy as np
import pytest

from ragtune.config import load_settings
from ragtune.errors import KnowledgeBaseError
from ragtune.ingest.sync import length_buckets
from ragtune.kb import KnowledgeBase


def _settings(tmp_path, backend: str):
    return load_settings(env={}, data_dir=str(tmp_path / "data"), overrides=[f"embedding.backend={backend}"])


def test_the_backend_is_recorded_and_a_float_kb_takes_another_float_backend(tmp_path, corpus_dir):
    kb = KnowledgeBase.create(_settings(tmp_path, "torch"), "k")
    kb.ingest([corpus_dir], show_progress=False)
    assert json.loads((kb.root / "kb.json").read_text())["embedding_backend"] == "torch"
    q = "When did Beyonce start becoming popular?"
    want = [h.chunk.chunk_id for h in kb.search(q, k=3, mode="dense")]

    other = KnowledgeBase.open(_settings(tmp_path, "onnx"), "k")  # same vectors (cosine 1.0): allowed
    assert other.embedder.backend_name == "onnx"
    assert [h.chunk.chunk_id for h in other.search(q, k=3, mode="dense")] == want
    auto = KnowledgeBase.open(_settings(tmp_path, "auto"), "k")
    assert auto.embedding_backend() == "onnx"  # auto takes the faster default when it mixes with the record
    assert auto.info()["embedding_backend"] == "torch"  # the record says what built it


def test_an_int8_kb_refuses_float_vectors_and_a_float_kb_refuses_int8(tmp_path, corpus_dir):
    kb = KnowledgeBase.create(_settings(tmp_path, "onnx-int8"), "q")
    kb.ingest([corpus_dir], show_progress=False)
    with pytest.raises(KnowledgeBaseError, match="built with embedding backend onnx-int8, whose vectors do not mix "
                                                 "with torch's"):
        KnowledgeBase.open(_settings(tmp_path, "torch"), "q").search("anything")
    assert KnowledgeBase.open(_settings(tmp_path, "auto"), "q").embedding_backend() == "onnx-int8"
    KnowledgeBase.create(_settings(tmp_path, "torch"), "f")
    with pytest.raises(KnowledgeBaseError, match="re-create the knowledge base with onnx-int8"):
        KnowledgeBase.open(_settings(tmp_path, "onnx-int8"), "f").ingest([corpus_dir], show_progress=False)
    assert KnowledgeBase.open(_settings(tmp_path, "auto"), "f").version() == 0  # nothing was written


def test_a_kb_from_before_the_record_counts_as_torch(tmp_path, corpus_dir):
    kb = KnowledgeBase.create(_settings(tmp_path, "torch"), "old")
    meta = json.loads((kb.root / "kb.json").read_text())
    del meta["embedding_backend"]
    (kb.root / "kb.json").write_text(json.dumps(meta))
    with pytest.raises(KnowledgeBaseError, match="built with embedding backend torch"):
        KnowledgeBase.open(_settings(tmp_path, "onnx-int8"), "old").embedder  # noqa: B018


def test_ingest_embeds_every_chunk_in_its_own_order(tmp_path, corpus_dir):
    """Reading overlaps embedding and batches are sorted by length: the stored vectors must still be each
    chunk's own (compared with one plain encode of the chunk texts in file order). A float backend, whose
    vector of a text does not depend on the texts batched with it (int8's moves a little: it scales each
    batch's activations together)."""
    s = load_settings(env={}, data_dir=str(tmp_path / "data"), overrides=["ingest.batch_size=4",
                                                                         "embedding.backend=onnx"])
    kb = KnowledgeBase.create(s, "order")
    rep = kb.ingest([corpus_dir], show_progress=False)
    chunks = kb.store.all_chunks()
    assert rep.chunks_added == len(chunks) > 12
    stored = kb.store.vectors_for([c.chunk_id for c in chunks])
    fresh = kb.embedder.encode([c.text for c in chunks], batch_size=1)
    assert np.min(np.sum(stored * fresh, axis=1)) > 0.9999
    assert {"read_chunk_s", "embed_s", "read_embed_s", "store_s", "total_s"} <= set(rep.timings)


def test_length_buckets_hold_similar_lengths_and_every_position_once():
    texts = ["x" * n for n in (5, 50, 1, 30, 7, 44, 2)]
    buckets = length_buckets(texts, 3)
    assert sorted(i for b in buckets for i in b) == list(range(len(texts)))
    assert [[len(texts[i]) for i in b] for b in buckets] == [[50, 44, 30], [7, 5, 2], [1]]
