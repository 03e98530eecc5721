import pytest

from ragtune.retrieve.fusion import reciprocal_rank_fusion


def test_rrf_matches_hand_computation():
    fused = dict(reciprocal_rank_fusion([["a", "b", "c"], ["c", "a"]], k=60))
    assert fused["a"] == pytest.approx(1 / 61 + 1 / 62)
    assert fused["b"] == pytest.approx(1 / 62)
    assert fused["c"] == pytest.approx(1 / 63 + 1 / 61)


def test_rrf_orders_by_fused_score_and_weights_matter():
    ranked = [d for d, _ in reciprocal_rank_fusion([["x", "y"], ["y", "z"]], k=1)]
    assert ranked == ["y", "x", "z"]
    # With the first list weighted 3x, x (first in list 1) overtakes y.
    ranked = [d for d, _ in reciprocal_rank_fusion([["x", "y"], ["y", "z"]], weights=[3, 1], k=1)]
    assert ranked[0] == "x"
    # Zero weight removes a list's influence entirely.
    assert reciprocal_rank_fusion([["x"], ["z"]], weights=[0, 1], k=60)[0][0] == "z"


def test_rrf_rejects_bad_arguments():
    with pytest.raises(ValueError):
        reciprocal_rank_fusion([["a"]], weights=[1, 2])
    with pytest.raises(ValueError):
        reciprocal_rank_fusion([["a"]], k=0)
