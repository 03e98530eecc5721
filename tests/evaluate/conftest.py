"""Synthetic comparison results with known structure, for the report and recommendation tests.

Each mode answers item ``i`` correctly when a shared per-item draw ``u[i]`` is below the
mode's rate, so a mode with a higher rate is right on a superset of items: paired
differences are then exact and the intended winner is unambiguous.
"""

from __future__ import annotations

import numpy as np
import pytest

from ragtune.evaluate import metrics as M
from ragtune.evaluate.results import (
    ComparisonResults,
    Estimate,
    FreshnessResult,
    ItemCitation,
    ItemRecord,
    RetrievalQuality,
    RetrievedChunk,
)
from ragtune.evaluate.stats import summarize

QA_FAMILY_SETUP = {"base": None, "rag": 12.0, "fine-tuning": 340.0, "both": 355.0}


def build_qa(rates: dict[str, float], n: int = 60, seed: int = 0, setup: dict[str, float] | None = None,
             freshness: dict[str, tuple[float, float]] | None = None,
             hostile: bool = False) -> ComparisonResults:
    """QA results: ``rates`` maps mode -> share right; ``freshness`` maps mode -> (new_before, new_after)."""
    res = ComparisonResults.new("synthetic-qa", task="qa", config={"n": n}, seed=seed)
    rng = np.random.default_rng(seed)
    u = rng.random(n)
    for mode in rates:
        res.add_mode(mode, model="tiny", kb="kb" if "rag" in mode or mode == "raft" else None)
    for i in range(n):
        gold = f"answer {i}"
        question = f"What is fact number {i}?"
        if hostile and i == 0:
            question = "What does <script>alert('q')</script> do? See http://evil.example/x"
        for mode, rate in rates.items():
            right = u[i] < rate
            prediction = f"It is {gold} [1]." if right else "I do not know."
            if hostile and i == 0:
                prediction = "<script>alert('x')</script> & https://cdn.example.com/lib.js"
            uses_context = res.mode(mode).family in ("rag", "both")
            chunks = [RetrievedChunk(f"c{i}", f"Fact {i}: the {gold} is kept here.", 0.9, f"d{i}",
                                     f"doc{i}.md"),
                      RetrievedChunk(f"x{i}", "An unrelated passage.", 0.4, f"x{i}", "other.md")]
            context = [c.text for c in chunks] if uses_context else None
            scores = M.qa_scores(prediction, [gold], context_texts=context,
                                 cited_texts=[chunks[0].text] if uses_context else None,
                                 answer_without_context="I do not know." if uses_context else None)
            res.add_item(ItemRecord(
                item_id=f"q{i:03d}", mode=mode, question=question, references=[gold], prediction=prediction,
                prompt=f"Context: ...\nQuestion: {question}", gold_ids=[f"d{i}"],
                retrieved=chunks if uses_context else [],
                citations=([ItemCitation(1, chunks[0].chunk_id, chunks[0].source, chunks[0].text)]
                           if uses_context else []),
                scores=scores, latency_ms=float(200 + 300 * uses_context + rng.integers(0, 100)),
                tokens={"prompt": 300 if uses_context else 40, "completion": 12}))
    setup = setup if setup is not None else {}
    for mode in rates:
        fam = res.mode(mode).family
        s = setup.get(mode, QA_FAMILY_SETUP[fam])
        res.set_costs(mode, setup_s=s, base_model_bytes=90_000_000,
                      adapter_bytes=3_500_000 if fam in ("fine-tuning", "both") else None,
                      index_bytes=2_000_000 if fam in ("rag", "both") else None,
                      peak_memory_mb=700.0, tokens_per_s=110.0)
    if freshness:
        for mode, (before, after) in freshness.items():
            fam = res.mode(mode).family
            res.add_freshness(FreshnessResult(
                mode=mode, n=40, new_before=Estimate(before, max(0, before - 0.1), min(1, before + 0.1), 40),
                new_after=Estimate(after, max(0, after - 0.1), min(1, after + 0.1), 40),
                old_after=Estimate(1 - after, max(0, 0.9 - after), min(1, 1.1 - after), 40),
                update_s=1.5 if fam in ("rag", "both") else None,
                retrain_s=300.0 if fam == "fine-tuning" else None,
                new_after_retrain=Estimate(0.7, 0.55, 0.85, 40) if fam == "fine-tuning" else None))
    rankings = [[f"d{i}", f"x{i}"] if u[i] < 0.8 else [f"x{i}", f"d{i}"] for i in range(n)]
    res.add_retrieval(RetrievalQuality.from_rankings("hybrid", rankings, [[f"d{i}"] for i in range(n)]))
    return summarize(res, n_resamples=300)


LABELS = ["negative", "neutral", "positive"]


def build_cls(rates: dict[str, float], n: int = 90, seed: int = 0, invalid: bool = True) -> ComparisonResults:
    """Classification results over three labels; wrong answers take the next label in the cycle."""
    res = ComparisonResults.new("synthetic-cls", task="classification", config={"labels": LABELS}, seed=seed)
    rng = np.random.default_rng(seed)
    u = rng.random(n)
    for mode in rates:
        res.add_mode(mode)
    for i in range(n):
        true = LABELS[i % 3]
        for mode, rate in rates.items():
            pred = true if u[i] < rate else LABELS[(i + 1) % 3]
            if invalid and mode == "zero-shot" and i == 1:
                pred = "(invalid)"
            res.add_item(ItemRecord(item_id=f"t{i:03d}", mode=mode, question=f"tweet {i} <b>bold</b>",
                                    references=[true], prediction=pred,
                                    scores={"correct": float(pred == true)},
                                    latency_ms=float(30 + rng.integers(0, 20))))
    for mode in rates:
        fam = res.mode(mode).family
        res.set_costs(mode, setup_s={"base": None, "rag": 5.0, "fine-tuning": 120.0}.get(fam),
                      adapter_bytes=2_000_000 if fam == "fine-tuning" else None,
                      index_bytes=1_000_000 if fam == "rag" else None)
    return summarize(res, n_resamples=300)


@pytest.fixture
def make_qa():
    """The QA builder, for tests that need results with chosen rates."""
    return build_qa


@pytest.fixture
def make_cls():
    """The classification builder."""
    return build_cls


@pytest.fixture
def qa_results() -> ComparisonResults:
    return build_qa({"base": 0.05, "rag": 0.5, "rag/top1": 0.55, "ft": 0.15, "ft+rag": 0.5},
                    freshness={"rag": (0.1, 0.85), "ft": (0.1, 0.12)}, hostile=True)


@pytest.fixture
def cls_results() -> ComparisonResults:
    return build_cls({"zero-shot": 0.4, "rag": 0.6, "ft": 0.85})
