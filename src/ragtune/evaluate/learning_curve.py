"""The learning curve: how the fine-tuned contenders' accuracy grows with their labelled training data.

"Fine-tuning needs a lot of high-quality, task-specific data": the ft and raft contenders are
trained again on nested shares of the training questions (12.5%, 25%, 50% by default; 100% is
the main comparison's own model and answers, reused), one seed, each smaller set contained in
the larger, and every point is scored on the same held-out test questions. ``ft+rag`` answers
with each ft model. RAG needs no labelled data: rag and base are flat lines (their main
scores). Each point carries its paired difference to rag on the same questions, so the report
can say where, if anywhere, fine-tuning catches up.

    >>> [len(s) for s in nested_subsets(list(range(8)), [0.25, 0.5, 1.0], seed=0).values()]
    [2, 4, 8]
"""

from __future__ import annotations

import math
import random
from dataclasses import asdict
from typing import TYPE_CHECKING, Any, TypeVar

from ragtune.evaluate.datasets import Question
from ragtune.evaluate.reanswer import answer_again, main_scores, paired_diff, score_metric, scores_of
from ragtune.evaluate.results import Estimate
from ragtune.evaluate.training import ft_contender, raft_contender

if TYPE_CHECKING:
    from ragtune.evaluate.qa import QARunner

T = TypeVar("T")
TRAINED = {"ft": "ft", "ft+rag": "ft", "raft": "raft"}  # curve mode -> the contender it is trained as


def nested_subsets(items: list[T], fractions: list[float], seed: int) -> dict[float, list[T]]:
    """One seeded order of ``items``; each fraction takes its first ``ceil(f * n)`` (at least one).

    Every smaller subset is a prefix of every larger one, so the curve adds data and changes
    nothing else; the same seed gives the same subsets.
    """
    order = list(items)
    random.Random(seed).shuffle(order)
    return {f: order[:max(1, math.ceil(f * len(order)))] for f in sorted(fractions)}


def point(mode: str, fraction: float, n_train: int, scores: list[float], rag: list[float] | None,
          smallest: list[float], seed: int) -> dict[str, Any]:
    """One point of the curve: its score, its paired difference to rag (when rag answered the same
    questions) and to the same mode at the smallest share (what the added data bought)."""
    out: dict[str, Any] = {"mode": mode, "fraction": fraction, "n_train": n_train,
                           "score": asdict(Estimate.of(scores, seed=seed)),
                           "vs_smallest": asdict(paired_diff(scores, smallest, seed))}
    if rag is not None:
        out["vs_rag"] = asdict(paired_diff(scores, rag, seed))
    return out


class LearningCurve:
    """Runs on the QA runner's settings, workspace and results, after its main comparison."""

    def __init__(self, qa: QARunner):
        self.qa, self.exp = qa, qa.exp
        self.cfg = qa.exp.learning_curve

    def modes(self) -> list[str]:
        return [m for m in self.cfg.modes if m in self.exp.modes]

    def run(self, test: list[Question], trained: dict[str, Any]) -> dict[str, Any] | None:
        qa, exp = self.qa, self.exp
        modes = self.modes()
        if not (self.cfg.enabled and modes and qa.split.train):
            return None
        metric = score_metric(qa.res.primary_metric)
        rag = main_scores(qa, "rag", test, metric) if "rag" in exp.modes else None
        flat = {m: asdict(Estimate.of(s, seed=exp.seed)) for m in ("base", "rag")
                if m in exp.modes and (s := main_scores(qa, m, test, metric)) is not None}
        subsets = nested_subsets(qa.split.train, self.cfg.fractions, exp.seed)
        points = []
        smallest: dict[str, list[float]] = {}
        for fraction, subset in subsets.items():
            models = self.models(fraction, subset, trained, {TRAINED[m] for m in modes})
            for m in modes:
                if fraction >= 1.0 and (s := main_scores(qa, m, test, metric)) is not None:
                    scores = s  # the main comparison's own model and answers
                else:
                    scores = scores_of(answer_again(qa, f"curve-{_pct(fraction)}", m, test, models), test, metric)
                smallest.setdefault(m, scores)
                points.append(point(m, fraction, len(subset), scores, rag, smallest[m], exp.seed))
        qa.notes.append(f"learning curve: {', '.join(modes)} retrained on {len(subsets)} nested shares of the "
                        f"{len(qa.split.train)} training questions ({', '.join(_pct(f) + '%' for f in subsets)})")
        return {"metric": metric, "n_test": len(test), "n_train_full": len(qa.split.train),
                "fractions": list(subsets), "flat": flat, "points": points}

    def models(self, fraction: float, subset: list[Question], trained: dict[str, Any],
               needed: set[str]) -> dict[str, Any]:
        """The contenders trained on ``subset`` (at 100%: the main comparison's own)."""
        qa, exp = self.qa, self.exp
        if fraction >= 1.0 and all(c in trained for c in needed):
            return trained
        out: dict[str, Any] = {}
        tag = _pct(fraction).replace(".", "_")
        if "ft" in needed:
            out["ft"] = qa.train(ft_contender(f"ft-curve{tag}", subset, exp.train.config("ft", exp.seed),
                                              "docs" if exp.train.cpt_docs else None))
        if "raft" in needed:
            out["raft"] = qa.train(raft_contender(qa.s, f"raft-curve{tag}", subset,
                                                  exp.train.config("raft", exp.seed), "docs",
                                                  k=exp.train.raft_distractors, p_drop=exp.train.raft_drop_oracle))
        return out


def _pct(fraction: float) -> str:
    return f"{100 * fraction:g}"
