"""Claim verdicts have three outcomes: supported, contradicted, and not decided at this size (with N)."""

from __future__ import annotations

import re

import numpy as np

from ragtune.evaluate.report.claims import CONTRADICTED, NOT_DECIDED, SUPPORTED, knowledge_source, task_performance
from ragtune.evaluate.results import ComparisonResults, ItemRecord
from ragtune.evaluate.stats import summarize


def fixed(f1: dict[str, np.ndarray]) -> ComparisonResults:
    res = ComparisonResults.new("fixed", task="qa", config={}, seed=0)
    for mode in f1:
        res.add_mode(mode)
    for mode, scores in f1.items():
        for i, v in enumerate(scores):
            res.add_item(ItemRecord(item_id=f"q{i:03d}", mode=mode, question="q", references=["a"], prediction="p",
                                    scores={"token_f1": float(v)}))
    return summarize(res, n_resamples=500)


def noisy(mean: float, n: int, seed: int) -> np.ndarray:
    return np.clip(mean + np.random.default_rng(seed).normal(0, 0.25, n), 0, 1)


def test_an_interval_including_zero_at_small_n_is_not_decided_with_a_size():
    # 16 questions, a 3-point difference with a 35-point sd: nothing can tell at this size.
    res = fixed({"base": noisy(0.30, 16, 1), "rag": noisy(0.33, 16, 2), "ft": noisy(0.31, 16, 3)})
    claim = knowledge_source(res)
    assert claim.verdict == NOT_DECIDED  # before: "not supported", as if the data spoke against the claim
    text = " ".join(claim.evidence)
    assert "not decided at n=16" in text
    needed = [int(n.replace(",", "")) for n in re.findall(r"about ([\d,]+) questions would decide", text)]
    assert needed and all(n > 16 for n in needed)
    perf = task_performance(res)
    assert perf.verdict == NOT_DECIDED and "questions would decide" in " ".join(perf.evidence)


def test_a_reversed_interval_is_contradicted():
    # rag is clearly better than fine-tuning: "fine-tuning adapts the model to the task" is contradicted here.
    res = fixed({"base": np.full(40, 0.1), "rag": np.full(40, 0.6), "ft": np.array([0.1, 0.2] * 20)})
    assert task_performance(res).verdict == CONTRADICTED
    # and training that makes answers worse than the base model contradicts "knowledge in the weights"
    res = fixed({"base": np.full(40, 0.5), "rag": np.full(40, 0.7), "ft": np.array([0.1, 0.2] * 20)})
    claim = knowledge_source(res)
    assert claim.verdict == CONTRADICTED and any("measurably worse" in e for e in claim.evidence)


def test_clear_gains_on_both_sides_support_the_knowledge_claim():
    res = fixed({"base": np.full(40, 0.1), "rag": np.array([0.6, 0.7] * 20), "ft": np.array([0.4, 0.5] * 20)})
    assert knowledge_source(res).verdict == SUPPORTED
    assert task_performance(res).verdict == CONTRADICTED  # rag beats ft clearly
