"""Cross-encoder reranking when a reranker folder is configured (none is bundled: the test builds one)."""

import pytest

from ragtune.config import load_settings
from ragtune.kb import KnowledgeBase
from ragtune.retrieve.fusion import reciprocal_rank_fusion

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
    scorer = CrossEncoder(str(folder), device="cpu")
    expected = scorer.predict([(q, h.chunk.text) for h in hits])
    assert [h.score for h in hits] == pytest.approx([float(x) for x in expected], abs=1e-5)
    assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)
    # The three kept are the cross-encoder's best of the 8 fused candidates, not the fusion's top 3.
    no_rerank = load_settings(env={}, data_dir=str(tmp_path / "data"), overrides=["retrieval.candidates=8"])
    candidates = KnowledgeBase.open(no_rerank, "kb").search(q, k=8)
    assert len(candidates) == 8
    ce_scores = [float(x) for x in scorer.predict([(q, h.chunk.text) for h in candidates])]
    best = sorted(zip(ce_scores, (h.chunk.chunk_id for h in candidates), strict=True), reverse=True)[:3]
    assert [h.chunk.chunk_id for h in hits] == [cid for _, cid in best]

    # Without rerank the fused RRF scores come back instead: recompute them from the two rankings.
    plain_kb = KnowledgeBase.open(load_settings(env={}, data_dir=str(tmp_path / "data")), "kb")
    plain = plain_kb.search(q, k=3)
    r = plain_kb.settings.retrieval
    n_cand, version = max(r.candidates, 3), plain_kb.version()
    dense = plain_kb.store.search_dense(plain_kb.embedder.embed_query(q), n_cand, None, version)
    text = plain_kb.store.search_text(q, n_cand, None, version)
    fused = reciprocal_rank_fusion([[c.chunk_id for c, _ in dense], [c.chunk_id for c, _ in text]],
                                   weights=[r.dense_weight, r.bm25_weight], k=r.rrf_k)[:3]
    assert [h.chunk.chunk_id for h in plain] == [cid for cid, _ in fused]
    assert [h.score for h in plain] == pytest.approx([score for _, score in fused], rel=1e-9)
    cross = [float(x) for x in scorer.predict([(q, h.chunk.text) for h in plain])]
    assert [h.score for h in plain] != pytest.approx(cross, abs=1e-3)  # not cross-encoder scores
