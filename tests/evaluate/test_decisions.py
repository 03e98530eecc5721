"""Decisions from the evidence: every quality metric is read, and the power estimate has a known answer.

The results are built from fixed per-item scores, so which intervals exclude 0 is known by
construction.
"""

from __future__ import annotations

import numpy as np
import pytest

from ragtune.errors import DataError
from ragtune.evaluate.recommend import Recommendation, recommend
from ragtune.evaluate.results import ComparisonResults, ItemRecord
from ragtune.evaluate.stats import compare_pair, questions_to_decide, summarize

N = 40


def fixed(scores: dict[str, dict[str, np.ndarray]], primary: str = "token_f1", quick: bool = False,
          ) -> ComparisonResults:
    res = ComparisonResults.new("fixed", task="qa", config={"quick": True} if quick else {}, seed=0)
    res.primary_metric = primary
    for mode in scores:
        res.add_mode(mode)
    for mode, table in scores.items():
        n = len(next(iter(table.values())))
        for i in range(n):
            res.add_item(ItemRecord(item_id=f"q{i:03d}", mode=mode, question="q", references=["a"], prediction="p",
                                    scores={k: float(v[i]) for k, v in table.items()}))
    return summarize(res, n_resamples=500)


# F1 ties exactly (the same scores, in another order), answer recall separates: 0/40 against 10/40.
F1_A, F1_B = np.array([0.2, 0.1] * 20), np.array([0.1, 0.2] * 20)
RECALL_BASE, RECALL_RAG = np.zeros(N), np.array([1.0] * 10 + [0.0] * 30)


def test_recall_separates_while_f1_ties_and_the_recommendation_names_recall():
    res = fixed({"base": {"token_f1": F1_A, "answer_recall": RECALL_BASE},
                 "rag": {"token_f1": F1_B, "answer_recall": RECALL_RAG}})
    assert compare_pair(res, "rag", "base", "token_f1").decided is False
    rec = recommend(res)
    assert rec.choice == "rag"  # before, the F1 tie left "base: adding retrieval buys nothing measurable"
    assert "Answer recall separates them" in rec.reasons[0] and "excludes 0" in rec.reasons[0]
    assert [(d["a"], d["b"], d["metric"]) for d in rec.decided] == [("rag", "base", "answer_recall")]
    assert rec.decided[0]["diff"] == pytest.approx(0.25) and rec.decided[0]["lo"] > 0
    assert any(r.startswith("Decided at 95%") and "rag over base on Answer recall +25.0" in r for r in rec.reasons)
    assert Recommendation.from_dict(rec.to_dict()) == rec


def test_nothing_separates_gives_base_and_a_power_estimate():
    res = fixed({"base": {"token_f1": F1_A, "answer_recall": RECALL_BASE},
                 "rag": {"token_f1": F1_B, "answer_recall": RECALL_BASE}})
    rec = recommend(res)
    assert rec.choice == "base" and not rec.decided
    assert rec.undecided and rec.undecided[0]["metric"] == "token_f1"
    assert any(r.startswith("Not decided") and "not decided at n=40" in r for r in rec.reasons)


def test_semantic_similarity_does_not_outvote_a_separating_metric():
    # The FAQ run: base is ahead on semantic similarity (clearly, even), rag on F1 with the interval apart.
    rng = np.random.default_rng(3)
    res = fixed({"base": {"token_f1": 0.175 + rng.normal(0, 0.05, N), "semantic_similarity": np.full(N, 0.571)},
                 "rag": {"token_f1": 0.273 + rng.normal(0, 0.05, N), "semantic_similarity": np.full(N, 0.534)}},
                primary="semantic_similarity")
    assert compare_pair(res, "base", "rag", "semantic_similarity").sign == 1
    rec = recommend(res)
    assert rec.choice == "rag"
    assert "F1 separates them" in rec.reasons[0]
    assert "semantic similarity rewards fluent wrong answers" in rec.reasons[0]
    assert [d["metric"] for d in rec.decided] == ["token_f1"]


def test_a_quick_run_says_it_is_not_for_decisions():
    rec = recommend(fixed({"base": {"token_f1": F1_A}, "rag": {"token_f1": F1_B}}, quick=True))
    assert "quick" in rec.rules and "not for decisions" in rec.reasons[-1]
    assert not any("not for decisions" in r for r in recommend(fixed({"base": {"token_f1": F1_A}})).reasons)


def test_power_estimate_closed_form():
    # ((1.959964 + 0.841621) * 0.5 / 0.1) ** 2 = 196.2 -> 197 questions; the sign does not matter
    assert questions_to_decide(0.1, 0.5) == 197 == questions_to_decide(-0.1, 0.5)
    assert questions_to_decide(0.05, 0.5) == 785  # half the difference: four times the questions
    assert questions_to_decide(0.0, 0.5) is None
    with pytest.raises(DataError, match="between 0 and 1"):
        questions_to_decide(0.1, 0.5, power=1.5)



def test_power_estimate_in_words_calls_a_vanishing_difference_a_tie():
    from ragtune.evaluate.stats import needed_words

    assert needed_words(197) == "about 197 questions would decide a difference of this size"
    assert needed_words(100_000, "new facts") == "about 100,000 new facts would decide a difference of this size"
    # the knowledge example's raft vs rag at +0.1 F1 (2026-12-07): 1,941,123 questions, said as a number
    words = needed_words(questions_to_decide(0.001, 0.39))
    assert words.startswith("more than 100,000 questions") and "tie in practice" in words

def test_power_estimate_from_a_synthetic_paired_sample_with_a_known_answer():
    # Paired differences with mean exactly 0.1 and sd exactly 0.5 (standardised draws): the answer is 197.
    rng = np.random.default_rng(0)
    z = rng.normal(size=N)
    d = 0.1 + 0.5 * (z - z.mean()) / z.std(ddof=1)
    base = np.full(N, 0.5)
    res = fixed({"rag": {"token_f1": base + d}, "base": {"token_f1": base}})
    c = compare_pair(res, "rag", "base", "token_f1")
    assert c.diff.value == pytest.approx(0.1) and c.diff.n == N and not c.decided
    assert c.needed == 197
    # And the number means what it says: at 197 questions about 80% of samples decide the difference.
    draws = rng.normal(0.1, 0.5, size=(2000, c.needed))
    half = 1.959964 * draws.std(axis=1, ddof=1) / np.sqrt(c.needed)
    assert np.mean(draws.mean(axis=1) - half > 0) == pytest.approx(0.80, abs=0.03)
