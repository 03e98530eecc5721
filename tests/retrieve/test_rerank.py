"""Cross-encoder reranking when a reranker folder is configured (none is bundled: the test builds one)."""

import pytest

from ragtune.config import load_settings
from ragtune.kb import KnowledgeBase

pytestmark = pytest.mark.slow


def test_rerank_orders_hits_by_the_cross_encoder(tmp_path, corpus_dir):
    import torch
    from sentence_transformers import CrossEncoder

    from ragtune.registry import resolve

    torch.manual_seed(0)
    ce = CrossEncoder(resolve("minilm-l6").path, device="cpu", local_files_only=True, num_labels=1)
    folder = tmp_path / "reranker"
    ce.save(str(folder))
    s = load_settings(env={}, data_dir=str(tmp_path / "data"),
                      overrides=[f'models.reranker="{folder}"', "retrieval.rerank=true", "retrieval.candidates=8"])
    kb = KnowledgeBase.create(s, "kb")
    kb.ingest([corpus_dir])
    q = "Which team won Super Bowl 50?"
    hits = kb.search(q, k=3)
    assert len(hits) == 3
    expected = CrossEncoder(str(folder), device="cpu").predict([(q, h.chunk.text) for h in hits])
    assert [h.score for h in hits] == pytest.approx([float(x) for x in expected], abs=1e-5)
    assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)
    # Without rerank the fused RRF scores come back instead.
    plain = KnowledgeBase.open(load_settings(env={}, data_dir=str(tmp_path / "data")), "kb").search(q, k=3)
    assert all(h.score < 0.1 for h in plain)
